package config

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLoadValidation checks one bad value at a time: want is the whole
// error, FILE standing for the file's path.
func TestLoadValidation(t *testing.T) {
	const nl = "newsletters:\n  - id: daily\n    schedule: \"0 6 * * *\"\n"
	tests := []struct {
		name string
		file string
		want string
	}{
		{
			name: "bad site timezone",
			file: "site:\n  timezone: Mars/Olympus\n",
			want: `FILE:2: site.timezone: unknown time zone "Mars/Olympus"; write an IANA time zone name, such as Asia/Ho_Chi_Minh or UTC`,
		},
		{
			name: "Local is no fixed timezone",
			file: "site:\n  timezone: Local\n",
			want: `FILE:2: site.timezone: "Local" names no fixed time zone; write an IANA time zone name, such as Asia/Ho_Chi_Minh or UTC`,
		},
		{
			name: "bad newsletter timezone",
			file: nl + "    timezone: Asia/Hanoi\n",
			want: `FILE:4: newsletters[0].timezone: unknown time zone "Asia/Hanoi"; write an IANA time zone name, such as Asia/Ho_Chi_Minh or UTC`,
		},
		{
			name: "bad from address",
			file: "mail:\n  from: news at example.vn\n",
			want: `FILE:2: mail.from: "news at example.vn" is not a valid email address (no angle-addr); write an address such as news@example.vn or "Bản tin <news@example.vn>"`,
		},
		{
			name: "bad reply_to address",
			file: "mail:\n  reply_to: \"Bản tin <news@>\"\n",
			want: `FILE:2: mail.reply_to: "Bản tin <news@>" is not a valid email address (invalid string); write an address such as news@example.vn or "Bản tin <news@example.vn>"`,
		},
		{
			name: "bad cron",
			file: "newsletters:\n  - id: daily\n    schedule: \"0 25 * * *\"\n",
			want: `FILE:3: newsletters[0].schedule: "0 25 * * *" is not a valid cron expression (end of range (25) above maximum (23): 25); write 5 cron fields: minute hour day-of-month month day-of-week, such as "0 6 * * *" for 06:00 every day`,
		},
		{
			name: "cron with too few fields",
			file: "newsletters:\n  - id: daily\n    schedule: \"6 * *\"\n",
			want: `FILE:3: newsletters[0].schedule: "6 * *" is not a valid cron expression (expected exactly 5 fields, found 3: [6 * *]); write 5 cron fields: minute hour day-of-month month day-of-week, such as "0 6 * * *" for 06:00 every day`,
		},
		{
			name: "cron with its own time zone",
			file: "newsletters:\n  - id: daily\n    schedule: \"CRON_TZ=UTC 0 6 * * *\"\n",
			want: `FILE:3: newsletters[0].schedule: "CRON_TZ=UTC 0 6 * * *" carries its own time zone; remove the TZ= prefix and set the newsletter's timezone key instead`,
		},
		{
			name: "missing schedule",
			file: "newsletters:\n  - id: daily\n",
			want: `FILE:2: newsletters[0].schedule: is missing; write 5 cron fields: minute hour day-of-month month day-of-week, such as "0 6 * * *" for 06:00 every day`,
		},
		{
			name: "duplicate newsletter id",
			file: nl + "  - id: daily\n    schedule: \"0 18 * * *\"\n",
			want: `FILE:4: newsletters[1].id: "daily" is also the id of newsletters[0]; give each newsletter its own id`,
		},
		{
			name: "newsletter without id",
			file: "newsletters:\n  - title: Bản tin sáng\n    schedule: \"0 6 * * *\"\n",
			want: `FILE:2: newsletters[0].id: is missing; give the list an id such as "ban-tin-sang"`,
		},
		{
			name: "newsletter id not a slug",
			file: "newsletters:\n  - id: Bản tin\n    schedule: \"0 6 * * *\"\n",
			want: `FILE:2: newsletters[0].id: "Bản tin" is not a valid list id; use lower-case letters, digits and '-', starting with a letter or digit, such as "ban-tin-sang"`,
		},
		{
			name: "bad subject template",
			file: nl + "    subject: \"{{.List.Title\"\n",
			want: `FILE:4: newsletters[0].subject: is not a valid template: 1: unclosed action; write a Go template such as "{{.List.Title}} — {{.Date}}"; every {{ needs a matching }}`,
		},
		{
			name: "zero max_articles",
			file: nl + "    max_articles: 0\n",
			want: `FILE:4: newsletters[0].max_articles: is 0; write a whole number of at least 1, such as 20`,
		},
		{
			name: "template with a path",
			file: nl + "    template: ../secret\n",
			want: `FILE:4: newsletters[0].template: "../secret" is not a template name; name a template set of templates/email/, such as "digest"`,
		},
		{
			name: "source without name and url",
			file: "ingest:\n  sources:\n    - category: thoi-su\n",
			want: "FILE:3: ingest.sources[0].name: is missing; give the source a name, such as \"vnexpress\"\n" +
				"FILE:3: ingest.sources[0].url: is missing; write the feed's absolute URL, such as https://example.vn/rss.xml",
		},
		{
			name: "source with bad url",
			file: "ingest:\n  sources:\n    - name: a\n      url: ftp://example.vn/rss\n",
			want: `FILE:4: ingest.sources[0].url: "ftp://example.vn/rss" is not an absolute http or https URL; write the feed's absolute URL, such as https://example.vn/rss.xml`,
		},
		{
			name: "bad rate_limit",
			file: "subscribe:\n  rate_limit: 5 per hour\n",
			want: `FILE:2: subscribe.rate_limit: "5 per hour" is not a count per period; write a count per period: N/second, N/minute, N/hour or N/day, such as "5/hour"`,
		},
		{
			name: "bad category slug",
			file: "categories:\n  - slug: Thời sự\n",
			want: `FILE:2: categories[0].slug: "Thời sự" is not a valid slug; use lower-case letters, digits and '-', starting with a letter or digit, such as "thoi-su"`,
		},
		{
			name: "relative base_url",
			file: "site:\n  base_url: news.example.vn\n",
			want: `FILE:2: site.base_url: "news.example.vn" is not an absolute http or https URL; write an absolute URL such as https://news.example.vn`,
		},
		{
			name: "language",
			file: "site:\n  language: fr\n",
			want: `FILE:2: site.language: "fr" is not one of vi, en; write one of vi, en`,
		},
		{
			name: "enums and numbers",
			file: "storage:\n  driver: mysql\nfeeds:\n  items: 0\nmail:\n  transport: sendmail\n  smtp:\n    tls: ssl\n    connections: 0\n    rate: -1\nlog:\n  level: verbose\n  format: xml\n",
			want: "FILE:2: storage.driver: \"mysql\" is not one of sqlite, postgres; write one of sqlite, postgres\n" +
				"FILE:4: feeds.items: is 0; a feed needs at least 1 entry; write a whole number of at least 1, such as 50\n" +
				"FILE:6: mail.transport: \"sendmail\" is not one of file, smtp; write one of file, smtp\n" +
				"FILE:8: mail.smtp.tls: \"ssl\" is not one of starttls, tls, none; write one of starttls, tls, none\n" +
				"FILE:9: mail.smtp.connections: is 0; write a whole number of at least 1, such as 4\n" +
				"FILE:10: mail.smtp.rate: is -1; it must be 0 or more; write messages per second, 0 for no limit\n" +
				"FILE:12: log.level: \"verbose\" is not one of debug, info, warn, error; write one of debug, info, warn, error\n" +
				"FILE:13: log.format: \"xml\" is not one of text, json; write one of text, json",
		},
		{
			name: "a PostgreSQL URL without the postgres driver",
			file: "storage:\n  dsn: postgres://bantin@db.example/bantin\n",
			want: "FILE:2: storage.dsn: is a PostgreSQL URL, but storage.driver is sqlite; set storage.driver: postgres to use it",
		},
		{
			name: "the postgres driver with a file path",
			file: "storage:\n  driver: postgres\n  dsn: data/bantin.db\n",
			want: "FILE:3: storage.dsn: is not a PostgreSQL URL; write a postgres://user:pass@host/db URL for the postgres driver",
		},
		{
			name: "dkim partly set",
			file: "mail:\n  dkim:\n    domain: example.vn\n",
			want: `FILE:2: mail.dkim: is partly set (domain "example.vn", selector "", key_file ""); set all of mail.dkim.domain, selector and key_file, or none of them`,
		},
		{
			name: "dkim extra key without mail.dkim",
			file: "mail:\n  dkim:\n    extra_keys:\n      - {selector: ed1, key_file: ed.pem}\n",
			want: `FILE:3: mail.dkim.extra_keys: has 1 keys but mail.dkim is not set; set mail.dkim.domain, selector and key_file (the first key), or remove extra_keys`,
		},
		{
			name: "dkim extra key with the first key's selector",
			file: "mail:\n  dkim:\n    domain: example.vn\n    selector: s1\n    key_file: rsa.pem\n    extra_keys:\n      - {selector: s1, key_file: ed.pem}\n",
			want: `FILE:7: mail.dkim.extra_keys[0].selector: "s1" is also mail.dkim.selector; give each key its own selector`,
		},
		{
			name: "dkim extra key without its file",
			file: "mail:\n  dkim:\n    domain: example.vn\n    selector: s1\n    key_file: rsa.pem\n    extra_keys:\n      - selector: ed1\n",
			want: `FILE:7: mail.dkim.extra_keys[0].key_file: is missing; name the PEM private key of this selector`,
		},
		{
			name: "trusted proxy",
			file: "server:\n  trusted_proxies: [10.0.0.0/33]\n",
			want: `FILE:2: server.trusted_proxies[0]: "10.0.0.0/33" is not a CIDR or an IP address; write a CIDR such as 10.0.0.0/8 or one address such as 192.0.2.7`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			cfg, err := Load(LoadOptions{Path: path, LookupEnv: envOf(nil)})
			if err == nil {
				t.Fatalf("Load() = %+v, want error", cfg)
			}
			if cfg != nil {
				t.Errorf("Load() returned a config with an error")
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load() error type %T, want *Error", err)
			}
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if diff := cmp.Diff(want, err.Error()); diff != "" {
				t.Errorf("Load() error mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadValidAddresses(t *testing.T) {
	for _, addr := range []string{
		"news@example.vn",
		"Bản tin <news@example.vn>",
		`"Báo Dân Vận" <ban-tin@dan-van.example.vn>`,
		"bantin@localhost",
	} {
		t.Run(addr, func(t *testing.T) {
			file := "mail:\n  from: '" + strings.ReplaceAll(addr, "'", "''") + "'\n"
			got, err := loadString(t, file, nil)
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if got.Mail.From != addr || got.Mail.ReplyTo != addr {
				t.Errorf("from, reply_to = %q, %q; want %q for both", got.Mail.From, got.Mail.ReplyTo, addr)
			}
		})
	}
}

func TestValidateWithoutFile(t *testing.T) {
	c := Default()
	c.Site.Timezone = "Nowhere/Town"
	c.Newsletters = []Newsletter{{ID: "a", Schedule: "0 6 * * *", Timezone: "UTC", MaxArticles: 1, MaxAge: time.Hour, Subject: "x", Template: "digest"}}
	c.Subscribe.ConfirmTTL = 0
	err := c.Validate()
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Validate() error = %v, want *Error", err)
	}
	want := []Problem{
		{Key: "site.timezone", Message: `site.timezone: unknown time zone "Nowhere/Town"`, Fix: "write an IANA time zone name, such as Asia/Ho_Chi_Minh or UTC"},
		{Key: "subscribe.confirm_ttl", Message: "subscribe.confirm_ttl: is 0s; it must be more than 0", Fix: `write a positive duration, such as "168h"`},
	}
	if diff := cmp.Diff(want, cerr.Problems); diff != "" {
		t.Errorf("Problems mismatch (-want +got):\n%s", diff)
	}
	if err := Default().Validate(); err != nil {
		t.Errorf("Default().Validate() = %v, want nil", err)
	}
}

func TestParsedRateLimit(t *testing.T) {
	tests := []struct {
		in      string
		n       int
		per     time.Duration
		wantErr bool
	}{
		{"5/hour", 5, time.Hour, false},
		{"1/second", 1, time.Second, false},
		{" 30 / minute ", 30, time.Minute, false},
		{"100/day", 100, 24 * time.Hour, false},
		{"0/hour", 0, 0, true},
		{"5/week", 0, 0, true},
		{"5", 0, 0, true},
		{"-1/hour", 0, 0, true},
		{"", 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, per, err := Subscribe{RateLimit: tt.in}.ParsedRateLimit()
			if n != tt.n || per != tt.per || (err != nil) != tt.wantErr {
				t.Errorf("ParsedRateLimit(%q) = %d, %v, %v; want %d, %v, error %v", tt.in, n, per, err, tt.n, tt.per, tt.wantErr)
			}
		})
	}
}

// TestReturnPathLocalPartLeavesRoomForTheToken: config check refuses a
// mail.return_path whose local part leaves no room for +TOKEN within the
// 64 octets of RFC 5321, where serve would otherwise stop at start.
func TestReturnPathLocalPartLeavesRoomForTheToken(t *testing.T) {
	c := Default()
	c.Mail.ReturnPath = "newsletter-bounces@news.example.vn"
	if err := c.Validate(); err != nil {
		t.Errorf("return_path with an 18-character local part: %v, want none", err)
	}
	c.Mail.ReturnPath = "a-very-long-bounce-address-name@news.example.vn"
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "mail.return_path") || !strings.Contains(err.Error(), "at most 23") {
		t.Errorf("return_path with a 31-character local part: %v, want an error naming mail.return_path and at most 23", err)
	}
}
