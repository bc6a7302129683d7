package mail

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
	"golang.org/x/time/rate"
)

// SMTPOptions configure an SMTPTransport (the mail.smtp.* keys).
type SMTPOptions struct {
	Host     string
	Port     int // 25 when zero
	Username string
	Password string
	// TLS is "starttls" (required STARTTLS, the default), "tls" (implicit
	// TLS from the first byte) or "none".
	TLS string
	// TLSConfig overrides the TLS settings (tests, private CAs); its
	// ServerName defaults to Host.
	TLSConfig *tls.Config
	// Connections is how many SMTP sessions may be open at once (4 when
	// zero). Each is reused for many messages.
	Connections int
	// Rate is messages per second over all connections; 0 means no limit.
	Rate float64
	// GreetingTimeout bounds the opening of a session: the dial, the
	// relay's greeting, EHLO, STARTTLS and AUTH (30 s when zero).
	// CommandTimeout bounds each later command: NOOP, MAIL, RCPT, DATA,
	// RSET (30 s). DataTimeout bounds the message bytes and the answer to
	// their end (2 min for a small message, a minute more per MiB, at most
	// five times as long). A relay that lets one of them pass is down.
	GreetingTimeout, CommandTimeout, DataTimeout time.Duration
	// RelayTries is how many failures of the relay in a row (refused, no
	// greeting, a failed handshake, a timeout) a Send waits through,
	// pausing every connection RelayBackoff after the first, doubling,
	// before it gives up on the messages left with a *RelayError (3 tries,
	// 2 s). After that each Send answers at once until the next pause ends,
	// when one dial probes the relay; pauses grow up to RelayPauseMax (1
	// min). With the default timeouts a relay that never greets costs a
	// Send 30 + 2 + 30 + 4 + 30 s, under two minutes.
	RelayTries                  int
	RelayBackoff, RelayPauseMax time.Duration
	// HELO is the name given in EHLO; the machine's host name when empty.
	HELO string
	// Location is the zone of the Date header (UTC when nil).
	Location *time.Location
	// Now fills zero dates (time.Now when nil).
	Now func() time.Time
	// DKIM, when not nil, signs every message (the mail.dkim.* keys).
	DKIM *DKIM
	// ObserveTransaction is told the outcome and duration of each SMTP
	// transaction (metrics); nil for none.
	ObserveTransaction func(outcome Status, d time.Duration)
}

// SMTPTransport sends through an SMTP relay over at most Connections
// sessions, each kept open and reused across messages and Send calls.
// go-mail has no pool, so the transport keeps one go-mail client per slot,
// dials it on first use and redials after a dropped connection.
type SMTPTransport struct {
	opts    SMTPOptions
	limiter *rate.Limiter // nil: no limit
	slots   chan *smtpConn
	relay   *circuit
	done    chan struct{}

	closeOnce sync.Once
}

var _ EndGate = (*SMTPTransport)(nil)

// smtpConn is one slot: a go-mail client, the smtp.Client of its session
// (kept here rather than inside the go-mail client, so that signed bytes can
// be sent over it too) and the raw connection under it, which is closed to
// abort a command when the caller's context ends (go-mail's own context only
// bounds the dial).
type smtpConn struct {
	client *gomail.Client
	smtp   *smtp.Client
	raw    net.Conn
	used   time.Time // the end of the last transaction
}

// idleCheck is how long a session may sit unused before a NOOP checks it
// ahead of the next message.
const idleCheck = 2 * time.Second

