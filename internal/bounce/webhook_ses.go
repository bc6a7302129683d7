package bounce

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // SNS SignatureVersion 1 is SHA1withRSA
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Bounds of the SES webhook.
const (
	// snsMaxAge is how old an SNS message may be: SNS retries for about
	// an hour, a replay of an older capture is refused.
	snsMaxAge = time.Hour
	// snsMaxAhead is how far ahead of this machine's clock a Timestamp may
	// be (clock skew).
	snsMaxAhead = 15 * time.Minute
	// snsCerts bounds the certificates kept: SNS signs with one per region
	// and rotates it now and then.
	snsCerts = 32
	// snsCertBytes bounds a certificate download.
	snsCertBytes = 64 << 10
)

// snsHost is the host of an SNS endpoint in any region, AWS China's too.
var snsHost = regexp.MustCompile(`^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$`)

// snsMessage is an SNS HTTP(S) delivery.
type snsMessage struct {
	Type             string
	MessageID        string `json:"MessageId"`
	Token            string
	TopicArn         string
	Subject          *string
	Message          string
	Timestamp        string
	SignatureVersion string
	Signature        string
	SigningCertURL   string `json:"SigningCertURL"`
	SubscribeURL     string `json:"SubscribeURL"`
}

// sesNotification is the SES event an SNS Notification carries, both as
// SES's own notifications (notificationType) and as an event destination
// (eventType) write it.
type sesNotification struct {
	NotificationType string
	EventType        string
	Bounce           *struct {
		BounceType        string
		BounceSubType     string
		BouncedRecipients []struct {
			EmailAddress   string
			Action         string
			Status         string
			DiagnosticCode string
		}
		Timestamp  string
		FeedbackID string `json:"feedbackId"`
	}
	Complaint *struct {
		ComplainedRecipients []struct {
			EmailAddress string
		}
		ComplaintFeedbackType string
		Timestamp             string
		FeedbackID            string `json:"feedbackId"`
	}
	Mail struct {
		Source    string
		MessageID string `json:"messageId"`
	}
}

type sesWebhook struct {
	topics map[string]bool
	prefix string
	client *http.Client
	hosts  map[string]bool
	now    func() time.Time
	logger *slog.Logger

	mu    sync.Mutex
	certs map[string]*x509.Certificate
}

func newSES(o WebhookOptions) *sesWebhook {
	s := &sesWebhook{topics: map[string]bool{}, prefix: o.ReturnPrefix, client: o.Client, hosts: map[string]bool{},
		now: o.Now, logger: o.Logger, certs: map[string]*x509.Certificate{}}
	for _, t := range o.SESTopicARNs {
		s.topics[strings.TrimSpace(t)] = true
	}
	for _, h := range o.SNSHosts {
		s.hosts[h] = true
	}
	return s
}

// Events checks an SNS message (its topic, the signing certificate's URL,
// the signature, its age) and reads the SES bounces and complaints of a
// Notification. A SubscriptionConfirmation is confirmed by fetching its
// SubscribeURL.
func (s *sesWebhook) Events(ctx context.Context, _ http.Header, body []byte) ([]Event, error) {
	var m snsMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return nil, forged("body is not an SNS message")
	}
	switch m.Type {
	case "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation":
	default:
		return nil, forged("not an SNS message type")
	}
	if !s.topics[m.TopicArn] {
		return nil, forged("topic is not in bounces.ses.topic_arns")
	}
	var hash crypto.Hash
	switch m.SignatureVersion {
	case "1":
		hash = crypto.SHA1
	case "2":
		hash = crypto.SHA256
	default:
		return nil, forged("unknown SignatureVersion")
	}
	certURL, err := s.snsURL(m.SigningCertURL)
	if err != nil {
		return nil, forged("SigningCertURL " + err.Error())
	}
	at, err := time.Parse(time.RFC3339Nano, m.Timestamp)
	if err != nil {
		return nil, forged("Timestamp is not a time")
	}
	now := s.now()
	if now.Sub(at) > snsMaxAge || at.Sub(now) > snsMaxAhead {
		return nil, forged("Timestamp is more than an hour old, or ahead of this clock")
	}
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	if err != nil || len(sig) == 0 {
		return nil, forged("Signature is not base64")
	}
	cert, err := s.cert(ctx, certURL, now)
	if err != nil {
		return nil, err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return nil, forged("signing certificate holds no RSA key")
	}
	var digest []byte
	if hash == crypto.SHA1 {
		d := sha1.Sum(m.stringToSign()) //nolint:gosec // what SignatureVersion 1 signs
		digest = d[:]
	} else {
		d := sha256.Sum256(m.stringToSign())
		digest = d[:]
	}
	if err := rsa.VerifyPKCS1v15(pub, hash, digest, sig); err != nil {
		return nil, forged("signature does not match")
	}

	switch m.Type {
	case "SubscriptionConfirmation":
		if err := s.confirm(ctx, m.SubscribeURL); err != nil {
			return nil, err
		}
		s.logger.Info("bounce webhook: SNS subscription confirmed", "topic", m.TopicArn)
		return nil, nil
	case "UnsubscribeConfirmation":
		// Nothing to do: the topic's messages stop coming. Said, since an
		// admin who did not ask for it wants to know.
		s.logger.Warn("bounce webhook: SNS subscription ended", "topic", m.TopicArn)
		return nil, nil
	}
	var n sesNotification
	if err := json.Unmarshal([]byte(m.Message), &n); err != nil {
		return nil, malformed("SNS Message is not an SES notification", err)
	}
	return s.read(m.MessageID, n), nil
}

