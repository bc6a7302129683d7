package subscriber

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/store"
)

// BounceStore is what the bounce policy keeps its records in.
type BounceStore interface {
	Subscriber(ctx context.Context, id int64) (store.Subscriber, error)
	SubscriberByEmail(ctx context.Context, email string) (store.Subscriber, error)
	AddBounce(ctx context.Context, b store.Bounce, lim store.BounceLimits) (store.Bounce, error)
}

// BounceOptions configure Bounces.
type BounceOptions struct {
	Store BounceStore
	// Tokens checks the VERP tokens of the return path.
	Tokens *Tokens
	// Limits are subscribe.bounce_limit, soft_bounce_limit and
	// soft_bounce_window.
	Limits store.BounceLimits
	Logger *slog.Logger
	Now    func() time.Time
	// Observe is told of every event received, by source and kind
	// (metrics); nil for none.
	Observe func(source string, kind bounce.Kind)
}

// Bounces is the one bounce policy: every way in (import, IMAP,
// webhooks, the relay's 5xx) hands its events here.
type Bounces struct {
	opts BounceOptions
}

var _ bounce.Recorder = (*Bounces)(nil)

// NewBounces builds the bounce policy.
func NewBounces(opts BounceOptions) *Bounces {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Limits.Hard <= 0 {
		opts.Limits.Hard = 3
	}
	if opts.Limits.Soft <= 0 {
		opts.Limits.Soft = 5
	}
	if opts.Limits.SoftWindow <= 0 {
		opts.Limits.SoftWindow = 30 * 24 * time.Hour
	}
	return &Bounces{opts: opts}
}

// Record applies ev: the subscriber is found by a valid VERP token first
// (a notice may name no address, or one the relay rewrote), else by
// address. A hard bounce counts toward subscribe.bounce_limit, soft ones
// toward soft_bounce_limit within soft_bounce_window; either reached, the
// subscriber is bounced. A complaint unsubscribes the address from every
// list. Automatic replies and what is no bounce change nothing and are
// not stored. The same ev.ID twice counts once.
func (b *Bounces) Record(ctx context.Context, ev bounce.Event) (bounce.Outcome, error) {
	switch ev.Kind {
	case bounce.Hard, bounce.Soft, bounce.Complaint:
	case bounce.AutoReply:
		b.observe(ev)
		return bounce.Ignored, nil
	default:
		return bounce.Ignored, nil
	}
	b.observe(ev)
	sub, issueID, err := b.find(ctx, ev)
	if errors.Is(err, store.ErrNotFound) {
		return bounce.Unknown, nil
	}
	if err != nil {
		return "", err
	}
	at := ev.At
	if at.IsZero() {
		at = b.opts.Now()
	}
	rec, err := b.opts.Store.AddBounce(ctx, store.Bounce{SubscriberID: sub.ID, IssueID: issueID, Source: ev.Source,
		Kind: string(ev.Kind), Status: ev.Status, Reason: ev.Reason, EventID: ev.ID, At: at}, b.opts.Limits)
	switch {
	case errors.Is(err, store.ErrConflict):
		return bounce.Duplicate, nil
	case errors.Is(err, store.ErrNotFound):
		return bounce.Unknown, nil // erased meanwhile
	case err != nil:
		return "", fmt.Errorf("record %s bounce: %w", ev.Kind, err)
	}
	switch rec.Outcome {
	case "bounced":
		if !sub.Bounced {
			b.opts.Logger.Info("subscriber bounced: no more mail", "subscriber", sub.ID, "kind", ev.Kind, "source", ev.Source)
		}
		return bounce.Bounced, nil
	case "unsubscribed":
		b.opts.Logger.Info("complaint: unsubscribed from every list", "subscriber", sub.ID, "source", ev.Source)
		return bounce.Unsubscribed, nil
	}
	return bounce.Counted, nil
}

func (b *Bounces) observe(ev bounce.Event) {
	if b.opts.Observe != nil {
		b.opts.Observe(ev.Source, ev.Kind)
	}
}

// find names the subscriber of ev and the issue when the token says.
func (b *Bounces) find(ctx context.Context, ev bounce.Event) (store.Subscriber, int64, error) {
	if ev.Token != "" && b.opts.Tokens != nil {
		if issueID, subID, err := b.opts.Tokens.CheckReturn(ev.Token); err == nil {
			sub, err := b.opts.Store.Subscriber(ctx, subID)
			if err == nil {
				return sub, issueID, nil
			}
			if !errors.Is(err, store.ErrNotFound) {
				return store.Subscriber{}, 0, fmt.Errorf("bounce: %w", err)
			}
		}
	}
	if ev.Recipient == "" {
		return store.Subscriber{}, 0, store.ErrNotFound
	}
	sub, err := b.opts.Store.SubscriberByEmail(ctx, ev.Recipient)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Subscriber{}, 0, fmt.Errorf("bounce: %w", err)
	}
	return sub, 0, err
}
