package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envOf returns a LookupEnv that sees only m.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// writeConfig writes content to a fresh file and returns its path. The
// test then runs in the file's folder, so that its relative paths stay as
// written (see TestLoadRelativePaths for the other cases).
func writeConfig(t *testing.T, content string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "bantin.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	return path
}

// loadString loads content as the config file with the given environment.
func loadString(t *testing.T, content string, env map[string]string) (*Config, error) {
	t.Helper()
	return Load(LoadOptions{Path: writeConfig(t, content), LookupEnv: envOf(env), SearchPaths: []string{}})
}

// wantDefaults is SPEC §2's table written out, so that a change to
// defaults() shows up here as a reviewed diff.
func wantDefaults() *Config {
	return &Config{
		Site: Site{
			Title:       "bantin",
			Description: "bantin",
			BaseURL:     "http://localhost:8080",
			Language:    "vi",
			Timezone:    "Asia/Ho_Chi_Minh",
		},
		Server:  Server{Listen: "127.0.0.1:8080"},
		Storage: Storage{Driver: "sqlite", DSN: "data/bantin.db"},
		Feeds:   Feeds{Items: 50, FullContent: true},
		Ingest:  Ingest{ImageLookup: true},
		Mail: Mail{
			Transport: "file",
			From:      "bantin@localhost",
			ReplyTo:   "bantin@localhost",
			FileDir:   "data/outbox",
			SMTP:      SMTP{Host: "localhost", Port: 25, TLS: "starttls", Connections: 4},
		},
		Subscribe: Subscribe{DoubleOptIn: true, RateLimit: "5/hour", BounceLimit: 3, ConfirmTTL: 168 * time.Hour,
			ConfirmResend: time.Hour, SoftBounceLimit: 5, SoftBounceWindow: 720 * time.Hour},
		Limits:  Limits{Categories: 50, FeedCache: 64 << 20, HomeCategories: 30, Connections: 1024, ConnectionsPerClient: 128, WebSubPerHost: 64},
		Bounces: Bounces{IMAP: BounceIMAP{Port: 993, TLS: "tls", Mailbox: "INBOX", Processed: "bantin-processed", Interval: 5 * time.Minute}},
		Log:     Log{Level: "info", Format: "text"},
	}
}

