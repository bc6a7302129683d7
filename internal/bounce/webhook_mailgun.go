package bounce

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Bounds of the Mailgun webhook.
const (
	// mailgunMaxAge is how old a signature's timestamp may be, and how far
	// ahead of this clock.
	mailgunMaxAge = 15 * time.Minute
	// mailgunTokens bounds the tokens remembered against replays: more
	// than Mailgun sends to one endpoint in mailgunMaxAge.
	mailgunTokens = 20000
)

// mailgunBody is a Mailgun webhook request (the JSON webhooks).
type mailgunBody struct {
	Signature struct {
		Timestamp json.RawMessage
		Token     string
		Signature string
	}
	// EventData is read once the signature is checked: an event of an
	// unexpected shape is then malformed (400), not forged.
	EventData json.RawMessage `json:"event-data"`
}

type mailgunEvent struct {
	ID             string
	Event          string
	Severity       string
	Reason         string
	Recipient      string
	Timestamp      float64
	DeliveryStatus struct {
		Code         json.Number
		Message      string
		Description  string
		EnhancedCode string `json:"enhanced-code"`
	} `json:"delivery-status"`
	Envelope struct {
		Sender string
	}
	Message struct {
		Headers struct {
			MessageID string `json:"message-id"`
		}
	}
}

type mailgunWebhook struct {
	key    []byte
	prefix string
	now    func() time.Time

	mu     sync.Mutex
	seen   map[string]time.Time
	order  []string // seen's tokens, oldest first
	oldest int      // index in order of the oldest token still in seen
}

func newMailgun(o WebhookOptions) *mailgunWebhook {
	return &mailgunWebhook{key: []byte(o.MailgunSigningKey), prefix: o.ReturnPrefix, now: o.Now, seen: map[string]time.Time{}}
}

// Events checks the signature (HMAC-SHA256 of timestamp and token with
// the signing key), the timestamp's age and that the token is new, then
// reads the event: "failed" is a hard bounce when permanent and a soft one
// when temporary, "complained" a complaint; the other events give none.
func (m *mailgunWebhook) Events(_ context.Context, _ http.Header, body []byte) ([]Event, error) {
	var b mailgunBody
	if err := json.Unmarshal(body, &b); err != nil {
		// The signature is in the body: one that cannot be read cannot be
		// checked.
		return nil, forged("body is not a Mailgun webhook")
	}
	ts := string(bytes.Trim(b.Signature.Timestamp, `"`))
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || b.Signature.Token == "" || len(b.Signature.Token) > 200 {
		return nil, forged("no signature timestamp or token")
	}
	got, err := hex.DecodeString(b.Signature.Signature)
	if err != nil {
		return nil, forged("signature is not hex")
	}
	mac := hmac.New(sha256.New, m.key)
	mac.Write([]byte(ts))
	mac.Write([]byte(b.Signature.Token))
	if !hmac.Equal(got, mac.Sum(nil)) {
		return nil, forged("signature does not match")
	}
	now := m.now()
	at := time.Unix(sec, 0)
	if now.Sub(at) > mailgunMaxAge || at.Sub(now) > mailgunMaxAge {
		return nil, forged("timestamp is more than 15 minutes away from now")
	}
	if !m.fresh(b.Signature.Token, now) {
		return nil, forged("token seen before (a replay)")
	}
	var e *mailgunEvent
	if err := json.Unmarshal(b.EventData, &e); err != nil || e == nil {
		return nil, malformed("no event-data, or not an event", err)
	}
	return m.read(e), nil
}

// fresh remembers token and says whether it was new. Tokens older than
// mailgunMaxAge are forgotten, as their timestamps are refused anyway;
// past mailgunTokens the oldest go first.
func (m *mailgunWebhook) fresh(token string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.seen[token]; ok {
		return false
	}
	for m.oldest < len(m.order) {
		t := m.order[m.oldest]
		if len(m.seen) < mailgunTokens && now.Sub(m.seen[t]) <= mailgunMaxAge {
			break
		}
		delete(m.seen, t)
		m.order[m.oldest] = ""
		m.oldest++
	}
	if m.oldest > len(m.order)/2 {
		m.order = append([]string(nil), m.order[m.oldest:]...)
		m.oldest = 0
	}
	m.seen[token] = now
	m.order = append(m.order, token)
	return true
}

// release forgets the token of a request whose events were not all
// recorded, so that Mailgun's retry of it is taken.
func (m *mailgunWebhook) release(body []byte) {
	var b mailgunBody
	if json.Unmarshal(body, &b) != nil {
		return
	}
	m.mu.Lock()
	delete(m.seen, b.Signature.Token)
	m.mu.Unlock()
}

func (m *mailgunWebhook) read(e *mailgunEvent) []Event {
	var kind Kind
	switch e.Event {
	case "failed":
		kind = Soft
		if e.Severity == "permanent" {
			kind = Hard
		}
	case "complained":
		kind = Complaint
	default:
		return nil
	}
	addr := webhookAddress(e.Recipient)
	token := verpToken(e.Envelope.Sender, m.prefix)
	if addr == "" && token == "" {
		return nil
	}
	ds := e.DeliveryStatus
	status := statusCode(ds.EnhancedCode)
	if status == "" {
		status = statusCode(ds.Message + " " + ds.Description)
	}
	var at time.Time
	if e.Timestamp > 0 {
		at = time.Unix(int64(e.Timestamp), 0)
	}
	// Mailgun reports each retry of a temporary failure as its own event:
	// keyed by the message, a copy's retries count once.
	id := e.ID
	if mid := strings.Trim(e.Message.Headers.MessageID, "<> "); mid != "" {
		id = mid + ":" + string(kind)
	}
	ev := Event{Source: "mailgun", Kind: kind, Recipient: addr, Status: status, Token: token, At: at,
		Reason: webhookReason(codeText(ds.Code), ds.Description, ds.Message, e.Reason)}
	if id != "" {
		ev.ID = "mailgun:" + id + ":" + strings.ToLower(addr)
	}
	return []Event{ev}
}

// codeText is an SMTP reply code as a reason starts with it, "" for none.
func codeText(n json.Number) string {
	if n == "" || n == "0" {
		return ""
	}
	return string(n)
}
