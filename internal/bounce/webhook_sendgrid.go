package bounce

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"time"
)

// The headers of SendGrid's signed event webhook.
const (
	sendGridSignature = "X-Twilio-Email-Event-Webhook-Signature"
	sendGridTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// sendGridEvent is one event of a SendGrid event webhook batch.
type sendGridEvent struct {
	Email     string
	Event     string
	Type      string
	Status    string
	Reason    string
	Timestamp int64
	EventID   string `json:"sg_event_id"`
	MessageID string `json:"sg_message_id"`
}

type sendGridWebhook struct {
	key *ecdsa.PublicKey
}

func newSendGrid(o WebhookOptions) (*sendGridWebhook, error) {
	key, err := parseSendGridKey(o.SendGridPublicKey)
	if err != nil {
		return nil, err
	}
	return &sendGridWebhook{key: key}, nil
}

// CheckSendGridKey says whether s is a key the SendGrid webhook can verify
// with (bounces.sendgrid.public_key), and if not, why and what to paste.
func CheckSendGridKey(s string) error {
	_, err := parseSendGridKey(s)
	return err
}

// parseSendGridKey reads the verification key as SendGrid shows it (base64
// of a DER SubjectPublicKeyInfo) or as a PEM block.
func parseSendGridKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if block, _ := pem.Decode([]byte(s)); block != nil {
		der = block.Bytes
	} else {
		b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
		if err != nil {
			return nil, errors.New("is not base64")
		}
		der = b
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("is not a public key (base64 of DER)")
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("is not an ECDSA P-256 key, which SendGrid signs with")
	}
	return ec, nil
}

// Events checks the ECDSA signature over the timestamp header and the
// body, then reads the batch: "bounce" is hard (soft when its type is
// "blocked"), "dropped" for a "Bounced Address" hard and for a "Spam
// Reporting Address" a complaint, "spamreport" a complaint; the other
// events give none. SendGrid sends the envelope sender only sometimes;
// events are matched by address.
func (s *sendGridWebhook) Events(_ context.Context, h http.Header, body []byte) ([]Event, error) {
	sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(h.Get(sendGridSignature)))
	ts := strings.TrimSpace(h.Get(sendGridTimestamp))
	if err != nil || len(sig) == 0 || ts == "" {
		return nil, forged("no signature or timestamp header")
	}
	d := sha256.New()
	d.Write([]byte(ts))
	d.Write(body)
	if !ecdsa.VerifyASN1(s.key, d.Sum(nil), sig) {
		return nil, forged("signature does not match")
	}
	var batch []json.RawMessage
	if err := json.Unmarshal(body, &batch); err != nil {
		return nil, malformed("body is not a SendGrid event batch", err)
	}
	var out []Event
	for _, raw := range batch {
		// One event of an odd shape (a field of another type) is passed
		// over: refusing the batch would have SendGrid send it all again.
		var e sendGridEvent
		if json.Unmarshal(raw, &e) != nil {
			continue
		}
		var kind Kind
		switch e.Event {
		case "bounce":
			kind = Hard
			if e.Type == "blocked" {
				kind = Soft
			}
		case "dropped":
			switch e.Reason {
			case "Bounced Address":
				kind = Hard
			case "Spam Reporting Address":
				kind = Complaint
			default:
				continue
			}
		case "spamreport":
			kind = Complaint
		default:
			continue
		}
		addr := webhookAddress(e.Email)
		if addr == "" {
			continue
		}
		ev := Event{Source: "sendgrid", Kind: kind, Recipient: addr, Status: statusCode(e.Status + " " + e.Reason),
			Reason: webhookReason(e.Reason)}
		if e.Timestamp > 0 {
			ev.At = time.Unix(e.Timestamp, 0)
		}
		if id := firstOf(e.EventID, e.MessageID); id != "" {
			ev.ID = "sendgrid:" + id + ":" + strings.ToLower(addr)
		}
		out = append(out, ev)
	}
	return out, nil
}