func TestLoadDefaultsWithoutFile(t *testing.T) {
	got, err := Load(LoadOptions{LookupEnv: envOf(nil), SearchPaths: []string{filepath.Join(t.TempDir(), "missing.yaml")}})
	if err != nil {
		t.Fatalf("Load() error = %v, want nil", err)
	}
	if diff := cmp.Diff(wantDefaults(), got); diff != "" {
		t.Errorf("Load() without file mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantDefaults(), Default()); diff != "" {
		t.Errorf("Default() mismatch (-want +got):\n%s", diff)
	}
	if got.Location().String() != "Asia/Ho_Chi_Minh" {
		t.Errorf("Location() = %v, want Asia/Ho_Chi_Minh", got.Location())
	}
	n, per, err := got.Subscribe.ParsedRateLimit()
	if n != 5 || per != time.Hour || err != nil {
		t.Errorf("ParsedRateLimit() = %d, %v, %v; want 5, 1h, nil", n, per, err)
	}
}

func TestLoadFileOverrides(t *testing.T) {
	const file = `
site:
  title: "Báo Dân Vận"
  base_url: "https://news.example.vn"
  language: en
  timezone: Europe/Paris
server:
  listen: ":9090"
  admin_token: s3cret
  trusted_proxies: ["10.0.0.0/8", 192.0.2.7]
storage:
  driver: postgres
  dsn: postgres://bantin:pw@db/bantin
feeds:
  items: 12
  full_content: false
  websub_hubs:
    - https://hub.example.org/
categories:
  - slug: thoi-su
    title: Thời sự
ingest:
  watch_dir: incoming
  sources:
    - name: upstream
      url: https://example.vn/rss.xml
      category: thoi-su
    - name: paused
      url: https://example.vn/other.xml
      interval: 2h
      enabled: false
mail:
  transport: smtp
  from: "Bản tin <news@example.vn>"
  smtp:
    host: smtp.example.vn
    port: 587
    username: bantin
    password: 12345
    rate: 0.5
  dkim: {domain: example.vn, selector: bantin, key_file: dkim.pem}
newsletters:
  - id: ban-tin-sang
    title: Bản tin sáng
    schedule: "0 6 * * *"
    categories: [thoi-su]
  - id: weekly
    schedule: "0 8 * * 1"
    timezone: UTC
    max_articles: 5
    max_age: 336h
    subject: "{{.Count}} bài"
    template: weekly
subscribe:
  double_opt_in: false
  rate_limit: 10/minute
  bounce_limit: 1
  confirm_ttl: 24h
  confirm_resend: 10m
  soft_bounce_limit: 2
  soft_bounce_window: 48h
  allowed_origins: ["https://cms.example.vn"]
limits:
  categories: 10
  feed_cache: 16MiB
  home_categories: 5
  connections: 200
  connections_per_client: 20
  websub_per_host: 3
bounces:
  imap: {host: imap.example.vn, port: 143, username: bounces, password: imap-pw, tls: starttls, mailbox: Bounces, processed: Bounces/done, interval: 1m}
  ses: {topic_arns: ["arn:aws:sns:ap-southeast-1:123456789012:bounces"]}
  mailgun: {signing_key: mg-key}
  postmark: {username: pm, password: pm-pw}
  sendgrid: {public_key: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"}
log: {level: debug, format: json}
templates_dir: mytemplates
watch_config: true
`
	got, err := loadString(t, file, nil)
	if err != nil {
		t.Fatalf("Load() error = %v, want nil", err)
	}
	want := &Config{
		Site:    Site{Title: "Báo Dân Vận", Description: "bantin", BaseURL: "https://news.example.vn", Language: "en", Timezone: "Europe/Paris"},
		Server:  Server{Listen: ":9090", AdminToken: "s3cret", TrustedProxies: []string{"10.0.0.0/8", "192.0.2.7"}},
		Storage: Storage{Driver: "postgres", DSN: "postgres://bantin:pw@db/bantin"},
		Feeds:   Feeds{Items: 12, FullContent: false, WebSubHubs: []string{"https://hub.example.org/"}},
		Categories: []Category{
			{Slug: "thoi-su", Title: "Thời sự"},
		},
		Ingest: Ingest{WatchDir: "incoming", Sources: []Source{
			{Name: "upstream", URL: "https://example.vn/rss.xml", Category: "thoi-su", Interval: 30 * time.Minute, Enabled: true},
			{Name: "paused", URL: "https://example.vn/other.xml", Interval: 2 * time.Hour, Enabled: false},
		}, ImageLookup: true},
		Mail: Mail{
			Transport: "smtp",
			From:      "Bản tin <news@example.vn>",
			ReplyTo:   "Bản tin <news@example.vn>",
			FileDir:   "data/outbox",
			SMTP:      SMTP{Host: "smtp.example.vn", Port: 587, Username: "bantin", Password: "12345", TLS: "starttls", Connections: 4, Rate: 0.5},
			DKIM:      DKIM{Domain: "example.vn", Selector: "bantin", KeyFile: "dkim.pem"},
		},
		Newsletters: []Newsletter{
			{ID: "ban-tin-sang", Title: "Bản tin sáng", Schedule: "0 6 * * *", Timezone: "Europe/Paris", Categories: []string{"thoi-su"},
				MaxArticles: 20, MaxAge: 168 * time.Hour, Subject: "{{.List.Title}} — {{.Date}}", Template: "digest"},
			{ID: "weekly", Title: "weekly", Schedule: "0 8 * * 1", Timezone: "UTC",
				MaxArticles: 5, MaxAge: 336 * time.Hour, Subject: "{{.Count}} bài", Template: "weekly"},
		},
		Subscribe: Subscribe{DoubleOptIn: false, RateLimit: "10/minute", BounceLimit: 1, ConfirmTTL: 24 * time.Hour,
			ConfirmResend: 10 * time.Minute, AllowedOrigins: []string{"https://cms.example.vn"}, SoftBounceLimit: 2, SoftBounceWindow: 48 * time.Hour},
		Limits: Limits{Categories: 10, FeedCache: 16 << 20, HomeCategories: 5, Connections: 200, ConnectionsPerClient: 20, WebSubPerHost: 3},
		Bounces: Bounces{
			IMAP:     BounceIMAP{Host: "imap.example.vn", Port: 143, Username: "bounces", Password: "imap-pw", TLS: "starttls", Mailbox: "Bounces", Processed: "Bounces/done", Interval: time.Minute},
			SES:      BounceSES{TopicARNs: []string{"arn:aws:sns:ap-southeast-1:123456789012:bounces"}},
			Mailgun:  BounceMailgun{SigningKey: "mg-key"},
			Postmark: BouncePostmark{Username: "pm", Password: "pm-pw"},
			SendGrid: BounceSendGrid{PublicKey: "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"},
		},
		Log:          Log{Level: "debug", Format: "json"},
		TemplatesDir: "mytemplates",
		WatchConfig:  true,
	}
	want.Path = got.Path
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load() mismatch (-want +got):\n%s", diff)
	}
	if got.Newsletters[1].Location() != time.UTC {
		t.Errorf("Newsletters[1].Location() = %v, want UTC", got.Newsletters[1].Location())
	}
	if !got.Mail.DKIM.Enabled() {
		t.Errorf("DKIM.Enabled() = false, want true")
	}
}

