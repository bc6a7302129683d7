// Package mailbox reads the bounce mailbox over IMAP: the folder the return
// path's mail lands in, which serve polls (bounces.imap). Each round it
// reads the messages it has not handled yet, hands the bounces,
// complaints and automatic replies to a bounce.Recorder, and moves each
// one recorded to the processed folder. Any other email is left where it
// was, unread: it is marked with the keyword $BantinSkipped so that the
// next rounds do not read it again, and never deleted.
//
// Every message is fetched with BODY.PEEK[], so nothing is marked seen
// before it is handled; a message the Recorder could not take stays in
// the mailbox and is read again next round (the events' IDs make the
// second time count once).
package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/bantin/bantin/internal/bounce"
)

// Defaults of Options.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultBatch     = 100
	DefaultMaxBytes  = bounce.DefaultMaxBytes
	DefaultInterval  = 5 * time.Minute
	DefaultMailbox   = "INBOX"
	DefaultProcessed = "bantin-processed"
	// SkippedKeyword marks a message read and found to be no bounce, so
	// later rounds pass it by; it is an IMAP keyword, which sets no \Seen.
	SkippedKeyword imap.Flag = "$BantinSkipped"
	// maxRemembered bounds the skipped messages remembered in memory on a
	// server that takes no keywords; past it they are read again.
	maxRemembered = 100_000
)

// Options say which mailbox to read and where its bounces go.
type Options struct {
	// Addr is the server's host:port.
	Addr     string
	Username string
	Password string
	// TLS is "tls" (TLS from the start), "starttls" or "none".
	TLS string
	// TLSConfig is used for "tls" and "starttls"; nil checks the server's
	// certificate against the system's roots for the host of Addr.
	TLSConfig *tls.Config
	// Mailbox is the folder read (DefaultMailbox when empty); Processed is
	// where recorded messages are moved (DefaultProcessed), made when
	// missing.
	Mailbox   string
	Processed string
	// Interval is the time between rounds (DefaultInterval when 0).
	Interval time.Duration
	// Timeout bounds the connection, the TLS handshake and each command's
	// answer, or a fetch's wait for its next message (DefaultTimeout).
	Timeout time.Duration
	// Batch is how many messages one FETCH asks for (DefaultBatch).
	Batch int
	// Parser reads each message; its MaxBytes (DefaultMaxBytes when 0) is
	// also the most of a message fetched from the server.
	Parser bounce.Options
	// Recorder takes the events; it is required.
	Recorder bounce.Recorder
	// Logger gets one line per round; nil discards.
	Logger *slog.Logger
}

// Stats count what one round did.
type Stats struct {
	// Read: messages fetched and parsed.
	Read int
	// Recorded: events the Recorder took (one per address a message names).
	Recorded int
	// Moved: messages moved to the processed folder.
	Moved int
	// Skipped: messages that are no bounce, left in the mailbox.
	Skipped int
	// Errors: messages left for the next round because recording or moving
	// them failed.
	Errors int
}

// Poller reads one bounce mailbox, a round at a time.
type Poller struct {
	opts Options
	log  *slog.Logger

	mu sync.Mutex
	// remembered are the messages found to be no bounce on a server that
	// keeps no keywords, by UID within uidValidity.
	uidValidity uint32
	remembered  map[imap.UID]struct{}
}

// New returns a Poller for opts.
func New(opts Options) *Poller {
	if opts.Mailbox == "" {
		opts.Mailbox = DefaultMailbox
	}
	if opts.Processed == "" {
		opts.Processed = DefaultProcessed
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Parser.MaxBytes <= 0 {
		opts.Parser.MaxBytes = DefaultMaxBytes
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Poller{opts: opts, log: log, remembered: map[imap.UID]struct{}{}}
}

// Run reads the mailbox at once and then every Interval until ctx ends,
// logging one line per round.
func (p *Poller) Run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		start := time.Now()
		st, err := p.Round(ctx)
		attrs := []any{"server", p.opts.Addr, "mailbox", p.opts.Mailbox, "read", st.Read, "recorded", st.Recorded,
			"moved", st.Moved, "skipped", st.Skipped, "errors", st.Errors, "took", time.Since(start).Round(time.Millisecond)}
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			p.log.Warn("bounce mailbox: round failed; next try after the interval", append(attrs, "err", err)...)
		default:
			p.log.Info("bounce mailbox read", attrs...)
		}
		timer.Reset(p.opts.Interval)
	}
}

