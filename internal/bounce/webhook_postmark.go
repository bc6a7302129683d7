package bounce

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"strings"
)

// postmarkRecord is a Postmark bounce or spam complaint webhook.
type postmarkRecord struct {
	RecordType  string
	ID          json.RawMessage // a number, read whatever its JSON type
	Type        string
	MessageID   string
	Email       string
	Description string
	Details     string
	BouncedAt   string
}

// postmarkKinds says what each of Postmark's bounce types means for the
// address. Those left out (VirusNotification, OpenRelayTest, Subscribe,
// Unconfirmed, SMTPApiError, InboundError, TemplateRenderingFailed, …)
// say nothing about it and give no Event.
var postmarkKinds = map[string]Kind{
	// The address does not work, or Postmark will not send to it again.
	"HardBounce":          Hard,
	"BadEmailAddress":     Hard,
	"ManuallyDeactivated": Hard,
	// A failure that a good address gets too: a full mailbox, a DNS
	// problem, a block of the sender or of the content.
	"SoftBounce":       Soft,
	"Transient":        Soft,
	"DnsError":         Soft,
	"Blocked":          Soft,
	"SpamNotification": Soft,
	"DMARCPolicy":      Soft,
	"Unknown":          Soft,
	// The reader asked by email to be taken off, or marked it as spam:
	// either way they want no more mail from this sender.
	"Unsubscribe":   Complaint,
	"SpamComplaint": Complaint,
	// An answer of a machine, never a bounce.
	"AutoResponder":         AutoReply,
	"AddressChange":         AutoReply,
	"ChallengeVerification": AutoReply,
}

type postmarkWebhook struct {
	user, password [sha256.Size]byte
}

func newPostmark(o WebhookOptions) *postmarkWebhook {
	return &postmarkWebhook{user: sha256.Sum256([]byte(o.PostmarkUsername)), password: sha256.Sum256([]byte(o.PostmarkPassword))}
}

// Events checks the request's basic auth against the configured user
// name and password, then reads a Bounce or SpamComplaint record; other
// record types (Delivery, Open, Click, SubscriptionChange) give none.
func (p *postmarkWebhook) Events(_ context.Context, h http.Header, body []byte) ([]Event, error) {
	r := http.Request{Header: h}
	user, password, ok := r.BasicAuth()
	if !ok {
		return nil, forged("no basic auth")
	}
	// Hashes compared in constant time: neither the length nor the first
	// wrong byte shows in the time taken; both are always compared.
	u, pw := sha256.Sum256([]byte(user)), sha256.Sum256([]byte(password))
	if subtle.ConstantTimeCompare(u[:], p.user[:])&subtle.ConstantTimeCompare(pw[:], p.password[:]) != 1 {
		return nil, forged("wrong user name or password")
	}
	var rec postmarkRecord
	if err := json.Unmarshal(body, &rec); err != nil {
		return nil, malformed("body is not a Postmark webhook", err)
	}
	var kind Kind
	switch rec.RecordType {
	case "Bounce":
		k, ok := postmarkKinds[rec.Type]
		if !ok {
			return nil, nil
		}
		kind = k
	case "SpamComplaint":
		kind = Complaint
	default:
		return nil, nil
	}
	addr := webhookAddress(rec.Email)
	if addr == "" {
		return nil, nil
	}
	ev := Event{Source: "postmark", Kind: kind, Recipient: addr, Status: statusCode(rec.Details),
		Reason: webhookReason(rec.Type, rec.Description, rec.Details), At: parseTime(rec.BouncedAt)}
	bounceID := strings.Trim(string(rec.ID), `" `)
	if bounceID == "null" {
		bounceID = ""
	}
	if id := firstOf(bounceID, rec.MessageID); id != "" {
		ev.ID = "postmark:" + id + ":" + strings.ToLower(addr)
	}
	return []Event{ev}, nil
}