func TestLoadEnvironment(t *testing.T) {
	const file = `
feeds:
  items: 10
mail:
  smtp:
    password: from-file
`
	tests := []struct {
		name string
		env  map[string]string
		want func(c *Config)
	}{
		{
			name: "file only",
			env:  nil,
			want: func(c *Config) { c.Feeds.Items = 10; c.Mail.SMTP.Password = "from-file" },
		},
		{
			name: "env overrides file and defaults",
			env: map[string]string{
				"BANTIN_FEEDS_ITEMS":                "25",
				"BANTIN_MAIL_SMTP_PASSWORD":         "from-env",
				"BANTIN_SERVER_ADMIN_TOKEN":         "tok",
				"BANTIN_FEEDS_FULL_CONTENT":         "false",
				"BANTIN_SUBSCRIBE_CONFIRM_TTL":      "48h",
				"BANTIN_MAIL_SMTP_RATE":             "2.5",
				"BANTIN_SERVER_TRUSTED_PROXIES":     "10.0.0.0/8, 192.168.0.0/16",
				"BANTIN_SITE_BASE_URL":              "https://news.example.vn",
				"BANTIN_SITE_TIMEZONE":              "UTC",
				"BANTIN_FEEDS_WEBSUB_ALLOW_PRIVATE": "1",
			},
			want: func(c *Config) {
				c.Feeds.Items = 25
				c.Mail.SMTP.Password = "from-env"
				c.Server.AdminToken = "tok"
				c.Feeds.FullContent = false
				c.Subscribe.ConfirmTTL = 48 * time.Hour
				c.Mail.SMTP.Rate = 2.5
				c.Server.TrustedProxies = []string{"10.0.0.0/8", "192.168.0.0/16"}
				c.Site.BaseURL = "https://news.example.vn"
				c.Site.Timezone = "UTC"
				c.Feeds.WebSubAllowPrivate = true
				c.Mail.From = "bantin@news.example.vn"
				c.Mail.ReplyTo = "bantin@news.example.vn"
			},
		},
		{
			name: "variables naming no key are ignored",
			env: map[string]string{
				"BANTIN_TEST_ALL":          "1",
				"BANTIN_TEST_POSTGRES_DSN": "postgres://x@y/z",
				"BANTIN_FEEDS":             "oops",
				"BANTIN_NEWSLETTERS":       "- id: x",
				"BANTIN_MAIL_SMTP":         "nope",
			},
			want: func(c *Config) { c.Feeds.Items = 10; c.Mail.SMTP.Password = "from-file" },
		},
		{
			name: "empty variable counts as unset",
			env:  map[string]string{"BANTIN_FEEDS_ITEMS": ""},
			want: func(c *Config) { c.Feeds.Items = 10; c.Mail.SMTP.Password = "from-file" },
		},
		{
			// An operator must be able to switch the admin API off (or
			// clear a password) from the environment, over the file.
			name: "empty variable clears a text key",
			env:  map[string]string{"BANTIN_FEEDS_ITEMS": "", "BANTIN_MAIL_SMTP_PASSWORD": ""},
			want: func(c *Config) { c.Feeds.Items = 10 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, file)
			env := map[string]string{"BANTIN_CONFIG": filepath.Join(t.TempDir(), "not-used.yaml")}
			for k, v := range tt.env {
				env[k] = v
			}
			got, err := Load(LoadOptions{Path: path, LookupEnv: envOf(env)})
			if err != nil {
				t.Fatalf("Load() error = %v, want nil", err)
			}
			want := wantDefaults()
			tt.want(want)
			want.Path = path
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadEnvironmentWrongType(t *testing.T) {
	tests := []struct {
		name, key, value string
		want             []string
	}{
		{"float for int", "BANTIN_FEEDS_ITEMS", "12.7", []string{"BANTIN_FEEDS_ITEMS", "12.7", "feeds.items", "whole number", "such as 12"}},
		{"text for int", "BANTIN_FEEDS_ITEMS", "abc", []string{"BANTIN_FEEDS_ITEMS", "whole number"}},
		{"text for bool", "BANTIN_FEEDS_FULL_CONTENT", "maybe", []string{"BANTIN_FEEDS_FULL_CONTENT", "true or false"}},
		{"days for duration", "BANTIN_SUBSCRIBE_CONFIRM_TTL", "7d", []string{"BANTIN_SUBSCRIBE_CONFIRM_TTL", `"168h"`}},
		{"text for float", "BANTIN_MAIL_SMTP_RATE", "fast", []string{"BANTIN_MAIL_SMTP_RATE", "a number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(LoadOptions{LookupEnv: envOf(map[string]string{tt.key: tt.value}), SearchPaths: []string{}})
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load() error = %v, want *Error", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadEnvironmentValidation(t *testing.T) {
	_, err := Load(LoadOptions{LookupEnv: envOf(map[string]string{"BANTIN_SITE_TIMEZONE": "Mars/Olympus"}), SearchPaths: []string{}})
	if err == nil {
		t.Fatal("Load() error = nil, want bad time zone")
	}
	want := `site.timezone: unknown time zone "Mars/Olympus" (set by BANTIN_SITE_TIMEZONE); write an IANA time zone name, such as Asia/Ho_Chi_Minh or UTC`
	if got := err.Error(); got != want {
		t.Errorf("error = %q\nwant    %q", got, want)
	}
}

func TestLoadPathResolution(t *testing.T) {
	dir := t.TempDir()
	explicit := filepath.Join(dir, "explicit.yaml")
	fromEnv := filepath.Join(dir, "env.yaml")
	searched := filepath.Join(dir, "searched.yaml")
	for path, title := range map[string]string{explicit: "explicit", fromEnv: "env", searched: "searched"} {
		if err := os.WriteFile(path, []byte("site:\n  title: "+title+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name      string
		opts      LoadOptions
		wantPath  string
		wantTitle string
		wantErr   string
	}{
		{"explicit wins", LoadOptions{Path: explicit, LookupEnv: envOf(map[string]string{"BANTIN_CONFIG": fromEnv})}, explicit, "explicit", ""},
		{"BANTIN_CONFIG next", LoadOptions{LookupEnv: envOf(map[string]string{"BANTIN_CONFIG": fromEnv}), SearchPaths: []string{searched}}, fromEnv, "env", ""},
		{"search paths in order", LoadOptions{LookupEnv: envOf(nil), SearchPaths: []string{missing, searched}}, searched, "searched", ""},
		{"no file is fine", LoadOptions{LookupEnv: envOf(nil), SearchPaths: []string{missing}}, "", "bantin", ""},
		{"explicit missing is an error", LoadOptions{Path: missing, LookupEnv: envOf(nil)}, "", "", "--config"},
		{"BANTIN_CONFIG missing is an error", LoadOptions{LookupEnv: envOf(map[string]string{"BANTIN_CONFIG": missing}), SearchPaths: []string{searched}}, "", "", "BANTIN_CONFIG"},
		{"explicit directory is an error", LoadOptions{Path: dir, LookupEnv: envOf(nil)}, "", "", "is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(tt.opts)
			if tt.wantErr != "" {
				var cerr *Error
				if !errors.As(err, &cerr) {
					t.Fatalf("Load() error = %v, want *Error", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Load() error = %q, want it to mention %q", err, tt.wantErr)
				}
				if got != nil {
					t.Errorf("Load() config = %+v, want nil with an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			if got.Path != tt.wantPath {
				t.Errorf("Path = %q, want %q", got.Path, tt.wantPath)
			}
			if got.Site.Title != tt.wantTitle {
				t.Errorf("site.title = %q, want %q", got.Site.Title, tt.wantTitle)
			}
		})
	}
}

func TestLoadMissingFileUnwraps(t *testing.T) {
	_, err := Load(LoadOptions{Path: filepath.Join(t.TempDir(), "nope.yaml"), LookupEnv: envOf(nil)})
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false, want true", err)
	}
}

func TestLoadEmptyFiles(t *testing.T) {
	for _, content := range []string{"", "# only a comment\n", "---\n", "~\n", "site:\n", "site: {}\ncategories: []\nnewsletters:\n"} {
		t.Run(strings.TrimSpace(content), func(t *testing.T) {
			got, err := loadString(t, content, nil)
			if err != nil {
				t.Fatalf("Load(%q) error = %v", content, err)
			}
			want := wantDefaults()
			want.Path = got.Path
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load(%q) mismatch (-want +got):\n%s", content, diff)
			}
		})
	}
}

func TestByteSize(t *testing.T) {
	for in, want := range map[string]ByteSize{"64MiB": 64 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "2MB": 2e6, "1048576": 1 << 20, "1.5MiB": 3 << 19} {
		got, err := ParseByteSize(in)
		if err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "64 potatoes", "-1MiB", "MiB", "99999999999TiB"} {
		if _, err := ParseByteSize(in); err == nil {
			t.Errorf("ParseByteSize(%q) = nil error, want one", in)
		}
	}
	_, err := loadString(t, "limits:\n  feed_cache: 64 potatoes\n", nil)
	if err == nil || !strings.Contains(err.Error(), "limits.feed_cache") || !strings.Contains(err.Error(), "64MiB") {
		t.Errorf("feed_cache: 64 potatoes: error = %v, want one naming limits.feed_cache and a size like 64MiB", err)
	}
	_, err = loadString(t, "limits:\n  feed_cache: 100KiB\n", nil)
	if err == nil || !strings.Contains(err.Error(), "at least 1MiB") {
		t.Errorf("feed_cache: 100KiB: error = %v, want one asking for at least 1MiB", err)
	}
}

func TestEnvWarnings(t *testing.T) {
	got := EnvWarnings([]string{
		"HOME=/root",
		"BANTIN_FEEDS_ITMES=3",          // a typo: the nearest key
		"BANTIN_FEEDS_ITEMS=3",          // a key
		"BANTIN_MAIL_SMTP_PASWORD=x",    // a typo of a longer key
		"BANTIN_CONFIG=/etc/bantin.yml", // not config
		"BANTIN_TEST_ALL=1",             // not config
		"BANTIN_NEWSLETTERS=x",          // a list of items
		"BANTIN_ZZZZZZZZZZZZ=1",         // nothing near
	})
	want := []string{
		"BANTIN_FEEDS_ITMES names no config key and is ignored; did you mean BANTIN_FEEDS_ITEMS?",
		"BANTIN_MAIL_SMTP_PASWORD names no config key and is ignored; did you mean BANTIN_MAIL_SMTP_PASSWORD?",
		"BANTIN_NEWSLETTERS is ignored: newsletters is a list of items, set in the config file only",
		"BANTIN_ZZZZZZZZZZZZ names no config key and is ignored; config/bantin.example.yaml lists every key (BANTIN_ + the key in upper case, _ for .)",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EnvWarnings mismatch (-want +got):\n%s", diff)
	}
}

// TestLoadRelativePaths: the relative paths of a file are resolved from
// the folder it belongs to (BaseDir), wherever the command runs; those
// of the environment stay relative to the working directory.
func TestLoadRelativePaths(t *testing.T) {
	root := t.TempDir()
	elsewhere := t.TempDir()
	write := func(rel, content string) string {
		t.Helper()
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	const paths = "storage:\n  dsn: db/tin.db\nmail:\n  file_dir: thu\n  dkim:\n    domain: example.vn\n    selector: s\n    key_file: keys/dkim.pem\n" +
		"ingest:\n  watch_dir: hop-thu\ntemplates_dir: mau\n"
	site := write("site/bantin.yaml", paths)
	project := write("project/config/bantin.yaml", paths)
	defaults := write("bare/bantin.yaml", "site:\n  title: Báo\n")
	absolute := write("abs/bantin.yaml", "storage:\n  dsn: /var/tmp/tin.db\n")

	type want struct{ base, dsn, fileDir, keyFile, watchDir, templatesDir string }
	in := func(base string) want {
		return want{base, filepath.Join(base, "db/tin.db"), filepath.Join(base, "thu"), filepath.Join(base, "keys/dkim.pem"),
			filepath.Join(base, "hop-thu"), filepath.Join(base, "mau")}
	}
	tests := []struct {
		name string
		cwd  string
		opts LoadOptions
		want want
	}{
		{"--config elsewhere: the file's folder", elsewhere, LoadOptions{Path: site}, in(filepath.Join(root, "site"))},
		{"BANTIN_CONFIG elsewhere: the file's folder", elsewhere,
			LoadOptions{LookupEnv: envOf(map[string]string{"BANTIN_CONFIG": site})}, in(filepath.Join(root, "site"))},
		{"a file in config/: the folder above", elsewhere, LoadOptions{Path: project}, in(filepath.Join(root, "project"))},
		{"config/bantin.yaml found from its project: as written", filepath.Join(root, "project"),
			LoadOptions{SearchPaths: []string{"config/bantin.yaml"}},
			want{"", "db/tin.db", "thu", "keys/dkim.pem", "hop-thu", "mau"}},
		{"defaults follow the file", elsewhere, LoadOptions{Path: defaults},
			want{base: filepath.Join(root, "bare"), dsn: filepath.Join(root, "bare/data/bantin.db"), fileDir: filepath.Join(root, "bare/data/outbox")}},
		{"absolute stays", elsewhere, LoadOptions{Path: absolute},
			want{base: filepath.Join(root, "abs"), dsn: "/var/tmp/tin.db", fileDir: filepath.Join(root, "abs/data/outbox")}},
		{"the environment is from the working directory", elsewhere,
			LoadOptions{Path: site, LookupEnv: envOf(map[string]string{"BANTIN_STORAGE_DSN": "moi.db"})},
			func() want { w := in(filepath.Join(root, "site")); w.dsn = "moi.db"; return w }()},
		{"no file: the working directory", elsewhere, LoadOptions{SearchPaths: []string{}},
			want{dsn: "data/bantin.db", fileDir: "data/outbox"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Chdir(tt.cwd)
			if tt.opts.LookupEnv == nil {
				tt.opts.LookupEnv = envOf(nil)
			}
			cfg, err := Load(tt.opts)
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			got := want{cfg.BaseDir, cfg.Storage.DSN, cfg.Mail.FileDir, cfg.Mail.DKIM.KeyFile, cfg.Ingest.WatchDir, cfg.TemplatesDir}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("paths (-want +got):\n%s", diff)
			}
		})
	}
}

func TestBaseDir(t *testing.T) {
	for _, tt := range []struct{ path, want string }{
		{"", ""},
		{"/etc/bantin/bantin.yaml", "/var/lib/bantin"},
		{"/srv/tin/config/bantin.yaml", "/srv/tin"},
		{"/srv/tin/bantin.yaml", "/srv/tin"},
	} {
		if got, _ := BaseDir(tt.path); got != tt.want {
			t.Errorf("BaseDir(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

// TestLoadReportsEveryProblem: unknown keys, wrong types, the
// environment's and the values' problems of one file come in one error,
// and a value the strict pass refused is not reported again.
func TestLoadReportsEveryProblem(t *testing.T) {
	const file = `site:
  base_url: localhost
  timezone: Asia/Saigon_City
feeds:
  itmes: 20
  items: 12.7
newsletters:
  - id: sang
    schedule: "0 25 * * *"
  - id: toi
    shedule: "0 18 * * *"
mail:
  from: not an address
`
	cfg, err := Check(LoadOptions{Path: writeConfig(t, file), LookupEnv: envOf(map[string]string{"BANTIN_SUBSCRIBE_BOUNCE_LIMIT": "x"}),
		SearchPaths: []string{}})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Check() error = %v, want *Error", err)
	}
	if cfg == nil {
		t.Fatal("Check() returned no config with the problems")
	}
	var keys []string
	for _, p := range cerr.Problems {
		keys = append(keys, p.Key)
	}
	want := []string{"feeds.itmes", "feeds.items", "newsletters[1].shedule", "subscribe.bounce_limit",
		"site.base_url", "site.timezone", "mail.from", "newsletters[0].schedule"}
	if diff := cmp.Diff(want, keys); diff != "" {
		t.Errorf("problems' keys (-want +got):\n%s\n%v", diff, err)
	}
	if got, err := Load(LoadOptions{Path: writeConfig(t, file), LookupEnv: envOf(nil), SearchPaths: []string{}}); got != nil || err == nil {
		t.Errorf("Load() = %v, %v; want no config and the error", got, err)
	}
}