// Round connects, reads every message not handled yet and disconnects.
// The error is for a round that could not be done (no connection, login
// refused, no such mailbox); a message that could not be recorded or moved
// is counted in Stats.Errors and left for the next round.
func (p *Poller) Round(ctx context.Context) (Stats, error) {
	var st Stats
	s, err := p.connect(ctx)
	if err != nil {
		return st, err
	}
	defer s.close()
	if err := s.do("login", func() error { return s.c.Login(p.opts.Username, p.opts.Password).Wait() }); err != nil {
		return st, err
	}
	var sel *imap.SelectData
	if err := s.do("select "+p.opts.Mailbox, func() (err error) {
		sel, err = s.c.Select(p.opts.Mailbox, nil).Wait()
		return err
	}); err != nil {
		return st, err
	}
	var caps imap.CapSet
	if err := s.do("capability", func() error { caps = s.c.Caps(); return nil }); err != nil {
		return st, err
	}
	r := &round{p: p, s: s, st: &st, caps: caps, uidValidity: sel.UIDValidity,
		keywords: slices.Contains(sel.PermanentFlags, imap.FlagWildcard) || slices.Contains(sel.PermanentFlags, SkippedKeyword)}
	uids, err := r.pending()
	if err != nil {
		return st, err
	}
	for batch := range slices.Chunk(uids, p.opts.Batch) {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		if err := r.batch(ctx, batch); err != nil {
			return st, err
		}
	}
	// The round's work is done; a LOGOUT left unanswered changes nothing.
	_ = s.do("logout", func() error { return s.c.Logout().Wait() })
	return st, nil
}

// round is the state of one Round.
type round struct {
	p           *Poller
	s           *session
	st          *Stats
	caps        imap.CapSet
	uidValidity uint32
	keywords    bool
	madeFolder  bool
}

// pending lists the UIDs to read: every message not deleted and not
// marked skipped (by keyword, or in memory on a server without keywords).
func (r *round) pending() ([]imap.UID, error) {
	notFlags := []imap.Flag{imap.FlagDeleted}
	if r.keywords {
		notFlags = append(notFlags, SkippedKeyword)
	}
	var data *imap.SearchData
	if err := r.s.do("search", func() (err error) {
		data, err = r.s.c.UIDSearch(&imap.SearchCriteria{NotFlag: notFlags}, nil).Wait()
		return err
	}); err != nil {
		return nil, err
	}
	uids := data.AllUIDs()
	if r.keywords {
		return uids, nil
	}
	p := r.p
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.uidValidity != r.uidValidity {
		p.uidValidity, p.remembered = r.uidValidity, map[imap.UID]struct{}{}
	}
	return slices.DeleteFunc(uids, func(u imap.UID) bool { _, ok := p.remembered[u]; return ok }), nil
}

// fetched is what was read of one message.
type fetched struct {
	uid    imap.UID
	at     time.Time
	report bounce.Report
	err    error
}

// batch fetches, records and moves one batch of messages.
func (r *round) batch(ctx context.Context, uids []imap.UID) error {
	msgs, err := r.fetch(uids)
	if err != nil {
		return err
	}
	var done, skipped imap.UIDSet
	for _, m := range msgs {
		r.st.Read++
		if m.err != nil && !errors.Is(m.err, bounce.ErrNotMessage) {
			// Not read to its end: left for the next round.
			r.st.Errors++
			r.p.log.Warn("bounce mailbox: message not read; it stays for the next round", "uid", m.uid, "err", m.err)
			continue
		}
		// Something that is no email at all is left alone like any
		// other mail that is no bounce.
		if m.err != nil || m.report.Kind == bounce.NotBounce || m.report.Kind == "" {
			r.st.Skipped++
			skipped.AddNum(m.uid)
			continue
		}
		if r.record(ctx, m) {
			done.AddNum(m.uid)
		} else {
			r.st.Errors++
		}
	}
	if len(skipped) > 0 {
		if err := r.skip(skipped); err != nil {
			return err
		}
	}
	if len(done) > 0 {
		n := countUIDs(done)
		if err := r.move(done); err != nil {
			// Recorded but still here: the next round reads them again,
			// and their events count once.
			r.st.Errors += n
			r.p.log.Warn("bounce mailbox: recorded messages not moved", "processed", r.p.opts.Processed, "messages", n, "err", err)
			if r.s.broken() {
				return err
			}
		} else {
			r.st.Moved += n
		}
	}
	return nil
}

