package mail

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// testKey is a DKIM key made for one test and the TXT record publishing it.
type testKey struct {
	name   string
	signer crypto.Signer
	txt    string
}

func testKeys(t testing.TB) []testKey {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return []testKey{
		{"rsa-2048", rsaKey, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub)},
		{"ed25519", edKey, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)},
	}
}

// verify checks raw's DKIM signatures against the TXT record txt, published
// at sel._domainkey.example.vn only.
func verify(t *testing.T, raw []byte, txt string) []*dkim.Verification {
	t.Helper()
	lookup := func(domain string) ([]string, error) {
		if domain != "sel._domainkey.example.vn" {
			t.Errorf("DKIM lookup of %q, want sel._domainkey.example.vn", domain)
			return nil, os.ErrNotExist
		}
		return []string{txt}, nil
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{LookupTXT: lookup})
	if err != nil {
		t.Fatalf("dkim.Verify: %v", err)
	}
	return verifs
}

// checkVerified fails unless raw carries exactly one valid signature of
// example.vn covering the list headers, with From oversigned.
func checkVerified(t *testing.T, raw []byte, txt string) {
	t.Helper()
	verifs := verify(t, raw, txt)
	if len(verifs) != 1 {
		t.Fatalf("%d signatures, want 1", len(verifs))
	}
	v := verifs[0]
	if v.Err != nil {
		t.Fatalf("signature does not verify: %v\n%s", v.Err, raw)
	}
	if v.Domain != "example.vn" {
		t.Errorf("d= %q, want example.vn", v.Domain)
	}
	got := strings.ToLower(strings.Join(v.HeaderKeys, ":"))
	want := "from:to:subject:date:message-id:mime-version:content-type:reply-to:list-id:list-unsubscribe:list-unsubscribe-post:from"
	if got != want {
		t.Errorf("h= %s, want %s", got, want)
	}
	// The raw tag too, unfolded: each name must survive folding whole.
	sig := string(raw[:bytes.Index(raw, []byte("\r\n\r\n"))])
	sig = strings.NewReplacer("\r\n ", "", "\r\n\t", "", " ", "").Replace(sig)
	for _, name := range []string{"List-Unsubscribe", "List-Unsubscribe-Post"} {
		if !slices.ContainsFunc(strings.Split(tagValue(sig, "h"), ":"), func(s string) bool { return strings.EqualFold(s, name) }) {
			t.Errorf("h= tag %q lacks %s", tagValue(sig, "h"), name)
		}
	}
}

// tagValue returns the value of tag in the first DKIM-Signature of header
// (unfolded, without spaces).
func tagValue(header, tag string) string {
	_, sig, _ := strings.Cut(header, "DKIM-Signature:")
	sig, _, _ = strings.Cut(sig, "\r\n")
	for kv := range strings.SplitSeq(sig, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok && k == tag {
			return v
		}
	}
	return ""
}

func TestDKIMSign(t *testing.T) {
	for _, k := range testKeys(t) {
		t.Run(k.name, func(t *testing.T) {
			d := &DKIM{Domain: "example.vn", Selector: "sel", Signer: k.signer}
			raw, err := Render(vietnamese("a@example.com"), time.UTC)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := d.Sign(raw)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(signed, []byte("DKIM-Signature: ")) || !bytes.HasSuffix(signed, raw) {
				t.Fatalf("signed message is not a DKIM-Signature followed by the original:\n%s", signed)
			}
			checkVerified(t, signed, k.txt)
			checkMessage(t, signed, "a@example.com", time.UTC)
			header := string(signed[:bytes.Index(signed, []byte("\r\n\r\n"))])
			unfolded := strings.NewReplacer("\r\n ", "", "\r\n\t", "", " ", "").Replace(header)
			for _, tag := range []struct{ name, want string }{
				{"c", "relaxed/relaxed"},
				{"s", "sel"},
				{"a", map[string]string{"rsa-2048": "rsa-sha256", "ed25519": "ed25519-sha256"}[k.name]},
			} {
				if got := tagValue(unfolded, tag.name); got != tag.want {
					t.Errorf("%s= %q, want %q", tag.name, got, tag.want)
				}
			}

			bodyAt := bytes.Index(signed, []byte("\r\n\r\n"))
			tamper := []struct {
				name string
				edit func([]byte) []byte
			}{
				{"body", func(b []byte) []byte {
					i := bytes.LastIndex(b, []byte("Xin ch"))
					if i < bodyAt {
						t.Fatal("no body text to change")
					}
					b[i] = 'K'
					return b
				}},
				{"List-Unsubscribe", func(b []byte) []byte {
					return bytes.Replace(b, []byte("unsubscribe/abc123"), []byte("unsubscribe/evil99"), 1)
				}},
				{"second From", func(b []byte) []byte {
					return append([]byte("From: attacker@example.com\r\n"), b...)
				}},
			}
			for _, tt := range tamper {
				t.Run(tt.name, func(t *testing.T) {
					changed := tt.edit(bytes.Clone(signed))
					if bytes.Equal(changed, signed) {
						t.Fatal("edit changed nothing")
					}
					verifs := verify(t, changed, k.txt)
					if len(verifs) != 1 || verifs[0].Err == nil {
						t.Errorf("tampered message still verifies")
					}
				})
			}
		})
	}
}

func TestDKIMSignNoFrom(t *testing.T) {
	d := &DKIM{Domain: "example.vn", Selector: "sel", Signer: testKeys(t)[1].signer}
	if _, err := d.Sign([]byte("To: a@example.com\r\nSubject: x\r\n\r\nbody\r\n")); err == nil {
		t.Error("signed a message without From")
	}
}

