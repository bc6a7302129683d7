package mail

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/bantin/bantin/internal/store"
)

// OutboxStore is what the outbox keeps its messages in.
type OutboxStore interface {
	EnqueueMail(ctx context.Context, m store.OutboxMail) (bool, error)
	ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.OutboxMail, error)
	MarkMailSent(ctx context.Context, m store.OutboxMail, now time.Time) error
	MarkMailRetry(ctx context.Context, m store.OutboxMail, next time.Time, reason string) error
	MarkMailFailed(ctx context.Context, m store.OutboxMail, now time.Time, reason string) error
}

// OutboxOptions configures an Outbox.
type OutboxOptions struct {
	Store     OutboxStore
	Transport Transport
	Logger    *slog.Logger
	Now       func() time.Time
	// Batch is how many messages one claim takes (default 50); Lease how
	// long a claim holds them (default 10 minutes).
	Batch int
	Lease time.Duration
	// RetryBase is the wait after the first temporary failure (default 1
	// minute); each further one doubles it, up to RetryMax (default 6
	// hours), with ±20% jitter so retries of a busy relay spread out.
	// After MaxAttempts sends (default 10) a message fails for good.
	RetryBase   time.Duration
	RetryMax    time.Duration
	MaxAttempts int
	// OnPermanent is told of every recipient refused for good (a 5xx to
	// RCPT TO): the subscriber's bounce count goes up there.
	OnPermanent func(ctx context.Context, subscriberID int64, code int)
	// Poll is how often Run looks for due messages when nothing wakes it
	// (default 1 s): retries come due, other processes enqueue.
	Poll time.Duration
	// StopGrace is how long a batch being sent may go on after the context
	// ends (default 30 s): a stop lets SMTP transactions in flight finish
	// rather than cut them and send them again later.
	StopGrace time.Duration
}

// Outbox sends messages durably: each is recorded before it is sent and
// marked after, temporary failures are retried with backoff, permanent
// ones fail the message and are reported.
type Outbox struct {
	opts OutboxOptions
	wake chan struct{}
}

// NewOutbox builds an Outbox.
func NewOutbox(opts OutboxOptions) *Outbox {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Batch <= 0 {
		opts.Batch = 50
	}
	if opts.Lease <= 0 {
		opts.Lease = 10 * time.Minute
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Minute
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 6 * time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 30 * time.Second
	}
	return &Outbox{opts: opts, wake: make(chan struct{}, 1)}
}

// Enqueue records m for sending. Its MessageID (made now when empty) is
// its identity: the same MessageID again is no second message.
func (o *Outbox) Enqueue(ctx context.Context, kind string, subscriberID int64, m Message) (string, error) {
	id, err := messageID(m.MessageID, m.From.Address)
	if err != nil {
		return "", err
	}
	m.MessageID = id
	if m.Date.IsZero() {
		m.Date = o.opts.Now()
	}
	payload, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("enqueue %s: %w", id, err)
	}
	if _, err := o.opts.Store.EnqueueMail(ctx, store.OutboxMail{MessageID: id, Kind: kind, SubscriberID: subscriberID,
		Recipient: m.To.Address, Payload: payload, NextAttempt: o.opts.Now(), CreatedAt: o.opts.Now()}); err != nil {
		return "", err
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return id, nil
}

// Run sends due messages until ctx ends. While the relay cannot be
// reached it says so once and waits for the transport's next try.
func (o *Outbox) Run(ctx context.Context) {
	ticker := time.NewTicker(o.opts.Poll)
	defer ticker.Stop()
	var down *RelayError // the relay's failure, logged once
	for {
		var pause <-chan time.Time
		for {
			n, err := o.SendDue(ctx)
			var re *RelayError
			switch {
			case errors.As(err, &re):
				if down == nil {
					o.opts.Logger.Warn("outbox: the relay cannot be reached; sending paused, every message stays queued",
						"relay", re.Relay, "err", re.Err, "next_try", re.Until)
				}
				down = re
				pause = time.After(max(time.Until(re.Until), o.opts.Poll))
			case err != nil && ctx.Err() == nil:
				o.opts.Logger.Warn("outbox", "err", err)
			case err == nil && n > 0 && down != nil:
				o.opts.Logger.Info("outbox: the relay answers again; sending resumed", "relay", down.Relay)
				down = nil
			}
			if n == 0 || err != nil {
				break
			}
		}
		tick := ticker.C
		if pause != nil {
			tick = nil
		}
		select {
		case <-ctx.Done():
			return
		case <-o.wake:
		case <-tick:
		case <-pause:
		}
	}
}

// reachable is a transport that knows whether its relay answers
// (SMTPTransport): nothing is claimed from the queue while it does not.
type reachable interface {
	Reachable(ctx context.Context) error
}