// fetch reads the messages of uids, parsing each as it arrives so that at
// most one is held at a time.
func (r *round) fetch(uids []imap.UID) ([]fetched, error) {
	want := map[imap.UID]bool{}
	for _, u := range uids {
		want[u] = true
	}
	max := r.p.opts.Parser.MaxBytes
	opts := &imap.FetchOptions{
		UID:          true,
		InternalDate: true,
		// PEEK: nothing is marked \Seen; the partial range bounds what
		// the server sends (one byte more tells a cut message).
		BodySection: []*imap.FetchItemBodySection{{Peek: true, Partial: &imap.SectionPartial{Offset: 0, Size: max + 1}}},
	}
	var out []fetched
	err := r.s.do("fetch", func() error {
		cmd := r.s.c.Fetch(imap.UIDSetNum(uids...), opts)
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			r.s.progress()
			var f fetched
			body := false
			for {
				item := msg.Next()
				if item == nil {
					break
				}
				switch it := item.(type) {
				case imapclient.FetchItemDataUID:
					f.uid = it.UID
				case imapclient.FetchItemDataInternalDate:
					f.at = it.Time
				case imapclient.FetchItemDataBodySection:
					if it.Literal != nil && !body {
						body = true
						f.report, f.err = r.p.opts.Parser.Parse(it.Literal)
					}
				}
			}
			// Another client's flag change comes as a FETCH too: only
			// the messages asked for, with their body, count.
			if !want[f.uid] || !body {
				continue
			}
			want[f.uid] = false
			out = append(out, f)
		}
		return cmd.Close()
	})
	return out, err
}

// record hands the events of m to the Recorder; false when any failed.
func (r *round) record(ctx context.Context, m fetched) bool {
	ok := true
	// A notice without a Message-ID is known by its place (RFC 5092's
	// words), which stays while it waits for the next round.
	fallback := fmt.Sprintf("imap:%s;uidvalidity=%d;uid=%d", r.p.opts.Mailbox, r.uidValidity, m.uid)
	for _, ev := range m.report.Events("imap", fallback, m.at) {
		if _, err := r.p.opts.Recorder.Record(ctx, ev); err != nil {
			ok = false
			r.p.log.Warn("bounce mailbox: event not recorded; the message stays for the next round",
				"uid", m.uid, "kind", ev.Kind, "err", err)
			continue
		}
		r.st.Recorded++
	}
	return ok
}

// skip marks messages that are no bounce so later rounds pass them by: a
// keyword on the server, else a note in memory.
func (r *round) skip(uids imap.UIDSet) error {
	if !r.keywords {
		p := r.p
		p.mu.Lock()
		defer p.mu.Unlock()
		if len(p.remembered) >= maxRemembered {
			clear(p.remembered)
		}
		for _, rg := range uids {
			for u := rg.Start; ; u++ {
				p.remembered[u] = struct{}{}
				if u >= rg.Stop {
					break
				}
			}
		}
		return nil
	}
	return r.s.do("mark skipped", func() error {
		return r.s.c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{SkippedKeyword}}, nil).Close()
	})
}

