package main

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/digest"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/templates"
)

// checked is what checkConfig built on the way, for serve and a reload to
// use rather than build again.
type checked struct {
	templates   *templates.Set
	newsletters []digest.Newsletter
}

// checkConfig runs the checks of a loaded config that take more than the
// config package knows: the templates load (templates_dir overrides
// included); each newsletter's template set exists, and its subject and
// email render on a sample issue as the digest renders them; the DKIM key
// reads and parses; the mail transport's settings build. `config check`,
// serve at start and every reload run it, so that what would make serve
// exit or fail every send is refused by config check first (the store
// and the listen address are left to serve). Every problem found is in
// one *config.Error (exit status 2) naming the key, the file and line
// that set it, and the fix.
func checkConfig(cfg *config.Config) (*checked, error) {
	var probs []config.Problem
	add := func(key, fix, format string, args ...any) {
		probs = append(probs, config.Problem{Key: key, Message: fmt.Sprintf(format, args...), Fix: fix})
	}

	// A folder that is not there would silently leave every override out.
	// Templates that do not load leave the newsletters' checks out (they
	// render through them), not the others.
	var tmpl *templates.Set
	var lists []digest.Newsletter
	if info, err := os.Stat(cfg.TemplatesDir); cfg.TemplatesDir != "" && (err != nil || !info.IsDir()) {
		add("templates_dir", "make the folder (with email/ and web/ files named as the built-in ones), or remove the key to use the built-in templates",
			"%s is not a folder", cfg.TemplatesDir)
	} else if tmpl, err = templates.Load(cfg.TemplatesDir); err != nil {
		add("templates_dir", "fix the template file named, or remove it from templates_dir to use the built-in one", "%v", err)
	} else {
		var listProbs []config.Problem
		lists, listProbs = newsletterProblems(cfg, tmpl)
		probs = append(probs, listProbs...)
	}

	m := cfg.Mail
	if m.DKIM.Enabled() {
		if _, err := loadDKIM(m.DKIM); err != nil {
			key, msg := splitKey(err, "mail.dkim.key_file")
			fix := ""
			if strings.HasSuffix(key, ".key_file") {
				fix = "name a readable, unencrypted PEM private key (RSA or Ed25519), or remove mail.dkim to send unsigned"
			}
			add(key, fix, "%s", msg)
		}
	}
	switch m.Transport {
	case "smtp":
		t, err := mail.NewSMTPTransport(mail.SMTPOptions{
			Host: m.SMTP.Host, Port: m.SMTP.Port, Username: m.SMTP.Username, Password: m.SMTP.Password,
			TLS: m.SMTP.TLS, Connections: m.SMTP.Connections, Rate: m.SMTP.Rate, Location: cfg.Location(),
		})
		if err != nil {
			key, msg := splitKey(err, "mail.smtp")
			add(key, "see the mail.smtp keys in config/bantin.example.yaml", "%s", msg)
		} else {
			_ = t.Close()
		}
	case "file":
		if info, err := os.Stat(m.FileDir); err == nil && !info.IsDir() {
			add("mail.file_dir", "name a folder (it is made when missing), or remove the file", "%s is a file, not a folder", m.FileDir)
		}
	}
	if pm := cfg.Bounces.Postmark; (pm.Username == "") != (pm.Password == "") {
		add("bounces.postmark", "set both username and password (as in the webhook URL given to Postmark), or neither to turn it off",
			"only one of username and password is set")
	}
	if k := cfg.Bounces.SendGrid.PublicKey; k != "" {
		if err := bounce.CheckSendGridKey(k); err != nil {
			add("bounces.sendgrid.public_key", "paste the verification key SendGrid shows for the signed event webhook (Mail Settings, Event Webhook), or leave it empty",
				"%v", err)
		}
	}
	if err := cfg.Place(probs); err != nil {
		return nil, err
	}
	return &checked{templates: tmpl, newsletters: lists}, nil
}

// loadChecked loads the config and runs checkConfig on it, as config
// check, serve and a reload do: every problem of both in one
// *config.Error, in the order of the file's lines. checkConfig runs on
// what loaded even when the keys' values have problems (each bad value
// left at its default), so that one run names them all.
func loadChecked(opts *options) (*config.Config, *checked, error) {
	cfg, loadErr := config.Check(config.LoadOptions{Path: opts.configPath})
	if cfg == nil {
		return nil, nil, loadErr
	}
	checks, checkErr := checkConfig(cfg)
	if err := config.Join(loadErr, checkErr); err != nil {
		return cfg, nil, err
	}
	return cfg, checks, nil
}

// splitKey splits the error of a mail constructor, which starts with the
// key it is about ("mail.dkim.key_file: cannot read…"), into that key and
// the rest; fallback is the key when the message names none.
func splitKey(err error, fallback string) (key, msg string) {
	msg = err.Error()
	if !strings.HasPrefix(msg, "mail.") {
		return fallback, msg
	}
	end := strings.IndexAny(msg, ": ")
	if end < 0 {
		return fallback, msg
	}
	return msg[:end], strings.TrimLeft(msg[end:], ": ")
}

