package config

import (
	"fmt"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/robfig/cron/v3"
)

var (
	slugRE      = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	templateRE  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	rateLimitRE = regexp.MustCompile(`^\s*(\d+)\s*/\s*(second|minute|hour|day)\s*$`)
)

var ratePeriods = map[string]time.Duration{
	"second": time.Second,
	"minute": time.Minute,
	"hour":   time.Hour,
	"day":    24 * time.Hour,
}

// origin says where values came from, so that a problem can point at the
// file line or the environment variable that set the key.
type origin struct {
	file  string
	lines map[string]int    // key path → line in file
	env   map[string]string // key path → environment variable
}

// Validate checks the values of c and returns an *Error listing every
// problem, each naming the key and the fix; nil when c is usable. Load
// calls it, so a Config from Load is already valid.
func (c *Config) Validate() error {
	return c.validate(&origin{})
}

func (c *Config) validate(o *origin) error {
	v := &validator{o: o}

	// site
	baseOK := v.httpURL("site.base_url", c.Site.BaseURL, "write an absolute URL such as https://news.example.vn")
	v.oneOf("site.language", c.Site.Language, "vi", "en")
	v.timezone("site.timezone", c.Site.Timezone)

	// server
	if _, port, err := net.SplitHostPort(c.Server.Listen); err != nil || !validPort(port, true) {
		v.add("server.listen", "write host:port, such as 127.0.0.1:8080 or :8080",
			"%q is not a host:port address", c.Server.Listen)
	}
	for i, p := range c.Server.TrustedProxies {
		if _, err := netip.ParsePrefix(p); err == nil {
			continue
		}
		if _, err := netip.ParseAddr(p); err == nil {
			continue
		}
		v.add(fmt.Sprintf("server.trusted_proxies[%d]", i), "write a CIDR such as 10.0.0.0/8 or one address such as 192.0.2.7",
			"%q is not a CIDR or an IP address", p)
	}

	// storage
	v.oneOf("storage.driver", c.Storage.Driver, "sqlite", "postgres")
	if strings.TrimSpace(c.Storage.DSN) == "" {
		v.add("storage.dsn", "write a file path for sqlite (data/bantin.db) or a postgres://user:pass@host/db URL", "is empty")
	}
	// A PostgreSQL URL with the default driver would make a SQLite file
	// named like the URL: each daemon would then have a database of its
	// own, and its own scheduler.
	isURL := strings.HasPrefix(c.Storage.DSN, "postgres://") || strings.HasPrefix(c.Storage.DSN, "postgresql://")
	switch {
	case c.Storage.Driver == "sqlite" && isURL:
		v.add("storage.dsn", "set storage.driver: postgres to use it", "is a PostgreSQL URL, but storage.driver is sqlite")
	case c.Storage.Driver == "postgres" && !isURL && strings.TrimSpace(c.Storage.DSN) != "":
		v.add("storage.dsn", "write a postgres://user:pass@host/db URL for the postgres driver", "is not a PostgreSQL URL")
	}

	// feeds
	if c.Feeds.Items < 1 {
		v.add("feeds.items", "write a whole number of at least 1, such as 50", "is %d; a feed needs at least 1 entry", c.Feeds.Items)
	}
	for i, hub := range c.Feeds.WebSubHubs {
		v.httpURL(fmt.Sprintf("feeds.websub_hubs[%d]", i), hub, "write the hub's absolute URL, such as https://pubsubhubbub.appspot.com/")
	}

	// categories
	slugs := map[string]int{}
	for i, cat := range c.Categories {
		key := fmt.Sprintf("categories[%d].slug", i)
		v.slug(key, cat.Slug)
		if first, dup := slugs[cat.Slug]; dup && cat.Slug != "" {
			v.add(key, "give each category its own slug, or remove one", "%q is also the slug of categories[%d]", cat.Slug, first)
		} else {
			slugs[cat.Slug] = i
		}
	}

	// ingest
	names := map[string]int{}
	for i, s := range c.Ingest.Sources {
		prefix := fmt.Sprintf("ingest.sources[%d]", i)
		if strings.TrimSpace(s.Name) == "" {
			v.add(prefix+".name", "give the source a name, such as \"vnexpress\"", "is missing")
		} else if first, dup := names[s.Name]; dup {
			v.add(prefix+".name", "give each source its own name", "%q is also the name of ingest.sources[%d]", s.Name, first)
		} else {
			names[s.Name] = i
		}
		if s.URL == "" {
			v.add(prefix+".url", "write the feed's absolute URL, such as https://example.vn/rss.xml", "is missing")
		} else {
			v.httpURL(prefix+".url", s.URL, "write the feed's absolute URL, such as https://example.vn/rss.xml")
		}
		if s.Category != "" {
			v.slug(prefix+".category", s.Category)
		}
		if s.Interval <= 0 {
			v.add(prefix+".interval", "write a positive duration, such as \"30m\"", "is %s; it must be more than 0", s.Interval)
		}
	}

	// mail
	v.oneOf("mail.transport", c.Mail.Transport, "file", "smtp")
	if c.Mail.From == "" {
		if baseOK {
			v.add("mail.from", "write an address such as \"Bản tin <news@example.vn>\"", "is empty")
		}
	} else {
		v.address("mail.from", c.Mail.From)
	}
	if c.Mail.ReplyTo != "" && c.Mail.ReplyTo != c.Mail.From { // the same value is reported once, as mail.from
		v.address("mail.reply_to", c.Mail.ReplyTo)
	}
	if c.Mail.Transport == "file" && strings.TrimSpace(c.Mail.FileDir) == "" {
		v.add("mail.file_dir", "write a folder, such as data/outbox", "is empty while mail.transport is file")
	}
	if c.Mail.Transport == "smtp" && strings.TrimSpace(c.Mail.SMTP.Host) == "" {
		v.add("mail.smtp.host", "write the relay's host name, such as smtp.example.vn", "is empty while mail.transport is smtp")
	}
	if c.Mail.SMTP.Port < 1 || c.Mail.SMTP.Port > 65535 {
		v.add("mail.smtp.port", "write a port between 1 and 65535, usually 25, 465 or 587", "is %d", c.Mail.SMTP.Port)
	}
	v.oneOf("mail.smtp.tls", c.Mail.SMTP.TLS, "starttls", "tls", "none")
	if c.Mail.SMTP.Connections < 1 {
		v.add("mail.smtp.connections", "write a whole number of at least 1, such as 4", "is %d", c.Mail.SMTP.Connections)
	}
	if r := c.Mail.SMTP.Rate; !(r >= 0) || math.IsInf(r, 0) {
		v.add("mail.smtp.rate", "write messages per second, 0 for no limit", "is %v; it must be 0 or more", r)
	}
	d := c.Mail.DKIM
	if set := boolCount(d.Domain != "", d.Selector != "", d.KeyFile != ""); set > 0 && set < 3 {
		v.add("mail.dkim", "set all of mail.dkim.domain, selector and key_file, or none of them",
			"is partly set (domain %q, selector %q, key_file %q)", d.Domain, d.Selector, d.KeyFile)
	}
	if len(d.ExtraKeys) > 0 && !d.Enabled() {
		v.add("mail.dkim.extra_keys", "set mail.dkim.domain, selector and key_file (the first key), or remove extra_keys",
			"has %d keys but mail.dkim is not set", len(d.ExtraKeys))
	}
	selectors := map[string]string{d.Selector: "mail.dkim.selector"}
	for i, k := range d.ExtraKeys {
		key := fmt.Sprintf("mail.dkim.extra_keys[%d]", i)
		switch {
		case k.Selector == "":
			v.add(key+".selector", "give each extra key its selector (its TXT record is at SELECTOR._domainkey.DOMAIN)", "is missing")
		case selectors[k.Selector] != "":
			v.add(key+".selector", "give each key its own selector", "%q is also %s", k.Selector, selectors[k.Selector])
		default:
			selectors[k.Selector] = key + ".selector"
		}
		if k.KeyFile == "" {
			v.add(key+".key_file", "name the PEM private key of this selector", "is missing")
		}
	}

	// newsletters
	ids := map[string]int{}
	for i, n := range c.Newsletters {
		prefix := fmt.Sprintf("newsletters[%d]", i)
		switch {
		case n.ID == "":
			v.add(prefix+".id", "give the list an id such as \"ban-tin-sang\"", "is missing")
		case !slugRE.MatchString(n.ID):
			v.add(prefix+".id", "use lower-case letters, digits and '-', starting with a letter or digit, such as \"ban-tin-sang\"",
				"%q is not a valid list id", n.ID)
		default:
			if first, dup := ids[n.ID]; dup {
				v.add(prefix+".id", "give each newsletter its own id", "%q is also the id of newsletters[%d]", n.ID, first)
			} else {
				ids[n.ID] = i
			}
		}
		v.schedule(prefix+".schedule", n.Schedule)
		if n.Timezone != c.Site.Timezone {
			v.timezone(prefix+".timezone", n.Timezone)
		}
		for j, cat := range n.Categories {
			v.slug(fmt.Sprintf("%s.categories[%d]", prefix, j), cat)
		}
		if n.MaxArticles < 1 {
			v.add(prefix+".max_articles", "write a whole number of at least 1, such as 20", "is %d", n.MaxArticles)
		}
		if n.MaxAge <= 0 {
			v.add(prefix+".max_age", "write a positive duration, such as \"168h\" for 7 days", "is %s; it must be more than 0", n.MaxAge)
		}
		if strings.TrimSpace(n.Subject) == "" {
			v.add(prefix+".subject", "write a subject such as \"{{.List.Title}} — {{.Date}}\", or leave the key out", "is empty")
		} else if _, err := template.New("subject").Parse(n.Subject); err != nil {
			v.add(prefix+".subject", "write a Go template such as \"{{.List.Title}} — {{.Date}}\"; every {{ needs a matching }}",
				"is not a valid template: %s", strings.TrimPrefix(err.Error(), "template: subject:"))
		}
		if !templateRE.MatchString(n.Template) {
			v.add(prefix+".template", "name a template set of templates/email/, such as \"digest\"", "%q is not a template name", n.Template)
		}
	}

	// subscribe
	if _, _, err := parseRateLimit(c.Subscribe.RateLimit); err != nil {
		v.add("subscribe.rate_limit", "write a count per period: N/second, N/minute, N/hour or N/day, such as \"5/hour\"", "%v", err)
	}
	if c.Subscribe.BounceLimit < 1 {
		v.add("subscribe.bounce_limit", "write a whole number of at least 1, such as 3", "is %d", c.Subscribe.BounceLimit)
	}
	if c.Subscribe.ConfirmTTL <= 0 {
		v.add("subscribe.confirm_ttl", "write a positive duration, such as \"168h\"", "is %s; it must be more than 0", c.Subscribe.ConfirmTTL)
	}
	v.atLeast("subscribe.soft_bounce_limit", c.Subscribe.SoftBounceLimit, 1, "5")
	if c.Subscribe.SoftBounceWindow <= 0 {
		v.add("subscribe.soft_bounce_window", "write a positive duration, such as \"720h\" (30 days)", "is %s; it must be more than 0", c.Subscribe.SoftBounceWindow)
	}
	if c.Subscribe.ConfirmResend < 0 {
		v.add("subscribe.confirm_resend", "write a duration of 0 or more, such as \"1h\"", "is %s; it cannot be negative", c.Subscribe.ConfirmResend)
	}
	for i, o := range c.Subscribe.AllowedOrigins {
		key := fmt.Sprintf("subscribe.allowed_origins[%d]", i)
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
			v.add(key, "write an origin: scheme and host only, such as \"https://cms.example.vn\"", "%q is not an origin", o)
		}
	}

	// bounces
	if rp := c.Mail.ReturnPath; rp != "" {
		if a, err := mail.ParseAddress(rp); err != nil || a.Name != "" || a.Address != rp || strings.Contains(rp, "+") {
			v.add("mail.return_path", "write a plain address without a display name or '+', such as bounces@news.example.vn (bantin adds +TOKEN to it)", "%q is not a plain address", rp)
		} else if local := rp[:strings.LastIndex(rp, "@")]; len(local) > maxReturnLocal {
			// A local part is at most 64 octets (RFC 5321) and the VERP
			// token takes the rest.
			v.add("mail.return_path", fmt.Sprintf("use a local part of at most %d characters, such as bounces@news.example.vn", maxReturnLocal),
				"%q: the part before @ is %d characters, with no room for the +TOKEN within 64", rp, len(local))
		}
	}
	if im := c.Bounces.IMAP; im.Host != "" {
		v.oneOf("bounces.imap.tls", im.TLS, "tls", "starttls", "none")
		if im.Port < 1 || im.Port > 65535 {
			v.add("bounces.imap.port", "write a port number such as 993", "%d is not a port", im.Port)
		}
		if im.Username == "" {
			v.add("bounces.imap.username", "write the mailbox's user name, or leave bounces.imap.host empty", "is empty while bounces.imap.host is set")
		}
		if strings.TrimSpace(im.Mailbox) == "" || strings.TrimSpace(im.Processed) == "" || im.Mailbox == im.Processed {
			v.add("bounces.imap.processed", "name two different folders, such as mailbox: INBOX and processed: bantin-processed", "mailbox %q and processed %q must be two folders", im.Mailbox, im.Processed)
		}
		if im.Interval < 10*time.Second {
			v.add("bounces.imap.interval", "write a duration of at least 10s, such as \"5m\"", "is %s", im.Interval)
		}
	}

	// limits
	v.atLeast("limits.categories", c.Limits.Categories, 1, "50")
	if c.Limits.FeedCache < 1<<20 {
		v.add("limits.feed_cache", "write a size of at least 1MiB, such as \"64MiB\"", "is %s; the feed cache needs at least 1MiB", c.Limits.FeedCache)
	}
	v.atLeast("limits.home_categories", c.Limits.HomeCategories, 0, "30")
	v.atLeast("limits.connections", c.Limits.Connections, 16, "1024")
	v.atLeast("limits.connections_per_client", c.Limits.ConnectionsPerClient, 1, "128")
	v.atLeast("limits.websub_per_host", c.Limits.WebSubPerHost, 1, "64")

	// log
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "text", "json")

	return v.probs.err()
}