// stringToSign is the canonical text SNS signs: "Name\nvalue\n" for each
// of the fields of the message's type, in that order.
func (m *snsMessage) stringToSign() []byte {
	var b strings.Builder
	field := func(name, value string) {
		b.WriteString(name)
		b.WriteByte('\n')
		b.WriteString(value)
		b.WriteByte('\n')
	}
	field("Message", m.Message)
	field("MessageId", m.MessageID)
	if m.Type == "Notification" {
		if m.Subject != nil {
			field("Subject", *m.Subject)
		}
	} else {
		field("SubscribeURL", m.SubscribeURL)
	}
	field("Timestamp", m.Timestamp)
	if m.Type != "Notification" {
		field("Token", m.Token)
	}
	field("TopicArn", m.TopicArn)
	field("Type", m.Type)
	return []byte(b.String())
}

// snsURL checks that raw is an https URL on an SNS host.
func (s *sesWebhook) snsURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Host == "" {
		return nil, fmt.Errorf("is not an https URL")
	}
	if !snsHost.MatchString(u.Host) && !s.hosts[u.Host] {
		return nil, fmt.Errorf("is not on an SNS host (sns.<region>.amazonaws.com)")
	}
	return u, nil
}

// cert is the signing certificate at u, fetched once and kept.
func (s *sesWebhook) cert(ctx context.Context, u *url.URL, now time.Time) (*x509.Certificate, error) {
	key := u.String()
	s.mu.Lock()
	c := s.certs[key]
	s.mu.Unlock()
	if c == nil {
		var err error
		if c, err = s.fetchCert(ctx, key); err != nil {
			return nil, err
		}
		s.keep(key, c)
	}
	if now.Before(c.NotBefore) || now.After(c.NotAfter) {
		return nil, forged("signing certificate is not valid now")
	}
	return c, nil
}

// keep caches a certificate, at most snsCerts of them.
func (s *sesWebhook) keep(key string, c *x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.certs) >= snsCerts {
		// Rarely reached (a few regions, a rotation a year): start over
		// rather than keep an order.
		clear(s.certs)
	}
	s.certs[key] = c
}

// fetchCert downloads and parses a PEM certificate. A failure to reach
// SNS is no forgery: the error is plain, the request gets a 5xx and SNS
// sends it again.
func (s *sesWebhook) fetchCert(ctx context.Context, u string) (*x509.Certificate, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, forged("SigningCertURL is not a URL")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch SNS signing certificate: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, forged(fmt.Sprintf("SigningCertURL answers %d", resp.StatusCode))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, snsCertBytes))
	if err != nil {
		return nil, fmt.Errorf("fetch SNS signing certificate: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, forged("SigningCertURL holds no PEM certificate")
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, forged("SigningCertURL holds no readable certificate")
	}
	return c, nil
}

// confirm fetches a SubscriptionConfirmation's SubscribeURL, which is how
// SNS learns that this endpoint wants the topic's messages.
func (s *sesWebhook) confirm(ctx context.Context, raw string) error {
	u, err := s.snsURL(raw)
	if err != nil {
		return forged("SubscribeURL " + err.Error())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return forged("SubscribeURL is not a URL")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("confirm SNS subscription: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, snsCertBytes))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("confirm SNS subscription: SubscribeURL answers %d", resp.StatusCode)
	}
	return nil
}

// read turns an SES notification into Events: a Permanent bounce is hard,
// a Transient or Undetermined one soft; a complaint is a complaint unless
// its feedback type says "not-spam". Deliveries and the other event types
// give none.
func (s *sesWebhook) read(snsID string, n sesNotification) []Event {
	typ := n.NotificationType
	if typ == "" {
		typ = n.EventType
	}
	token := verpToken(n.Mail.Source, s.prefix)
	var out []Event
	switch typ {
	case "Bounce":
		b := n.Bounce
		if b == nil {
			return nil
		}
		kind := Soft
		if b.BounceType == "Permanent" {
			kind = Hard
		}
		id := firstOf(b.FeedbackID, n.Mail.MessageID, snsID)
		at := parseTime(b.Timestamp)
		for _, r := range b.BouncedRecipients {
			addr := webhookAddress(r.EmailAddress)
			if addr == "" && token == "" {
				continue
			}
			status := statusCode(r.Status)
			if status == "" {
				status = statusCode(r.DiagnosticCode)
			}
			out = append(out, Event{Source: "ses", Kind: kind, Recipient: addr, Status: status,
				Reason: webhookReason(r.DiagnosticCode, b.BounceType+"/"+b.BounceSubType), Token: token,
				ID: "ses:" + id + ":" + strings.ToLower(addr), At: at})
		}
	case "Complaint":
		c := n.Complaint
		if c == nil || strings.EqualFold(c.ComplaintFeedbackType, "not-spam") {
			return nil
		}
		id := firstOf(c.FeedbackID, n.Mail.MessageID, snsID)
		at := parseTime(c.Timestamp)
		for _, r := range c.ComplainedRecipients {
			addr := webhookAddress(r.EmailAddress)
			if addr == "" && token == "" {
				continue
			}
			out = append(out, Event{Source: "ses", Kind: Complaint, Recipient: addr,
				Reason: webhookReason("complaint", c.ComplaintFeedbackType), Token: token,
				ID: "ses:" + id + ":" + strings.ToLower(addr), At: at})
		}
	}
	if len(out) > maxRecipients {
		out = out[:maxRecipients]
	}
	return out
}

// firstOf is the first of vs that is not empty.
func firstOf(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// parseTime reads a provider's RFC 3339 time; the zero time (now) when it
// cannot.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
