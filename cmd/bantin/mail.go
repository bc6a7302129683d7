package main

import (
	"context"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/subscriber"
	"github.com/bantin/bantin/templates"
)

// tokenSecret names the store secret that signs subscriber links.
const tokenSecret = "subscriber-tokens"

// loadDKIM reads every key of mail.dkim.
func loadDKIM(cfg config.DKIM) (*mail.DKIM, error) {
	d, err := mail.LoadDKIM(cfg.Domain, cfg.Selector, cfg.KeyFile)
	if err != nil {
		return nil, err
	}
	for i, k := range cfg.ExtraKeys {
		key, err := mail.LoadDKIMKey(fmt.Sprintf("mail.dkim.extra_keys[%d]", i), cfg.Domain, k.Selector, k.KeyFile)
		if err != nil {
			return nil, err
		}
		d.Also = append(d.Also, key)
	}
	return d, nil
}

// transport builds the mail transport of the config: .eml files by
// default, else SMTP; DKIM-signed when mail.dkim is set.
func (a *app) transport() (mail.Transport, error) {
	cfg := a.cfg.Mail
	var dkim *mail.DKIM
	if cfg.DKIM.Enabled() {
		d, err := loadDKIM(cfg.DKIM)
		if err != nil {
			return nil, err
		}
		dkim = d
	}
	if cfg.Transport == "smtp" {
		timeout := testSMTPTimeout()
		return mail.NewSMTPTransport(mail.SMTPOptions{
			Host: cfg.SMTP.Host, Port: cfg.SMTP.Port, Username: cfg.SMTP.Username, Password: cfg.SMTP.Password,
			TLS: cfg.SMTP.TLS, Connections: cfg.SMTP.Connections, Rate: cfg.SMTP.Rate,
			GreetingTimeout: timeout, CommandTimeout: timeout, DataTimeout: timeout,
			Location: a.cfg.Location(), Now: a.now, DKIM: dkim, ObserveTransaction: a.metricsSMTP(),
		})
	}
	ft, err := mail.NewFileTransport(cfg.FileDir, a.cfg.Location(), a.now)
	if err != nil {
		return nil, err
	}
	ft.DKIM = dkim
	return ft, nil
}

// testSMTPTimeout reads BANTIN_TEST_SMTP_TIMEOUT, a duration that replaces
// the SMTP greeting, command and data timeouts (30 s, 30 s, 2 min), so that
// the end-to-end tests see a silent relay given up on in seconds rather
// than in the real two minutes. Like every BANTIN_TEST_ variable it is no
// config key; zero (unset or unreadable) keeps the real timeouts.
func testSMTPTimeout() time.Duration {
	d, err := time.ParseDuration(os.Getenv("BANTIN_TEST_SMTP_TIMEOUT"))
	if err != nil || d < 0 {
		return 0
	}
	return d
}

// outbox builds the durable outbox on a transport; permanent failures
// count toward the subscriber's bounce limit.
func (a *app) outbox(t mail.Transport, logger *slog.Logger) *mail.Outbox {
	// A claimed batch must be sent well within its lease, or another
	// sender takes it over and sends it again: with a slow rate limit,
	// claim fewer at a time.
	const lease = 10 * time.Minute
	batch := 50
	if rate := a.cfg.Mail.SMTP.Rate; a.cfg.Mail.Transport == "smtp" && rate > 0 {
		batch = max(1, min(batch, int(rate*lease.Seconds()/4)))
	}
	return mail.NewOutbox(mail.OutboxOptions{
		Store: a.store, Transport: t, Logger: logger, Now: a.now, Batch: batch, Lease: lease,
		OnPermanent: func(ctx context.Context, id int64, code int) {
			// The one bounce policy, as for every other way in; the token
			// names the subscriber of a confirmation email.
			kit, err := a.bounceKit(ctx)
			if err != nil {
				logger.Warn("bounce not recorded", "subscriber", id, "err", err)
				return
			}
			ev := bounce.Event{Source: "smtp", Kind: bounce.Hard, Token: kit.tokens.MakeReturn(0, id),
				Reason: fmt.Sprintf("the relay refused the recipient (%d)", code)}
			if _, err := kit.policy.Record(ctx, ev); err != nil {
				logger.Warn("bounce not recorded", "subscriber", id, "err", err)
			}
		},
	})
}

// subscribers builds the subscriber service of the config.
func (a *app) subscribers(ctx context.Context, mailer subscriber.Mailer, tmpl *templates.Set) (*subscriber.Service, error) {
	cfg := a.cfg
	from, replyTo, err := a.senderAddresses()
	if err != nil {
		return nil, err
	}
	lists := subscriberLists(cfg)
	kit, err := a.bounceKit(ctx)
	if err != nil {
		return nil, err
	}
	return subscriber.NewService(subscriber.Options{
		Store: a.store, Mailer: mailer, Emails: tmpl, Tokens: kit.tokens, Lists: lists,
		SiteTitle: cfg.Site.Title, BaseURL: cfg.Site.BaseURL, Language: cfg.Site.Language,
		From: *from, ReplyTo: replyTo, DoubleOptIn: cfg.Subscribe.DoubleOptIn, ConfirmTTL: cfg.Subscribe.ConfirmTTL,
		ConfirmResend: cfg.Subscribe.ConfirmResend, Now: a.now, ReturnPath: kit.returnPath,
	}), nil
}

// senderAddresses reads mail.from and mail.reply_to (nil when it is
// unset or the same as From).
func (a *app) senderAddresses() (*netmail.Address, *netmail.Address, error) {
	cfg := a.cfg.Mail
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, nil, fmt.Errorf("mail.from %q: %w", cfg.From, err)
	}
	var replyTo *netmail.Address
	if cfg.ReplyTo != "" && cfg.ReplyTo != cfg.From {
		if replyTo, err = netmail.ParseAddress(cfg.ReplyTo); err != nil {
			return nil, nil, fmt.Errorf("mail.reply_to %q: %w", cfg.ReplyTo, err)
		}
	}
	return from, replyTo, nil
}

// subscriberLists are the newsletters of cfg as the subscription pages
// show them.
func subscriberLists(cfg *config.Config) []subscriber.List {
	var lists []subscriber.List
	for _, n := range cfg.Newsletters {
		lists = append(lists, subscriber.List{ID: n.ID, Title: n.Title, Description: n.Description})
	}
	return lists
}

// trustedProxies reads server.trusted_proxies: CIDRs or single addresses.
func trustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("server.trusted_proxies: %q is neither a CIDR nor an address", s)
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}
