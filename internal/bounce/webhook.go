package bounce

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Errors of Webhooks.Receive, which the HTTP side maps to statuses.
var (
	// ErrNoProvider: the provider is unknown or its keys are empty (404).
	ErrNoProvider = errors.New("no such bounce webhook, or its keys are not configured")
	// ErrForged: the request failed its provider's check (a signature, a
	// password, a topic, a timestamp); nothing was recorded (401).
	ErrForged = errors.New("request failed its check")
	// ErrMalformed: the request passed its check but its body is not what
	// the provider sends (400).
	ErrMalformed = errors.New("malformed notification")
)

// Webhook reads one provider's notifications.
type Webhook interface {
	// Events checks that a request comes from the provider and returns
	// the bounces and complaints it reports. A failed check is ErrForged
	// (wrapped), an unreadable body after a good check ErrMalformed.
	Events(ctx context.Context, h http.Header, body []byte) ([]Event, error)
}

// WebhookOptions configure the providers; a provider whose keys are empty
// is off.
type WebhookOptions struct {
	// SESTopicARNs are the SNS topics taken (bounces.ses.topic_arns).
	SESTopicARNs []string
	// MailgunSigningKey is Mailgun's HTTP webhook signing key.
	MailgunSigningKey string
	// PostmarkUsername and PostmarkPassword are the basic auth Postmark's
	// webhook URL carries.
	PostmarkUsername, PostmarkPassword string
	// SendGridPublicKey is the signed event webhook's verification key
	// (base64 DER, or PEM).
	SendGridPublicKey string
	// ReturnPrefix is the local part of mail.return_path ("bounces"): a
	// provider that passes the envelope sender back gives the VERP token
	// after it.
	ReturnPrefix string
	// Client fetches SNS signing certificates and confirms subscriptions;
	// nil for one with a 10 s timeout.
	Client *http.Client
	// SNSHosts are hosts trusted for SNS certificate and subscription URLs
	// besides sns.<region>.amazonaws.com(.cn); only tests set it.
	SNSHosts []string
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	// Logger is told of SNS subscriptions confirmed and ended; nil for
	// slog.Default.
	Logger *slog.Logger
}

// Webhooks receives the providers' notifications and hands their Events to
// a Recorder.
type Webhooks struct {
	providers map[string]Webhook
	rec       Recorder
}

// Received is what one request brought.
type Received struct {
	// Events is how many bounces and complaints the request reported.
	Events int
	// Outcomes counts what the Recorder did with them.
	Outcomes map[Outcome]int
}

// NewWebhooks builds the providers whose keys are set. It fails on a key
// that cannot be used (a SendGrid key that is no P-256 public key).
func NewWebhooks(o WebhookOptions, rec Recorder) (*Webhooks, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ReturnPrefix == "" {
		o.ReturnPrefix = DefaultReturnPrefix
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	w := &Webhooks{providers: map[string]Webhook{}, rec: rec}
	if o.sesOn() {
		w.providers["ses"] = newSES(o)
	}
	if o.mailgunOn() {
		w.providers["mailgun"] = newMailgun(o)
	}
	if o.postmarkOn() {
		w.providers["postmark"] = newPostmark(o)
	}
	if o.sendGridOn() {
		sg, err := newSendGrid(o)
		if err != nil {
			return nil, fmt.Errorf("bounces.sendgrid.public_key: %w", err)
		}
		w.providers["sendgrid"] = sg
	}
	return w, nil
}

// Any reports whether the options turn on at least one provider, so a
// caller can skip building what the webhooks need.
func (o WebhookOptions) Any() bool {
	return o.sesOn() || o.mailgunOn() || o.postmarkOn() || o.sendGridOn()
}

func (o WebhookOptions) sesOn() bool     { return len(o.SESTopicARNs) > 0 }
func (o WebhookOptions) mailgunOn() bool { return o.MailgunSigningKey != "" }

// postmarkOn needs both: a webhook behind a user name alone is open to
// anyone who reads the provider's settings page.
func (o WebhookOptions) postmarkOn() bool {
	return o.PostmarkUsername != "" && o.PostmarkPassword != ""
}
func (o WebhookOptions) sendGridOn() bool { return o.SendGridPublicKey != "" }

// Has says whether provider's webhook is on.
func (w *Webhooks) Has(provider string) bool {
	_, ok := w.providers[provider]
	return ok
}

// Receive checks one request to provider's webhook and records the Events
// it reports. A failed check records nothing. An error of the Recorder is
// returned after the other Events are recorded, so that the provider,
// told of a failure, sends them again: the events' IDs make the second
// time count once.
func (w *Webhooks) Receive(ctx context.Context, provider string, h http.Header, body []byte) (Received, error) {
	p, ok := w.providers[provider]
	if !ok {
		return Received{}, ErrNoProvider
	}
	events, err := p.Events(ctx, h, body)
	if err != nil {
		return Received{}, fmt.Errorf("%s webhook: %w", provider, err)
	}
	got := Received{Events: len(events), Outcomes: map[Outcome]int{}}
	var first error
	for _, ev := range events {
		out, err := w.rec.Record(ctx, ev)
		if err != nil {
			if first == nil {
				first = fmt.Errorf("%s webhook: record %s event: %w", provider, ev.Kind, err)
			}
			got.Outcomes["error"]++
			continue
		}
		got.Outcomes[out]++
	}
	if r, ok := p.(releaser); ok && first != nil {
		// The provider will send the request again: its replay guard must
		// let it in.
		r.release(body)
	}
	return got, first
}

// releaser is a Webhook that remembers requests against replays, and
// forgets one whose events could not all be recorded.
type releaser interface {
	release(body []byte)
}

// forged wraps ErrForged with why, which the log may show: never a secret.
func forged(why string) error { return fmt.Errorf("%w: %s", ErrForged, why) }

// malformed wraps ErrMalformed.
func malformed(why string, err error) error {
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrMalformed, why, err)
	}
	return fmt.Errorf("%w: %s", ErrMalformed, why)
}

// verpToken is the token in a return path prefix+TOKEN@domain, "" when
// addr is not one.
func verpToken(addr, prefix string) string {
	addr = strings.TrimSpace(addr)
	if a := anyAddr.FindString(addr); a != "" {
		addr = a
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return ""
	}
	local := addr[:at]
	p := strings.ToLower(prefix) + "+"
	if len(local) <= len(p) || !strings.EqualFold(local[:len(p)], p) {
		return ""
	}
	if tok := local[len(p):]; len(tok) <= maxToken && tokenChars.MatchString(tok) {
		return tok
	}
	return ""
}

// webhookAddress is a provider's recipient as an Event names it, its
// domain lower-cased; "" when it is no address at all.
func webhookAddress(s string) string { return cleanAddress(s) }

// webhookReason is a provider's words as a Reason: one line, bounded.
func webhookReason(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" && !containsString(keep, p) {
			keep = append(keep, p)
		}
	}
	return oneLine(strings.Join(keep, ": "), MaxReason)
}
