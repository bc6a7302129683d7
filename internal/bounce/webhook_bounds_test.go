package bounce

import (
	"crypto/x509"
	"strconv"
	"testing"
	"time"
)

func TestMailgunTokensRememberedStayUnder20000(t *testing.T) {
	now := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	m := newMailgun(WebhookOptions{MailgunSigningKey: "k", Now: func() time.Time { return now }})
	for i := range mailgunTokens + 5000 {
		if !m.fresh("tok-"+strconv.Itoa(i), now) {
			t.Fatalf("token %d seen as a replay", i)
		}
	}
	if n := len(m.seen); n > mailgunTokens {
		t.Errorf("%d tokens remembered, want at most %d", n, mailgunTokens)
	}
	if len(m.order)-m.oldest != len(m.seen) {
		t.Errorf("order holds %d tokens, seen %d", len(m.order)-m.oldest, len(m.seen))
	}
	// The newest are still refused again; after 15 minutes all are gone.
	if m.fresh("tok-"+strconv.Itoa(mailgunTokens+4999), now) {
		t.Error("the newest token was forgotten")
	}
	now = now.Add(16 * time.Minute)
	m.fresh("later", now)
	if n := len(m.seen); n != 1 {
		t.Errorf("%d tokens remembered 16 minutes later, want 1", n)
	}
}

func TestSNSCertificatesKeptStayUnder32(t *testing.T) {
	s := newSES(WebhookOptions{SESTopicARNs: []string{"t"}})
	for i := range 100 {
		s.keep("https://sns.eu-west-"+strconv.Itoa(i)+".amazonaws.com/c.pem", &x509.Certificate{})
		if n := len(s.certs); n > snsCerts {
			t.Fatalf("%d certificates kept", n)
		}
	}
}
