package config

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPrintMasksSecrets(t *testing.T) {
	const file = `
server:
  admin_token: tok-SECRET-1
storage:
  driver: postgres
  dsn: postgres://bantin:pw-SECRET-2@db.example.vn:5432/bantin?sslmode=require
mail:
  smtp:
    username: bantin
    password: pw-SECRET-3
`
	cfg, err := loadString(t, file, nil)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	var buf bytes.Buffer
	if err := cfg.Print(&buf); err != nil {
		t.Fatalf("Print() error = %v", err)
	}
	out := buf.String()
	if strings.Contains(out, "SECRET") {
		t.Errorf("Print() shows a secret:\n%s", out)
	}
	for _, want := range []string{
		"admin_token: '********'",
		"password: '********'",
		"dsn: postgres://bantin:********@db.example.vn:5432/bantin?sslmode=require",
		"username: bantin",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("Print() output lacks %q:\n%s", want, out)
		}
	}
	if cfg.Server.AdminToken != "tok-SECRET-1" || cfg.Mail.SMTP.Password != "pw-SECRET-3" {
		t.Errorf("Print() changed the config itself")
	}

	// The dump is a config file that loads to the same config, secrets
	// aside.
	back, err := loadString(t, out, nil)
	if err != nil {
		t.Fatalf("loading the printed config: %v\n%s", err, out)
	}
	want := cfg.Masked()
	want.Path = back.Path
	if diff := cmp.Diff(want, back); diff != "" {
		t.Errorf("printed config loads differently (-want +got):\n%s", diff)
	}
}

// TestPrintMasksSSLPassword: config check --print showed the sslpassword
// of a DSN (it unlocks the client's TLS key), in both DSN forms.
func TestPrintMasksSSLPassword(t *testing.T) {
	loaded, err := loadString(t, `
storage:
  driver: postgres
  dsn: postgres://bantin@db.example.vn/bantin?sslmode=verify-full&sslpassword=ssl-SECRET-1&sslkey=/etc/bantin/client.key
`, nil)
	if err != nil {
		t.Fatalf("Load() error = %v", err)
	}
	// The driver check takes URLs only, but the masking is for any DSN.
	keyValue := Default()
	keyValue.Storage.DSN = "host=db.example.vn sslpassword=ssl-SECRET-1 password=pw-SECRET-2 dbname=bantin"
	for _, cfg := range []*Config{loaded, keyValue} {
		var buf bytes.Buffer
		if err := cfg.Print(&buf); err != nil {
			t.Fatalf("Print() error = %v", err)
		}
		if out := buf.String(); strings.Contains(out, "SECRET") || !strings.Contains(out, "sslpassword="+Mask) {
			t.Errorf("Print() of %s shows a secret or no mask:\n%s", cfg.Storage.DSN, out)
		}
	}
}

func TestPrintEmptySecretsStayEmpty(t *testing.T) {
	var buf bytes.Buffer
	if err := Default().Print(&buf); err != nil {
		t.Fatalf("Print() error = %v", err)
	}
	out := buf.String()
	if strings.Contains(out, Mask) {
		t.Errorf("Print() masks unset secrets:\n%s", out)
	}
	for _, want := range []string{`admin_token: ""`, `password: ""`, "dsn: data/bantin.db", "confirm_ttl: 168h"} {
		if !strings.Contains(out, want) {
			t.Errorf("Print() output lacks %q:\n%s", want, out)
		}
	}
}

func TestMaskDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"data/bantin.db", "data/bantin.db"},
		{"file:data/bantin.db?_pragma=busy_timeout(5000)", "file:data/bantin.db?_pragma=busy_timeout(5000)"},
		{"postgres://u:p@h/db", "postgres://u:********@h/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=p&sslmode=disable", "postgres://h/db?password=********&sslmode=disable"},
		{"host=db user=u password=p dbname=bantin", "host=db user=u password=******** dbname=bantin"},
		{"host=db password='a b\\' c' dbname=bantin", "host=db password=******** dbname=bantin"},
		// sslpassword unlocks the client key: as secret as the password.
		{"postgres://u:p@h/db?sslmode=verify-full&sslpassword=k&sslkey=/etc/k.pem",
			"postgres://u:********@h/db?sslmode=verify-full&sslpassword=********&sslkey=/etc/k.pem"},
		{"postgres://h/db?SSLPassword=k", "postgres://h/db?SSLPassword=********"},
		{"postgres://h/db?ssl%70assword=k&password=p#x", "postgres://h/db?ssl%70assword=********&password=********#x"},
		{"postgres:///db?host=/run/postgresql&password=p", "postgres:///db?host=/run/postgresql&password=********"},
		{"host=db sslpassword=k password=p dbname=bantin", "host=db sslpassword=******** password=******** dbname=bantin"},
		{"host=db sslpassword = 'k k' dbname=bantin", "host=db sslpassword = ******** dbname=bantin"},
		{"host=db passfile=/etc/pgpass dbname=bantin", "host=db passfile=/etc/pgpass dbname=bantin"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := maskDSN(tt.in); got != tt.want {
				t.Errorf("maskDSN(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"168h", "168h"},
		{"30m", "30m"},
		{"90m", "1h30m"},
		{"1h0m30s", "1h0m30s"},
		{"45s", "45s"},
		{"0s", "0s"},
		{"1500ms", "1.5s"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			d, err := time.ParseDuration(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := formatDuration(d); got != tt.want {
				t.Errorf("formatDuration(%s) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
