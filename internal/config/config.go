// Package config loads bantin's configuration: built-in defaults, then one
// YAML file, then BANTIN_* environment variables, then validation that names
// the key, the place and the fix for every problem it finds.
//
// The file is checked strictly (unknown keys, wrong types) before it is
// layered, because a loose conversion such as 12.7 → 12 would hide a mistake
// the admin wants to hear about.
package config

import (
	"net/url"
	"time"

	// Time zone data is built in, so site and newsletter time zones work on a
	// minimal system without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Config is the whole configuration of one bantin process. The yaml tags are
// the key names of the file; the environment variable of a scalar key is
// BANTIN_ + its path in upper case with _ for . (BANTIN_MAIL_SMTP_PASSWORD).
type Config struct {
	Site        Site         `yaml:"site"`
	Server      Server       `yaml:"server"`
	Storage     Storage      `yaml:"storage"`
	Feeds       Feeds        `yaml:"feeds"`
	Categories  []Category   `yaml:"categories"`
	Ingest      Ingest       `yaml:"ingest"`
	Mail        Mail         `yaml:"mail"`
	Newsletters []Newsletter `yaml:"newsletters"`
	Subscribe   Subscribe    `yaml:"subscribe"`
	Limits      Limits       `yaml:"limits"`
	Bounces     Bounces      `yaml:"bounces"`
	Log         Log          `yaml:"log"`
	// TemplatesDir is a folder whose files override the embedded templates
	// of the same name; empty means the embedded templates only.
	TemplatesDir string `yaml:"templates_dir"`
	// WatchConfig reloads the live parts of the config when the file changes.
	WatchConfig bool `yaml:"watch_config"`

	// Path is the file the config was read from, "" when there was none.
	// It is not a key of the file.
	Path string `yaml:"-"`
	// BaseDir is the absolute folder that the relative paths of the file
	// were resolved against (see BaseDir), "" when they are relative to the
	// working directory. It is not a key of the file.
	BaseDir string `yaml:"-"`
}

// Site describes the publication as readers see it.
type Site struct {
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	// BaseURL is the absolute http(s) URL that links in feeds, emails and
	// pages start with.
	BaseURL string `yaml:"base_url"`
	// Language is "vi" or "en": feed language and template language.
	Language string `yaml:"language"`
	// Timezone is an IANA zone name; see Config.Location.
	Timezone string `yaml:"timezone"`
}

// Server configures the HTTP server.
type Server struct {
	Listen string `yaml:"listen"`
	// AdminToken is the bearer token of /api/; empty turns the admin API off.
	AdminToken string `yaml:"admin_token"`
	// TrustedProxies are CIDRs (or single addresses) whose X-Forwarded-For
	// header is believed.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Storage selects the store backend.
type Storage struct {
	// Driver is "sqlite" or "postgres".
	Driver string `yaml:"driver"`
	// DSN is a file path for sqlite, a PostgreSQL URL or key=value string
	// for postgres.
	DSN string `yaml:"dsn"`
}

// Feeds configures the feed documents and WebSub.
type Feeds struct {
	// Items is the number of entries in one feed document (one page).
	Items int `yaml:"items"`
	// FullContent puts the full article HTML in feeds, else the summary only.
	FullContent bool `yaml:"full_content"`
	// WebSubHubs are external hubs pinged on publish, besides the built-in one.
	WebSubHubs []string `yaml:"websub_hubs"`
	// WebSubAllowPrivate lets the built-in hub call back to loopback and
	// private addresses; meant for tests.
	WebSubAllowPrivate bool `yaml:"websub_allow_private"`
}

// Category is a category declared ahead of the articles, to give it a title
// and description; other categories are made from articles as they come.
type Category struct {
	Slug        string `yaml:"slug"`
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
}

// Ingest configures the watch folder and the upstream feeds.
type Ingest struct {
	// WatchDir is a folder of article files watched while serving; empty
	// means none.
	WatchDir string   `yaml:"watch_dir"`
	Sources  []Source `yaml:"sources"`
	// ImageLookup asks an image's server for its length (a HEAD request,
	// public addresses only) when an imported article gives none, for
	// the RSS enclosure and the JSON Feed attachment; default true.
	ImageLookup bool `yaml:"image_lookup"`
}

// Source is an upstream feed polled for articles.
type Source struct {
	// Name identifies the source in commands and logs; it is unique.
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	// Category is the slug given to articles from this source; empty keeps
	// the categories the feed itself carries.
	Category string `yaml:"category"`
	// Interval is the time between two polls; default 30m.
	Interval time.Duration `yaml:"interval"`
	// Enabled turns polling on; default true.
	Enabled bool `yaml:"enabled"`
}

// Mail configures how email leaves bantin.
type Mail struct {
	// Transport is "file" (write .eml files to FileDir) or "smtp".
	Transport string `yaml:"transport"`
	// From is an RFC 5322 address, display name allowed; default
	// bantin@ + the host of site.base_url.
	From string `yaml:"from"`
	// ReplyTo defaults to From.
	ReplyTo string `yaml:"reply_to"`
	// ReturnPath is the envelope sender bounces go to, such as
	// bounces@news.example.vn; each copy's is VERP-encoded
	// (bounces+TOKEN@news.example.vn). Empty: the From address, no VERP.
	ReturnPath string `yaml:"return_path"`
	FileDir    string `yaml:"file_dir"`
	SMTP       SMTP   `yaml:"smtp"`
	DKIM       DKIM   `yaml:"dkim"`
}

// SMTP configures the SMTP relay used when mail.transport is "smtp".
type SMTP struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS is "starttls", "tls" (implicit TLS, usually port 465) or "none".
	TLS string `yaml:"tls"`
	// Connections is the number of parallel SMTP connections.
	Connections int `yaml:"connections"`
	// Rate is messages per second over all connections; 0 means no limit.
	// It may be a fraction (0.5 is one message every two seconds).
	Rate float64 `yaml:"rate"`
}

// DKIM configures DKIM signing; it is off while all three keys are empty.
type DKIM struct {
	Domain   string `yaml:"domain"`
	Selector string `yaml:"selector"`
	// KeyFile is a PEM file holding the private key.
	KeyFile string `yaml:"key_file"`
	// ExtraKeys are more keys of Domain, each signing every message too:
	// an Ed25519 key beside an RSA one (RFC 8463), or the next key while
	// the old one is still published.
	ExtraKeys []DKIMKey `yaml:"extra_keys"`
}

// DKIMKey is one more selector and key of mail.dkim.domain.
type DKIMKey struct {
	Selector string `yaml:"selector"`
	KeyFile  string `yaml:"key_file"`
}

// Enabled reports whether DKIM signing is configured.
func (d DKIM) Enabled() bool {
	return d.Domain != "" && d.Selector != "" && d.KeyFile != ""
}

// Newsletter is one subscriber list and the digest it is sent.
type Newsletter struct {
	// ID is the list's name in URLs and commands: ^[a-z0-9][a-z0-9-]*$.
	ID          string `yaml:"id"`
	Title       string `yaml:"title"`
	Description string `yaml:"description"`
	// Schedule is a 5-field cron expression in Timezone.
	Schedule string `yaml:"schedule"`
	// Timezone defaults to site.timezone.
	Timezone string `yaml:"timezone"`
	// Categories are slugs; empty means every category.
	Categories []string `yaml:"categories"`
	// MaxArticles caps one issue; default 20.
	MaxArticles int `yaml:"max_articles"`
	// MaxAge leaves out articles published longer ago; default 168h, so a
	// historical import floods nobody.
	MaxAge time.Duration `yaml:"max_age"`
	// Subject is a text/template: {{.List.Title}}, {{.Date}}, {{.Count}}.
	Subject string `yaml:"subject"`
	// Template names a template set in templates/email/; default "digest".
	Template string `yaml:"template"`
}

// Location returns the newsletter's time zone, UTC if it does not load
// (Validate, which Load runs, rejects such a zone).
func (n Newsletter) Location() *time.Location {
	return loadLocation(n.Timezone)
}

// Subscribe configures the public subscription forms.
type Subscribe struct {
	// DoubleOptIn sends a confirmation email before the first digest.
	DoubleOptIn bool `yaml:"double_opt_in"`
	// RateLimit is "N/second", "N/minute", "N/hour" or "N/day" per client
	// address; see ParsedRateLimit.
	RateLimit string `yaml:"rate_limit"`
	// BounceLimit is the number of hard bounces before a subscriber is
	// marked bounced.
	BounceLimit int `yaml:"bounce_limit"`
	// SoftBounceLimit is the number of soft bounces within
	// SoftBounceWindow before a subscriber is marked bounced.
	SoftBounceLimit  int           `yaml:"soft_bounce_limit"`
	SoftBounceWindow time.Duration `yaml:"soft_bounce_window"`
	// ConfirmTTL is how long a confirmation link works; pending sign-ups
	// older than this are deleted.
	ConfirmTTL time.Duration `yaml:"confirm_ttl"`
	// ConfirmResend is the least time between two confirmation emails to
	// one pending address, whoever asks and from wherever.
	ConfirmResend time.Duration `yaml:"confirm_resend"`
	// AllowedOrigins are other sites (scheme://host[:port]) whose pages may
	// POST the public forms; any other cross-origin POST gets 403.
	AllowedOrigins []string `yaml:"allowed_origins"`
}

// Limits bound what strangers and upstream feeds can make bantin spend.
// Each has a default that a small server lives with.
type Limits struct {
	// Categories is the most categories one article may carry.
	Categories int `yaml:"categories"`
	// FeedCache is the memory for rendered feed documents, both encodings
	// counted; the least recently used are dropped first.
	FeedCache ByteSize `yaml:"feed_cache"`
	// HomeCategories is the most category feeds linked from the home page
	// (the busiest first); the OPML lists them all.
	HomeCategories int `yaml:"home_categories"`
	// Connections is the most HTTP connections open at once; more wait in
	// the kernel's accept queue.
	Connections int `yaml:"connections"`
	// ConnectionsPerClient is the most of those one client address may
	// hold; 127.0.0.1, ::1 and server.trusted_proxies are not counted.
	ConnectionsPerClient int `yaml:"connections_per_client"`
	// WebSubPerHost is the most WebSub subscriptions whose callbacks are on
	// one host.
	WebSubPerHost int `yaml:"websub_per_host"`
}

// ParsedRateLimit returns RateLimit as a count per period, for example
// (5, time.Hour) for "5/hour".
func (s Subscribe) ParsedRateLimit() (count int, period time.Duration, err error) {
	return parseRateLimit(s.RateLimit)
}

// Bounces configures the ways bounces and complaints come back besides
// the relay's own answers: a mailbox serve polls and providers' webhooks
// at POST /webhooks/bounces/{provider}. Each is off while its keys are
// empty.
type Bounces struct {
	IMAP     BounceIMAP     `yaml:"imap"`
	SES      BounceSES      `yaml:"ses"`
	Mailgun  BounceMailgun  `yaml:"mailgun"`
	Postmark BouncePostmark `yaml:"postmark"`
	SendGrid BounceSendGrid `yaml:"sendgrid"`
}

// BounceIMAP is a mailbox that receives bounces, polled by serve.
type BounceIMAP struct {
	// Host is the IMAP server; empty turns polling off.
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	Username string `yaml:"username"`
	Password string `yaml:"password"`
	// TLS is "tls" (implicit, usually port 993), "starttls" or "none".
	TLS string `yaml:"tls"`
	// Mailbox is the folder read; Processed is where read bounces are
	// moved (created if missing); other mail is left as it was.
	Mailbox   string        `yaml:"mailbox"`
	Processed string        `yaml:"processed"`
	Interval  time.Duration `yaml:"interval"`
}

// BounceSES takes Amazon SES notifications through SNS.
type BounceSES struct {
	// TopicARNs are the SNS topics whose messages are taken; empty turns
	// the SES webhook off.
	TopicARNs []string `yaml:"topic_arns"`
}

// BounceMailgun takes Mailgun's webhooks, signed with its signing key.
type BounceMailgun struct {
	SigningKey string `yaml:"signing_key"`
}

// BouncePostmark takes Postmark's webhooks behind HTTP basic auth.
type BouncePostmark struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// BounceSendGrid takes SendGrid's signed event webhook.
type BounceSendGrid struct {
	// PublicKey is the verification key SendGrid shows (base64 of an
	// ECDSA P-256 public key).
	PublicKey string `yaml:"public_key"`
}

// Log configures the process log.
type Log struct {
	// Level is "debug", "info", "warn" or "error".
	Level string `yaml:"level"`
	// Format is "text" or "json".
	Format string `yaml:"format"`
}

// Defaults of list items, applied to each item of newsletters and
// ingest.sources that leaves the key out. A newsletter's time zone defaults
// to site.timezone and its title to its id.
const (
	defaultMaxArticles    = 20
	defaultMaxAge         = 7 * 24 * time.Hour
	defaultTemplate       = "digest"
	defaultSubject        = "{{.List.Title}} — {{.Date}}"
	defaultSourceInterval = 30 * time.Minute
	defaultSourceEnabled  = true
)

// Default returns the configuration bantin runs with when there is no file
// and no environment: SQLite at data/bantin.db and mail written to
// data/outbox. Tests of other packages can start from it.
func Default() *Config {
	c := defaults()
	c.resolve()
	return c
}

// defaults is the configuration before derived values (mail.from, reply_to)
// are filled in; its scalar fields are viper's default layer.
func defaults() *Config {
	return &Config{
		Site: Site{
			Title:       "bantin",
			Description: "bantin",
			BaseURL:     "http://localhost:8080",
			Language:    "vi",
			Timezone:    "Asia/Ho_Chi_Minh",
		},
		Server: Server{
			Listen: "127.0.0.1:8080",
		},
		Storage: Storage{
			Driver: "sqlite",
			DSN:    "data/bantin.db",
		},
		Feeds: Feeds{
			Items:       50,
			FullContent: true,
		},
		Ingest: Ingest{ImageLookup: true},
		Mail: Mail{
			Transport: "file",
			FileDir:   "data/outbox",
			SMTP: SMTP{
				Host:        "localhost",
				Port:        25,
				TLS:         "starttls",
				Connections: 4,
			},
		},
		Subscribe: Subscribe{
			DoubleOptIn:      true,
			RateLimit:        "5/hour",
			BounceLimit:      3,
			SoftBounceLimit:  5,
			SoftBounceWindow: 30 * 24 * time.Hour,
			ConfirmTTL:       168 * time.Hour,
			ConfirmResend:    time.Hour,
		},
		Limits: Limits{
			Categories:           50,
			FeedCache:            64 << 20,
			HomeCategories:       30,
			Connections:          1024,
			ConnectionsPerClient: 128,
			WebSubPerHost:        64,
		},
		Bounces: Bounces{
			IMAP: BounceIMAP{Port: 993, TLS: "tls", Mailbox: "INBOX", Processed: "bantin-processed", Interval: 5 * time.Minute},
		},
		Log: Log{
			Level:  "info",
			Format: "text",
		},
	}
}

// resolve fills in the values that default to other values: mail.from and
// mail.reply_to, newsletter time zones and titles. Empty lists become nil so
// that "categories: []" and no key at all give the same Config.
func (c *Config) resolve() {
	if c.Mail.From == "" {
		if u, err := url.Parse(c.Site.BaseURL); err == nil && u.Hostname() != "" {
			c.Mail.From = "bantin@" + u.Hostname()
		}
	}
	if c.Mail.ReplyTo == "" {
		c.Mail.ReplyTo = c.Mail.From
	}
	for i := range c.Newsletters {
		n := &c.Newsletters[i]
		if n.Timezone == "" {
			n.Timezone = c.Site.Timezone
		}
		if n.Title == "" {
			n.Title = n.ID
		}
		if len(n.Categories) == 0 {
			n.Categories = nil
		}
	}
	if len(c.Server.TrustedProxies) == 0 {
		c.Server.TrustedProxies = nil
	}
	if len(c.Mail.DKIM.ExtraKeys) == 0 {
		c.Mail.DKIM.ExtraKeys = nil
	}
	if len(c.Subscribe.AllowedOrigins) == 0 {
		c.Subscribe.AllowedOrigins = nil
	}
	if len(c.Bounces.SES.TopicARNs) == 0 {
		c.Bounces.SES.TopicARNs = nil
	}
	if len(c.Feeds.WebSubHubs) == 0 {
		c.Feeds.WebSubHubs = nil
	}
	if len(c.Categories) == 0 {
		c.Categories = nil
	}
	if len(c.Ingest.Sources) == 0 {
		c.Ingest.Sources = nil
	}
	if len(c.Newsletters) == 0 {
		c.Newsletters = nil
	}
}

// Location returns the time zone of site.timezone, UTC if it does not load
// (Validate, which Load runs, rejects such a zone). Resolve it once at start
// and keep the result rather than calling it per request.
func (c *Config) Location() *time.Location {
	return loadLocation(c.Site.Timezone)
}

func loadLocation(name string) *time.Location {
	if name == "" {
		return time.UTC
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return time.UTC
	}
	return loc
}