// newsletterProblems reads the newsletters of cfg for the digest: each
// schedule and subject parses, each names a template set tmpl has, and a
// sample issue renders through both, as every issue will.
func newsletterProblems(cfg *config.Config, tmpl *templates.Set) ([]digest.Newsletter, []config.Problem) {
	var lists []digest.Newsletter
	var probs []config.Problem
	add := func(key, fix, format string, args ...any) {
		probs = append(probs, config.Problem{Key: key, Message: fmt.Sprintf(format, args...), Fix: fix})
	}
	for i, n := range cfg.Newsletters {
		prefix := fmt.Sprintf("newsletters[%d]", i)
		loc := n.Location()
		// Each check of a list is made whatever the others found, so that
		// one run names every problem.
		ok := true
		sched, err := digest.ParseSchedule(n.Schedule, loc)
		if err != nil {
			add(prefix+".schedule", "write 5 cron fields, such as \"0 6 * * *\"", "%v", err)
			ok = false
		}
		subject, err := digestSubject(n.Subject)
		if err != nil {
			add(prefix+".subject", subjectFix, "%v", err)
			ok = false
		}
		name := n.Template
		if name == "" {
			name = "digest"
		}
		if !tmpl.HasEmail(name) {
			add(prefix+".template", fmt.Sprintf("add %s.html and %s.txt under templates_dir/email/, or remove the key for the built-in \"digest\"", name, name),
				"no email template set %q", name)
			continue
		}
		if subject == nil {
			continue
		}
		sample := sampleIssue(cfg, n.ID, n.Title, loc, subject, n.Template)
		if _, err := sample.SubjectLine(); err != nil {
			add(prefix+".subject", subjectFix, "%q does not render: %v", n.Subject, err)
			continue
		}
		if _, err := sample.Render(tmpl, digest.Recipient{Email: "ban.doc@example.com", Name: "Bạn đọc",
			UnsubscribeURL: cfg.Site.BaseURL + "/unsubscribe/mau", PreferencesURL: cfg.Site.BaseURL + "/preferences/mau"}); err != nil {
			key := prefix + ".template"
			if n.Template == "" {
				key = "templates_dir"
			}
			add(key, "fix the template so that it renders an issue (see templates/email/digest.html for the fields)", "email template set %q does not render: %v", name, err)
			continue
		}
		if !ok {
			continue
		}
		lists = append(lists, digest.Newsletter{
			ID: n.ID, Title: n.Title, Description: n.Description, Schedule: sched, Location: loc,
			Categories: n.Categories, MaxArticles: n.MaxArticles, MaxAge: n.MaxAge, Subject: subject, Template: n.Template,
		})
	}
	return lists, probs
}

// subjectFix is the fix of a subject that does not parse or render.
const subjectFix = "use only {{.List.Title}}, {{.List.ID}}, {{.Date}}, {{.Count}}, {{.Number}} and {{(index .Articles 0).Title}}"

// sampleIssue is an issue of one article, built as the digest builds
// them, to render a list's subject and email before any real issue does.
func sampleIssue(cfg *config.Config, id, title string, loc *time.Location, subject *texttemplate.Template, templateID string) digest.Issue {
	now := time.Now().In(loc)
	base := strings.TrimRight(cfg.Site.BaseURL, "/")
	a := article.Article{
		ID: "mau", Slug: "bai-mau", Title: "Bài mẫu", Author: "Ban biên tập", Summary: "Tóm tắt bài mẫu.",
		ContentHTML: "<p>Tóm tắt bài mẫu.</p><p>Nội dung bài mẫu.</p>",
		Categories:  []article.Category{{Slug: "mau", Title: "Mẫu"}},
		PublishedAt: now, UpdatedAt: now, StoredAt: now,
	}
	return digest.Issue{
		List: digest.List{ID: id, Title: title}, Number: 1, Date: now, Articles: []article.Article{a},
		Site: cfg.Site.Title, Sender: cfg.Site.Title + " · " + base, BaseURL: base, Lang: cfg.Site.Language,
		Location: loc, Subject: subject, TemplateID: templateID,
	}
}

// startWarnings names what in cfg is valid but most likely a mistake,
// for serve to log at start and config check to print: links that
// would point at the wrong place. site.base_url starts every link in
// feeds, emails and pages, and the GUID of every new article (fixed
// for good at its first store).
func startWarnings(cfg *config.Config) []string {
	def := config.Default()
	var out []string
	listenHost, _, err := net.SplitHostPort(cfg.Server.Listen)
	if err != nil {
		return nil // config.Validate names it
	}
	base, err := url.Parse(cfg.Site.BaseURL)
	if err != nil {
		return nil
	}
	switch {
	case cfg.Site.BaseURL == def.Site.BaseURL && cfg.Server.Listen != def.Server.Listen:
		out = append(out, fmt.Sprintf("server.listen is %s but site.base_url is left at its default %s: every link in feeds, emails and pages, and the GUID of every new article (fixed for good), would point there; set site.base_url to the address readers use, such as https://news.example.vn",
			cfg.Server.Listen, def.Site.BaseURL))
	case loopbackHost(base.Hostname()) && !loopbackHost(listenHost):
		out = append(out, fmt.Sprintf("site.base_url %s is on this machine only, but server.listen %s takes connections from other machines: readers there would get links to their own machine, and new articles would get GUIDs on it for good; set site.base_url to the address readers use, such as https://news.example.vn",
			cfg.Site.BaseURL, cfg.Server.Listen))
	}
	return out
}

// loopbackHost reports whether host names this machine only: localhost
// or a loopback address. An empty host (":8080") is every address.
func loopbackHost(host string) bool {
	if host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