// NewSMTPTransport checks opts and returns a transport. It does not dial:
// sessions open on the first Send.
func NewSMTPTransport(opts SMTPOptions) (*SMTPTransport, error) {
	if opts.Host == "" {
		return nil, errors.New("mail.smtp.host: empty")
	}
	if opts.Port == 0 {
		opts.Port = 25
	}
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, fmt.Errorf("mail.smtp.port: %d out of range", opts.Port)
	}
	switch opts.TLS {
	case "":
		opts.TLS = "starttls"
	case "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("mail.smtp.tls: %q is not starttls, tls or none", opts.TLS)
	}
	if opts.Connections == 0 {
		opts.Connections = 4
	}
	if opts.Connections < 0 {
		return nil, fmt.Errorf("mail.smtp.connections: %d is negative", opts.Connections)
	}
	if opts.Rate < 0 {
		return nil, fmt.Errorf("mail.smtp.rate: %g is negative", opts.Rate)
	}
	opts.GreetingTimeout = cmp.Or(opts.GreetingTimeout, 30*time.Second)
	opts.CommandTimeout = cmp.Or(opts.CommandTimeout, 30*time.Second)
	opts.DataTimeout = cmp.Or(opts.DataTimeout, 2*time.Minute)
	opts.RelayTries = cmp.Or(opts.RelayTries, 3)
	opts.RelayBackoff = cmp.Or(opts.RelayBackoff, 2*time.Second)
	opts.RelayPauseMax = cmp.Or(opts.RelayPauseMax, time.Minute)
	if opts.GreetingTimeout < 0 || opts.CommandTimeout < 0 || opts.DataTimeout < 0 || opts.RelayTries < 0 ||
		opts.RelayBackoff < 0 || opts.RelayPauseMax < 0 {
		return nil, errors.New("smtp transport: a negative timeout, try count or pause")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.TLSConfig == nil {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		opts.TLSConfig = opts.TLSConfig.Clone()
	}
	if opts.TLSConfig.ServerName == "" {
		opts.TLSConfig.ServerName = opts.Host
	}
	t := &SMTPTransport{
		opts:  opts,
		slots: make(chan *smtpConn, opts.Connections),
		done:  make(chan struct{}),
		relay: newCircuit(net.JoinHostPort(opts.Host, strconv.Itoa(opts.Port)), opts.RelayTries, opts.RelayBackoff, opts.RelayPauseMax),
	}
	if opts.Rate > 0 {
		// Burst 1: messages are spread evenly, never sent in a clump.
		t.limiter = rate.NewLimiter(rate.Limit(opts.Rate), 1)
	}
	for range opts.Connections {
		t.slots <- &smtpConn{}
	}
	return t, nil
}