// SendDue claims one batch of due messages, sends it and records the
// outcomes. It returns how many messages it took.
func (o *Outbox) SendDue(ctx context.Context) (int, error) {
	if r, ok := o.opts.Transport.(reachable); ok {
		if err := r.Reachable(ctx); err != nil {
			return 0, fmt.Errorf("outbox: %w", err)
		}
	}
	claimed, err := o.opts.Store.ClaimMail(ctx, o.opts.Now(), o.opts.Batch, o.opts.Lease)
	if err != nil || len(claimed) == 0 {
		return 0, err
	}
	msgs := make([]Message, 0, len(claimed))
	var sendable []store.OutboxMail
	for _, c := range claimed {
		var m Message
		if err := json.Unmarshal(c.Payload, &m); err != nil {
			if err := o.opts.Store.MarkMailFailed(ctx, c, o.opts.Now(), "unreadable payload: "+err.Error()); err != nil {
				return len(claimed), err
			}
			continue
		}
		msgs = append(msgs, m)
		sendable = append(sendable, c)
	}
	// The batch is sent under a context of its own that ends StopGrace
	// after ctx does.
	sendCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, func() { time.AfterFunc(o.opts.StopGrace, cancel) })
	defer stop()
	results := o.opts.Transport.Send(sendCtx, msgs)
	var down error
	for i, r := range results {
		c := sendable[i]
		if err := o.record(ctx, c, r); err != nil {
			return len(claimed), err
		}
		var re *RelayError
		if errors.As(r.Err, &re) && re.GaveUp {
			down = re
		}
	}
	if down != nil {
		return len(claimed), fmt.Errorf("outbox: %w", down)
	}
	return len(claimed), nil
}

// record marks one outcome. Recording uses a context of its own: a
// message that went out must be marked even when the daemon is stopping.
func (o *Outbox) record(ctx context.Context, c store.OutboxMail, r Result) error {
	mark, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	now := o.opts.Now()
	reason := ""
	if r.Err != nil {
		reason = r.Err.Error()
	}
	var relay *RelayError
	switch {
	case r.Status == Sent:
		return o.claimed(o.opts.Store.MarkMailSent(mark, c, now))
	case errors.As(r.Err, &relay):
		// The relay's failure, not the message's: it waits for the
		// relay's next try and never counts toward MaxAttempts.
		return o.claimed(o.opts.Store.MarkMailRetry(mark, c, maxTime(now, relay.Until), reason))
	case r.Status == Permanent:
		// The log names the message, not the address: the reason is kept
		// in the outbox for an admin to read.
		o.opts.Logger.Warn("outbox: message failed", "message_id", c.MessageID, "code", r.Code, "recipient_refused", r.Rejected)
		if err := o.claimed(o.opts.Store.MarkMailFailed(mark, c, now, reason)); err != nil {
			return err
		}
		if o.opts.OnPermanent != nil && c.SubscriberID != 0 && r.Rejected {
			o.opts.OnPermanent(mark, c.SubscriberID, r.Code)
		}
		return nil
	case c.Attempts >= o.opts.MaxAttempts:
		o.opts.Logger.Warn("outbox: message given up", "message_id", c.MessageID, "attempts", c.Attempts, "code", r.Code)
		return o.claimed(o.opts.Store.MarkMailFailed(mark, c, now, fmt.Sprintf("gave up after %d attempts: %s", c.Attempts, reason)))
	}
	next := now.Add(o.backoff(c.Attempts))
	o.opts.Logger.Info("outbox: will retry", "message_id", c.MessageID, "attempt", c.Attempts, "at", next, "code", r.Code)
	return o.claimed(o.opts.Store.MarkMailRetry(mark, c, next, reason))
}

// claimed turns a lost claim into a log line: another sender took the
// message after this one's lease ran out, and its outcome is the one kept.
func (o *Outbox) claimed(err error) error {
	if errors.Is(err, store.ErrConflict) {
		o.opts.Logger.Warn("outbox: a send outlived its lease; the message was taken over", "err", err)
		return nil
	}
	return err
}

// backoff is the wait after the attempt-th failure.
func (o *Outbox) backoff(attempt int) time.Duration {
	return Backoff(o.opts.RetryBase, o.opts.RetryMax, attempt)
}

// Backoff is the wait after the attempt-th temporary failure: base,
// doubling up to limit, ±20% so that retries of a busy relay spread out.
func Backoff(base, limit time.Duration, attempt int) time.Duration {
	d := base
	for i := 1; i < attempt && d < limit; i++ {
		d *= 2
	}
	d = min(d, limit)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// maxTime returns the later of a and b.
func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