// Place makes an *Error of problems found outside this package (a DKIM
// key that does not read, a newsletter's template set that does not
// exist, a subject that does not render), each placed as Load places its
// own: at the file and line that set its Key, or naming the environment
// variable that did. A problem's Message is said after its key, and its
// Fix after that. Place returns nil when ps is empty.
func (c *Config) Place(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	o := &origin{file: c.Path, lines: map[string]int{}, env: map[string]string{}}
	// The lines are read again from the file: a Config keeps only values.
	if c.Path != "" {
		if data, err := os.ReadFile(c.Path); err == nil {
			if file, _ := parseFile(c.Path, data); !file.broken {
				o.lines = file.lines
			}
		}
	}
	v := &validator{o: o}
	for _, p := range ps {
		if name := envName(p.Key); !strings.Contains(p.Key, "[") {
			if _, set := os.LookupEnv(name); set {
				o.env[p.Key] = name
			}
		}
		v.add(p.Key, p.Fix, "%s", p.Message)
	}
	return v.probs.err()
}

// maxReturnLocal is the longest local part of mail.return_path that leaves
// room for "+TOKEN" within the 64 octets of RFC 5321.
const maxReturnLocal = 23

// atLeast checks a whole-number limit against its floor.
func (v *validator) atLeast(key string, got, least int, example string) {
	if got < least {
		v.add(key, fmt.Sprintf("write a whole number of at least %d, such as %s", least, example), "is %d; it must be at least %d", got, least)
	}
}