// move moves uids to the processed folder, making it first if missing:
// MOVE where the server has it, else COPY, \Deleted and UID EXPUNGE of
// those UIDs only (without UIDPLUS they are left marked \Deleted, as an
// EXPUNGE would also remove what others marked).
func (r *round) move(uids imap.UIDSet) error {
	dest := r.p.opts.Processed
	if !r.madeFolder {
		var list []*imap.ListData
		if err := r.s.do("list "+dest, func() (err error) {
			list, err = r.s.c.List("", dest, nil).Collect()
			return err
		}); err != nil {
			return err
		}
		if len(list) == 0 {
			if err := r.s.do("create "+dest, func() error { return r.s.c.Create(dest, nil).Wait() }); err != nil {
				return err
			}
		}
		r.madeFolder = true
	}
	rev2 := r.caps.Has(imap.CapIMAP4rev2)
	if rev2 || r.caps.Has(imap.CapMove) {
		return r.s.do("move to "+dest, func() error {
			_, err := r.s.c.Move(uids, dest).Wait()
			return err
		})
	}
	if err := r.s.do("copy to "+dest, func() error {
		_, err := r.s.c.Copy(uids, dest).Wait()
		return err
	}); err != nil {
		return err
	}
	if err := r.s.do("mark deleted", func() error {
		return r.s.c.Store(uids, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	}); err != nil {
		return err
	}
	if !rev2 && !r.caps.Has(imap.CapUIDPlus) {
		return nil
	}
	return r.s.do("expunge", func() error { return r.s.c.UIDExpunge(uids).Close() })
}

func countUIDs(set imap.UIDSet) int {
	n := 0
	for _, rg := range set {
		n += int(rg.Stop-rg.Start) + 1
	}
	return n
}

// session is one connection with a watchdog: a server that stops
// answering for Timeout, or a cancelled round, closes the connection, so
// that every command waiting on it returns.
type session struct {
	c        *imapclient.Client
	raw      net.Conn
	ctx      context.Context
	timeout  time.Duration
	timer    *time.Timer
	timedOut atomic.Bool
	stop     func() bool
}

func (p *Poller) connect(ctx context.Context) (*session, error) {
	d := net.Dialer{Timeout: p.opts.Timeout}
	raw, err := d.DialContext(ctx, "tcp", p.opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", p.opts.Addr, err)
	}
	s := &session{raw: raw, ctx: ctx, timeout: p.opts.Timeout}
	s.timer = time.AfterFunc(time.Hour, func() { s.timedOut.Store(true); raw.Close() })
	s.timer.Stop()
	s.stop = context.AfterFunc(ctx, func() { raw.Close() })
	tlsConfig := p.tlsConfig()
	copts := &imapclient.Options{TLSConfig: tlsConfig}
	switch p.opts.TLS {
	case "tls":
		tc := tls.Client(raw, tlsConfig)
		if err := s.do("TLS handshake with "+p.opts.Addr, func() error { return tc.HandshakeContext(ctx) }); err != nil {
			s.close()
			return nil, err
		}
		s.c = imapclient.New(tc, copts)
	case "starttls":
		if err := s.do("STARTTLS with "+p.opts.Addr, func() (err error) {
			s.c, err = imapclient.NewStartTLS(raw, copts)
			return err
		}); err != nil {
			s.close()
			return nil, err
		}
	default:
		s.c = imapclient.New(raw, copts)
	}
	if err := s.do("greeting of "+p.opts.Addr, s.c.WaitGreeting); err != nil {
		s.close()
		return nil, err
	}
	return s, nil
}

func (p *Poller) tlsConfig() *tls.Config {
	if p.opts.TLSConfig != nil {
		return p.opts.TLSConfig.Clone()
	}
	host, _, err := net.SplitHostPort(p.opts.Addr)
	if err != nil {
		host = p.opts.Addr
	}
	return &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
}

// do runs one command under the watchdog and says what failed.
func (s *session) do(what string, f func() error) error {
	s.progress()
	err := f()
	s.timer.Stop()
	switch {
	case err == nil && !s.timedOut.Load():
		return nil
	case s.ctx.Err() != nil:
		return fmt.Errorf("%s: %w", what, s.ctx.Err())
	case s.timedOut.Load():
		return fmt.Errorf("%s: no answer within %s", what, s.timeout)
	default:
		return fmt.Errorf("%s: %w", what, err)
	}
}

// progress restarts the watchdog: the server has just answered.
func (s *session) progress() { s.timer.Reset(s.timeout) }

// broken says whether the connection was cut (timeout or cancel).
func (s *session) broken() bool { return s.timedOut.Load() || s.ctx.Err() != nil }

func (s *session) close() {
	s.timer.Stop()
	s.stop()
	if s.c != nil {
		s.c.Close()
	}
	s.raw.Close()
}