// Send delivers msgs over up to Connections sessions in parallel and
// returns one Result per message, in order. Messages not attempted because
// ctx ended or the transport closed are Temporary.
func (t *SMTPTransport) Send(ctx context.Context, msgs []Message) []Result {
	results := make([]Result, len(msgs))
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range min(t.opts.Connections, len(msgs)) {
		wg.Go(func() {
			var c *smtpConn
			select {
			case c = <-t.slots:
			case <-ctx.Done():
			case <-t.done:
			}
			if c == nil {
				err := ctx.Err()
				if err == nil {
					err = ErrClosed
				}
				for i := range jobs {
					results[i] = Result{Status: Temporary, Err: fmt.Errorf("send message to %s: %w", msgs[i].To.Address, err)}
				}
				return
			}
			defer func() { t.slots <- c }()
			for i := range jobs {
				results[i] = t.sendOne(ctx, c, msgs[i])
			}
		})
	}
	for i := range msgs {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return results
}

// GatesEnd says that Send calls each message's BeforeEnd before its end
// of data (EndGate).
func (t *SMTPTransport) GatesEnd() {}

// Sign returns m with its DKIM signature in Raw when the transport signs
// and m is a Raw copy (Bulk.CopyMessage), so that a caller can sign its next
// messages on another core while the connections carry the ones before:
// an RSA-2048 signature costs about as much CPU as the rest of a copy's
// sending. Other messages come back as they are, and are signed when sent.
func (t *SMTPTransport) Sign(m Message) (Message, error) {
	if t.opts.DKIM == nil || m.Raw == nil || m.Signed {
		return m, nil
	}
	raw, err := t.opts.DKIM.signRaw(m)
	if err != nil {
		return m, err
	}
	m.Raw, m.Signed = raw, true
	return m, nil
}

// sendOne sends m over c, opening a session when c has none. A relay that
// cannot be reached is waited for through the circuit, every connection
// together; once the circuit gives up, m is Temporary with a *RelayError
// at once, without a dial of its own.
func (t *SMTPTransport) sendOne(ctx context.Context, c *smtpConn, m Message) Result {
	if m.Date.IsZero() {
		m.Date = t.opts.Now()
	}
	// The message is rendered into memory once (and signed when DKIM is
	// on) and its bytes sent in large writes: go-mail would write it into
	// the DATA stream a few bytes at a time.
	p, err := prepare(m, t.opts.Location, t.opts.DKIM)
	if errors.Is(err, ErrInvalid) {
		return Result{Status: Permanent, Err: fmt.Errorf("build message to %s: %w", m.To.Address, err)}
	}
	id := p.id
	temporary := func(err error) Result {
		return Result{MessageID: id, Status: Temporary, Err: fmt.Errorf("send %s to %s: %w", id, m.To.Address, err)}
	}
	if err != nil {
		// A signing failure is the sender's key, not the recipient's:
		// Temporary, so it never counts as a bounce.
		return temporary(err)
	}
	if err := ctx.Err(); err != nil {
		return temporary(err)
	}
	if t.limiter != nil {
		if err := t.limiter.Wait(ctx); err != nil {
			return temporary(err)
		}
	}
	for attempt := 0; ; attempt++ {
		if c.client == nil {
			if err := t.open(ctx, c); err != nil {
				// A relay we cannot reach or log in to is never the
				// recipient's fault, whatever the code: Temporary.
				return temporary(err)
			}
		}
		tk := t.relay.generation()
		raw := c.raw
		stop := context.AfterFunc(ctx, func() { raw.Close() })
		began := time.Now()
		err := sendRaw(c.smtp, p.from, p.to, p.data, t.opts.CommandTimeout, dataTimeout(t.opts.DataTimeout, len(p.data)),
			time.Since(c.used) > idleCheck, m.BeforeEnd)
		stop()
		var held *heldBack
		if errors.As(err, &held) {
			// Our own hold, not the relay's failure: the session is in
			// the middle of the DATA and goes without its end, so the
			// relay drops the message.
			c.drop()
			return temporary(held.err)
		}
		if t.opts.ObserveTransaction != nil && !errors.Is(err, errRawConnCheck) {
			outcome := Sent
			if err != nil {
				outcome, _ = classify(err)
			}
			t.opts.ObserveTransaction(outcome, time.Since(began))
		}
		c.used = time.Now()
		if err == nil {
			t.relay.succeeded()
			return Result{MessageID: id, Status: Sent}
		}
		if ctx.Err() != nil {
			c.drop()
			return temporary(errors.Join(ctx.Err(), err))
		}
		if timedOut(err) {
			// The relay stopped answering in the middle: a failure of
			// the relay, which pauses every connection, not a retry of
			// this message that costs the next one the same timeout.
			c.drop()
			return temporary(t.relay.failed(tk, fmt.Errorf("the relay stopped answering: %w", err)))
		}
		if errors.Is(err, errRawConnCheck) {
			// The session died before this message began: nothing was
			// sent, so redial and try once more.
			c.drop()
			if attempt == 0 {
				continue
			}
		}
		status, code := classify(err)
		if code != 0 {
			// The relay answered, if only to refuse: it is up.
			t.relay.succeeded()
		}
		if code == 0 || code == 421 {
			// Network error or the relay closing: the session is gone.
			c.drop()
		}
		return Result{MessageID: id, Status: status, Code: code, Rejected: status == Permanent && recipientRefused(err),
			Err: fmt.Errorf("send %s to %s: %w", id, m.To.Address, err)}
	}
}

// open opens a session for c through the circuit: it waits while the
// relay is paused, and returns a *RelayError once the circuit gives up.
func (t *SMTPTransport) open(ctx context.Context, c *smtpConn) error {
	for {
		tk, err := t.relay.acquire(ctx)
		if err != nil {
			return err
		}
		err = t.dial(ctx, c)
		switch {
		case err == nil:
			t.relay.opened(tk)
			return nil
		case ctx.Err() != nil:
			t.relay.abandon(tk)
			return errors.Join(ctx.Err(), err)
		}
		t.relay.failed(tk, err)
	}
}

// Reachable returns nil when messages may be sent now, and a *RelayError
// while the circuit has given up on the relay, at once and without a dial.
// When a pause has ended it probes the relay with a session of its own,
// kept for the next message, so that a caller can learn the relay is back
// before it takes any message from its queue; it waits through the pauses
// before the last try, as Send does.
func (t *SMTPTransport) Reachable(ctx context.Context) error {
	if err, ok := t.relay.settled(); ok {
		return err
	}
	for {
		// The slot is taken before the circuit's leave, never after: a
		// probe must not wait for a slot that a Send holds while it
		// waits for that probe.
		var c *smtpConn
		select {
		case c = <-t.slots:
		case <-ctx.Done():
			return ctx.Err()
		case <-t.done:
			return ErrClosed
		}
		tk, err := t.relay.acquire(ctx)
		if err != nil || !tk.probe {
			t.slots <- c
			return err
		}
		// A session from before the failures proves nothing now.
		c.drop()
		err = t.dial(ctx, c)
		t.slots <- c
		switch {
		case err == nil:
			t.relay.opened(tk)
			return nil
		case ctx.Err() != nil:
			t.relay.abandon(tk)
			return errors.Join(ctx.Err(), err)
		}
		t.relay.failed(tk, err)
	}
}

// dial opens a session for c.
func (t *SMTPTransport) dial(ctx context.Context, c *smtpConn) error {
	o := t.opts
	dialer := &net.Dialer{Timeout: o.GreetingTimeout}
	var raw net.Conn
	dialFunc := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		var err error
		if o.TLS == "tls" {
			conn, err = (&tls.Dialer{NetDialer: dialer, Config: o.TLSConfig}).DialContext(ctx, network, addr)
		} else {
			conn, err = dialer.DialContext(ctx, network, addr)
		}
		raw = conn
		return conn, err
	}
	clientOpts := []gomail.Option{
		gomail.WithPort(o.Port),
		// go-mail sets this deadline before the greeting and again
		// before EHLO, which STARTTLS and AUTH share.
		gomail.WithTimeout(o.GreetingTimeout),
		gomail.WithDialContextFunc(dialFunc),
		gomail.WithTLSConfig(o.TLSConfig),
	}
	switch o.TLS {
	case "starttls":
		clientOpts = append(clientOpts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	default: // "tls" is already encrypted by dialFunc; "none" stays plain
		clientOpts = append(clientOpts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if o.HELO != "" {
		clientOpts = append(clientOpts, gomail.WithHELO(o.HELO))
	}
	if o.Username != "" {
		clientOpts = append(clientOpts,
			gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(o.Username),
			gomail.WithPassword(o.Password))
	}
	client, err := gomail.NewClient(o.Host, clientOpts...)
	if err != nil {
		return fmt.Errorf("smtp client for %s:%d: %w", o.Host, o.Port, err)
	}
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		if raw != nil {
			raw.Close()
		}
		if timedOut(err) && ctx.Err() == nil {
			return fmt.Errorf("dial %s:%d: no greeting or answer within %v: %w", o.Host, o.Port, o.GreetingTimeout, err)
		}
		return fmt.Errorf("dial %s:%d: %w", o.Host, o.Port, err)
	}
	c.client, c.smtp, c.raw = client, sc, raw
	return nil
}

// drop forgets c's session without a QUIT: it is broken or in an unknown state.
func (c *smtpConn) drop() {
	if c.raw != nil {
		c.raw.Close()
	}
	c.client, c.smtp, c.raw = nil, nil, nil
}

// quit ends c's session politely, waiting at most a few seconds.
func (c *smtpConn) quit() error {
	if c.client == nil {
		return nil
	}
	_ = c.raw.SetDeadline(time.Now().Add(2 * time.Second))
	err := c.client.CloseWithSMTPClient(c.smtp)
	c.drop()
	return err
}

// Close waits for messages in flight, sends QUIT on every open session and
// makes later Sends fail with ErrClosed.
func (t *SMTPTransport) Close() error {
	var errs []error
	t.closeOnce.Do(func() {
		close(t.done)
		for range t.opts.Connections {
			c := <-t.slots
			if err := c.quit(); err != nil {
				errs = append(errs, err)
			}
		}
	})
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("close smtp transport: %w", err)
	}
	return nil
}