func TestDKIMTransports(t *testing.T) {
	for _, k := range testKeys(t) {
		d := &DKIM{Domain: "example.vn", Selector: "sel", Signer: k.signer}
		t.Run(k.name+"/smtp", func(t *testing.T) {
			ts := newTestServer(t)
			st := newSMTP(t, ts, func(o *SMTPOptions) { o.DKIM = d })
			results := st.Send(context.Background(), []Message{vietnamese("a@example.com"), vietnamese("b@example.com")})
			for i, r := range results {
				if r.Status != Sent {
					t.Fatalf("result %d = %+v, want Sent", i, r)
				}
			}
			got := ts.messages()
			if len(got) != 2 {
				t.Fatalf("server received %d messages, want 2", len(got))
			}
			for i, want := range []string{"a@example.com", "b@example.com"} {
				if got[i].from != "news@example.vn" || got[i].to != want {
					t.Errorf("envelope = %s -> %s, want news@example.vn -> %s", got[i].from, got[i].to, want)
				}
				checkVerified(t, got[i].data, k.txt)
				checkMessage(t, got[i].data, want, time.UTC)
			}
			if sessions, _ := ts.counts(); sessions != 1 {
				t.Errorf("sessions = %d, want 1 (signed messages reuse the session)", sessions)
			}
		})
		t.Run(k.name+"/file", func(t *testing.T) {
			dir := t.TempDir()
			ft, err := NewFileTransport(dir, time.UTC, nil)
			if err != nil {
				t.Fatal(err)
			}
			ft.DKIM = d
			if r := ft.Send(context.Background(), []Message{vietnamese("a@example.com")}); r[0].Status != Sent {
				t.Fatalf("result = %+v, want Sent", r[0])
			}
			files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
			if err != nil || len(files) != 1 {
				t.Fatalf("files = %v (%v), want 1", files, err)
			}
			raw, err := os.ReadFile(files[0])
			if err != nil {
				t.Fatal(err)
			}
			checkVerified(t, raw, k.txt)
			checkMessage(t, raw, "a@example.com", time.UTC)
		})
	}
}

func TestLoadDKIM(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	pemFile := func(name, typ string, der []byte) string {
		return write(name, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
	}
	keys := testKeys(t)
	rsaKey := keys[0].signer.(*rsa.PrivateKey)
	rsaPKCS8, err := x509.MarshalPKCS8PrivateKey(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	edPKCS8, err := x509.MarshalPKCS8PrivateKey(keys[1].signer)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPKCS8, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	// A 512-bit key, too short to sign with; Go makes one only when told.
	t.Setenv("GODEBUG", "rsa1024min=0")
	smallKey, err := rsa.GenerateKey(rand.Reader, 512)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("GODEBUG", "")

	tests := []struct {
		name    string
		file    string
		wantKey string   // "rsa", "ed25519" or "" for an error
		wantErr []string // substrings of the error
	}{
		{"rsa pkcs1", pemFile("pkcs1.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey)), "rsa", nil},
		{"rsa pkcs8", pemFile("rsa8.pem", "PRIVATE KEY", rsaPKCS8), "rsa", nil},
		{"ed25519 pkcs8", pemFile("ed.pem", "PRIVATE KEY", edPKCS8), "ed25519", nil},
		{"missing", filepath.Join(dir, "nope.pem"), "", []string{"mail.dkim.key_file", "nope.pem", "no such file", "check the path"}},
		{"not pem", write("key.txt", []byte("not a key\n")), "", []string{"mail.dkim.key_file", "key.txt", "not a PEM file", "openssl genpkey"}},
		{"public key", pemFile("pub.pem", "PUBLIC KEY", rsaPub), "", []string{"pub.pem", `"PUBLIC KEY", not a private key`}},
		{"ecdsa", pemFile("ec.pem", "PRIVATE KEY", ecPKCS8), "", []string{"ec.pem", "not an RSA or Ed25519 key"}},
		{"garbage der", pemFile("bad.pem", "PRIVATE KEY", []byte("junk")), "", []string{"bad.pem", "parse PRIVATE KEY"}},
		{"rsa 512", pemFile("small.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(smallKey)), "", []string{"small.pem", "512"}},
		{"encrypted", pemFile("enc.pem", "ENCRYPTED PRIVATE KEY", []byte("junk")), "", []string{"enc.pem", "encrypted"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := LoadDKIM("example.vn", "sel", tt.file)
			if tt.wantKey == "" {
				if err == nil {
					t.Fatalf("LoadDKIM(%s) = %T, want an error", tt.file, d.Signer)
				}
				for _, want := range tt.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadDKIM(%s): %v", tt.file, err)
			}
			got := "other"
			switch d.Signer.(type) {
			case *rsa.PrivateKey:
				got = "rsa"
			case ed25519.PrivateKey:
				got = "ed25519"
			}
			if got != tt.wantKey || d.Domain != "example.vn" || d.Selector != "sel" {
				t.Errorf("LoadDKIM = %s %s/%s, want %s example.vn/sel", got, d.Domain, d.Selector, tt.wantKey)
			}
		})
	}
	for _, tt := range []struct{ domain, selector, file, want string }{
		{"", "sel", "k.pem", "mail.dkim.domain"},
		{"example.vn", "", "k.pem", "mail.dkim.selector"},
		{"example.vn", "sel", "", "mail.dkim.key_file"},
	} {
		if _, err := LoadDKIM(tt.domain, tt.selector, tt.file); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("LoadDKIM(%q, %q, %q) = %v, want an error naming %s", tt.domain, tt.selector, tt.file, err, tt.want)
		}
	}
}
