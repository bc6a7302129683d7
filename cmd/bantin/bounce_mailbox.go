package main

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"strconv"

	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/bounce/mailbox"
)

// bounceMailbox builds the poller of bounces.imap, nil while its host is
// empty. Events go to rec; parse says where the return path's token is.
func (a *app) bounceMailbox(rec bounce.Recorder, parse bounce.Options, logger *slog.Logger) *mailbox.Poller {
	im := a.cfg.Bounces.IMAP
	if im.Host == "" {
		return nil
	}
	addr := net.JoinHostPort(im.Host, strconv.Itoa(im.Port))
	if im.TLS == "none" && !loopback(im.Host) {
		logger.Warn("bounces.imap.tls is none: the mailbox's password goes over the network unencrypted", "server", addr)
	}
	return mailbox.New(mailbox.Options{
		Addr: addr, Username: im.Username, Password: im.Password, TLS: im.TLS,
		Mailbox: im.Mailbox, Processed: im.Processed, Interval: im.Interval,
		Parser: parse, Recorder: rec, Logger: logger,
	})
}

// runBounceMailbox reads the bounce mailbox until ctx ends, in one process
// of those sharing the store: two would read and move the same messages.
func (a *app) runBounceMailbox(ctx context.Context, box *mailbox.Poller, holder string, logger *slog.Logger) {
	whileLeading(ctx, a.store, "bounces", holder, logger, box.Run)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