// validator collects validation problems, placing each where its value
// was set.
type validator struct {
	o     *origin
	probs problems
}

// add records a problem with key; the message is "key: " + format.
func (v *validator) add(key, fix, format string, args ...any) {
	p := Problem{Key: key, Message: key + ": " + fmt.Sprintf(format, args...), Fix: fix}
	if name, ok := v.o.env[key]; ok {
		p.Message += " (set by " + name + ")"
	} else if line, ok := v.line(key); ok {
		p.File, p.Line = v.o.file, line
	}
	v.probs.add(p)
}

// line finds key's line; a key missing from a list item falls back to the
// item's line, so that "newsletters[2].id is missing" still points there.
func (v *validator) line(key string) (int, bool) {
	for {
		if line, ok := v.o.lines[key]; ok {
			return line, true
		}
		i := strings.LastIndexByte(key, '.')
		if i < 0 || !strings.Contains(key[:i], "[") {
			return 0, false
		}
		key = key[:i]
	}
}

func (v *validator) oneOf(key, val string, allowed ...string) {
	for _, a := range allowed {
		if val == a {
			return
		}
	}
	v.add(key, "write one of "+strings.Join(allowed, ", "), "%q is not one of %s", val, strings.Join(allowed, ", "))
}

func (v *validator) timezone(key, name string) {
	if name == "" || name == "Local" {
		v.add(key, "write an IANA time zone name, such as Asia/Ho_Chi_Minh or UTC", "%q names no fixed time zone", name)
		return
	}
	if _, err := time.LoadLocation(name); err != nil {
		v.add(key, "write an IANA time zone name, such as Asia/Ho_Chi_Minh or UTC", "unknown time zone %q", name)
	}
}

