package bounce

import (
	"context"
	"strings"
	"time"
)

// Event is one bounce, complaint or automatic reply about one address, as
// learned from any way in: a message imported or fetched over IMAP (one
// Event per Recipient of its Report), a provider's webhook, or a relay's
// 5xx during the SMTP transaction. Every way in hands its Events to a
// Recorder, which alone decides what they do to subscribers.
type Event struct {
	// Source names the way in: "import", "imap", "ses", "mailgun",
	// "postmark", "sendgrid" or "smtp". It labels metrics and records.
	Source string
	// Kind is Hard, Soft, Complaint or AutoReply; NotBounce is never
	// recorded.
	Kind Kind
	// Recipient is the address the event is about, as the notice gives it
	// (may be empty when only Token names the delivery).
	Recipient string
	// Status is the enhanced status code ("5.1.1") when known.
	Status string
	// Reason is the remote server's or provider's words, one line.
	Reason string
	// Token is the raw VERP token from the return path
	// (bounces+TOKEN@domain), "" when none was found; the Recorder checks
	// its signature and prefers it to Recipient.
	Token string
	// ID makes the same event seen twice count once: the notice's
	// Message-ID plus the recipient for messages, the provider's event id
	// for webhooks. Empty means no deduplication is possible.
	ID string
	// At is when the event happened, as the notice or provider says; the
	// zero time means now.
	At time.Time
}

// Outcome says what a Recorder did with one Event.
type Outcome string

// The outcomes of Recorder.Record.
const (
	// Counted: a hard or soft bounce counted toward its limit.
	Counted Outcome = "counted"
	// Bounced: the count reached subscribe.bounce_limit (or
	// soft_bounce_limit): the subscriber is now bounced.
	Bounced Outcome = "bounced"
	// Unsubscribed: a complaint unsubscribed the address from every list.
	Unsubscribed Outcome = "unsubscribed"
	// Duplicate: an event with the same ID was recorded before.
	Duplicate Outcome = "duplicate"
	// Ignored: an automatic reply, or nothing bantin sends to.
	Ignored Outcome = "ignored"
	// Unknown: neither the token nor the address names a subscriber.
	Unknown Outcome = "unknown"
)

// Recorder applies bounce policy to Events and records them. Ways in
// declare and use it; the subscriber side implements it.
type Recorder interface {
	Record(ctx context.Context, ev Event) (Outcome, error)
}

// Events are the events of one report: one per recipient it names, or one
// naming no address when only its token may say which delivery it was.
// The ID is "msg:" and the notice's Message-ID (fallbackID when it has
// none) with the address in lower case, the same whichever way the
// notice came in (source), so a notice seen both through bounces import
// and through the bounce mailbox counts once.
func (r Report) Events(source, fallbackID string, at time.Time) []Event {
	id := "msg:" + r.MessageID
	if r.MessageID == "" {
		id = fallbackID
	}
	base := Event{Source: source, Kind: r.Kind, Status: r.Status, Reason: r.Reason, Token: r.Token, ID: id, At: at}
	if len(r.Recipients) == 0 {
		return []Event{base}
	}
	out := make([]Event, 0, len(r.Recipients))
	for _, rc := range r.Recipients {
		ev := base
		ev.Recipient, ev.ID = rc.Address, id+" "+strings.ToLower(rc.Address)
		if rc.Kind != "" {
			ev.Kind = rc.Kind
		}
		if rc.Status != "" || rc.Reason != "" {
			ev.Status, ev.Reason = rc.Status, rc.Reason
		}
		out = append(out, ev)
	}
	return out
}