func (v *validator) address(key, addr string) {
	if _, err := mail.ParseAddress(addr); err != nil {
		v.add(key, "write an address such as news@example.vn or \"Bản tin <news@example.vn>\"",
			"%q is not a valid email address (%s)", addr, strings.TrimPrefix(err.Error(), "mail: "))
	}
}

func (v *validator) slug(key, s string) {
	if !slugRE.MatchString(s) {
		v.add(key, "use lower-case letters, digits and '-', starting with a letter or digit, such as \"thoi-su\"", "%q is not a valid slug", s)
	}
}

// httpURL checks an absolute http(s) URL and reports whether it is one.
func (v *validator) httpURL(key, s, fix string) bool {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		v.add(key, fix, "%q is not an absolute http or https URL", s)
		return false
	}
	if u.Port() != "" && !validPort(u.Port(), false) {
		v.add(key, fix, "%q has an invalid port", s)
		return false
	}
	return true
}

func (v *validator) schedule(key, spec string) {
	const fix = "write 5 cron fields: minute hour day-of-month month day-of-week, such as \"0 6 * * *\" for 06:00 every day"
	s := strings.TrimSpace(spec)
	if s == "" {
		v.add(key, fix, "is missing")
		return
	}
	if strings.HasPrefix(s, "TZ=") || strings.HasPrefix(s, "CRON_TZ=") {
		v.add(key, "remove the TZ= prefix and set the newsletter's timezone key instead", "%q carries its own time zone", spec)
		return
	}
	if _, err := cron.ParseStandard(s); err != nil {
		v.add(key, fix, "%q is not a valid cron expression (%v)", spec, err)
	}
}

func validPort(p string, zeroOK bool) bool {
	n, err := strconv.Atoi(p)
	if err != nil {
		return false
	}
	if zeroOK && n == 0 {
		return true
	}
	return n >= 1 && n <= 65535
}

func boolCount(bs ...bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// parseRateLimit reads "N/second", "N/minute", "N/hour" or "N/day".
func parseRateLimit(s string) (count int, period time.Duration, err error) {
	m := rateLimitRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, fmt.Errorf("%q is not a count per period", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 {
		return 0, 0, fmt.Errorf("%q: the count must be a whole number of at least 1", s)
	}
	return n, ratePeriods[m[2]], nil
}
