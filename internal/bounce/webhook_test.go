package bounce_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/bounce"
)

// fakeRecorder keeps the Events it is given.
type fakeRecorder struct {
	mu     sync.Mutex
	events []bounce.Event
	err    error
}

func (f *fakeRecorder) Record(_ context.Context, ev bounce.Event) (bounce.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, ev)
	if f.err != nil {
		return "", f.err
	}
	if ev.Kind == bounce.Complaint {
		return bounce.Unsubscribed, nil
	}
	return bounce.Counted, nil
}

func (f *fakeRecorder) got() []bounce.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]bounce.Event(nil), f.events...)
}

var testNow = time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)

func clock(t *time.Time) func() time.Time { return func() time.Time { return *t } }

// --- Amazon SES through SNS ---

const topic = "arn:aws:sns:ap-southeast-1:123456789012:bantin-bounces"

// snsFixture is a signing key with its self-signed certificate, served
// over TLS by an httptest server as SNS serves its own, and the page SNS
// confirms subscriptions at.
type snsFixture struct {
	key       *rsa.PrivateKey
	srv       *httptest.Server
	certURL   string
	confirmed atomic.Int32
	now       time.Time
	rec       *fakeRecorder
	hooks     *bounce.Webhooks
	log       *bytes.Buffer
}

func newSNSFixture(t *testing.T) *snsFixture {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "sns.amazonaws.com"},
		NotBefore: testNow.Add(-24 * time.Hour), NotAfter: testNow.Add(365 * 24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	f := &snsFixture{key: key, now: testNow, rec: &fakeRecorder{}, log: &bytes.Buffer{}}
	f.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/SimpleNotificationService-test.pem":
			_, _ = w.Write(certPEM)
		case "/confirm":
			if r.URL.Query().Get("Token") == "tok-123" {
				f.confirmed.Add(1)
			}
			_, _ = w.Write([]byte("<ConfirmSubscriptionResponse/>"))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(f.srv.Close)
	f.certURL = f.srv.URL + "/SimpleNotificationService-test.pem"
	f.hooks, err = bounce.NewWebhooks(bounce.WebhookOptions{
		SESTopicARNs: []string{topic}, ReturnPrefix: "bounces", Now: clock(&f.now),
		Client: f.srv.Client(), SNSHosts: []string{f.srv.Listener.Addr().String()},
		Logger: slog.New(slog.NewTextHandler(f.log, nil)),
	}, f.rec)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// sign signs an SNS message as SNS documents it: the fields of the
// message's type, each as "Name\nvalue\n", in a fixed order.
func (f *snsFixture) sign(t *testing.T, m map[string]string, version string) []byte {
	t.Helper()
	return f.signWith(t, f.key, m, version)
}

func (f *snsFixture) signWith(t *testing.T, key *rsa.PrivateKey, m map[string]string, version string) []byte {
	t.Helper()
	m["SignatureVersion"] = version
	if _, ok := m["SigningCertURL"]; !ok {
		m["SigningCertURL"] = f.certURL
	}
	names := []string{"Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"}
	if m["Type"] != "Notification" {
		names = []string{"Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"}
	}
	var b strings.Builder
	for _, n := range names {
		if v, ok := m[n]; ok {
			b.WriteString(n + "\n" + v + "\n")
		}
	}
	var sig []byte
	var err error
	if version == "1" {
		d := sha1.Sum([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA1, d[:])
	} else {
		d := sha256.Sum256([]byte(b.String()))
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	m["Signature"] = base64.StdEncoding.EncodeToString(sig)
	body, _ := json.Marshal(m)
	return body
}

const sesBounce = `{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bounceSubType":"General",
"bouncedRecipients":[{"emailAddress":"an@Gmail.COM","action":"failed","status":"5.1.1",
"diagnosticCode":"smtp; 550 5.1.1 user unknown"}],"timestamp":"2026-12-02T01:59:00.000Z",
"feedbackId":"0100017abc-feedback"},"mail":{"timestamp":"2026-12-02T01:58:00.000Z",
"source":"bounces+AbC123.sig-_~@news.example.vn","messageId":"0100017abc-msg",
"destination":["an@gmail.com"]}}`

func sesNotification(message string, at time.Time) map[string]string {
	return map[string]string{
		"Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn": topic,
		"Message": message, "Timestamp": at.Format("2006-01-02T15:04:05.000Z"),
	}
}

func TestSESWebhookSignedBounceIsRecorded(t *testing.T) {
	for _, version := range []string{"1", "2"} {
		t.Run("SignatureVersion"+version, func(t *testing.T) {
			f := newSNSFixture(t)
			body := f.sign(t, sesNotification(sesBounce, f.now.Add(-time.Minute)), version)
			got, err := f.hooks.Receive(context.Background(), "ses", nil, body)
			if err != nil {
				t.Fatal(err)
			}
			want := []bounce.Event{{Source: "ses", Kind: bounce.Hard, Recipient: "an@gmail.com", Status: "5.1.1",
				Reason: "smtp; 550 5.1.1 user unknown: Permanent/General", Token: "AbC123.sig-_~",
				ID: "ses:0100017abc-feedback:an@gmail.com", At: time.Date(2026, 12, 2, 1, 59, 0, 0, time.UTC)}}
			if d := cmp.Diff(want, f.rec.got()); d != "" {
				t.Errorf("events (-want +got):\n%s", d)
			}
			if got.Events != 1 || got.Outcomes[bounce.Counted] != 1 {
				t.Errorf("received %+v, want 1 event counted", got)
			}
		})
	}
}

func TestSESWebhookTransientBounceIsSoftAndComplaintIsComplaint(t *testing.T) {
	f := newSNSFixture(t)
	soft := `{"eventType":"Bounce","bounce":{"bounceType":"Transient","bounceSubType":"MailboxFull",
"bouncedRecipients":[{"emailAddress":"binh@example.com","diagnosticCode":"552 5.2.2 mailbox full"}],"feedbackId":"fb-2"},
"mail":{"source":"news@example.vn"}}`
	complaint := `{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"chi@example.com"}],
"complaintFeedbackType":"abuse","feedbackId":"fb-3"},"mail":{"source":"bounces+tok3@news.example.vn"}}`
	notSpam := `{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"dung@example.com"}],
"complaintFeedbackType":"not-spam","feedbackId":"fb-4"},"mail":{}}`
	delivery := `{"notificationType":"Delivery","delivery":{"recipients":["em@example.com"]},"mail":{}}`
	for _, m := range []string{soft, complaint, notSpam, delivery} {
		if _, err := f.hooks.Receive(context.Background(), "ses", nil, f.sign(t, sesNotification(m, f.now), "2")); err != nil {
			t.Fatal(err)
		}
	}
	want := []bounce.Event{
		{Source: "ses", Kind: bounce.Soft, Recipient: "binh@example.com", Status: "5.2.2",
			Reason: "552 5.2.2 mailbox full: Transient/MailboxFull", ID: "ses:fb-2:binh@example.com"},
		{Source: "ses", Kind: bounce.Complaint, Recipient: "chi@example.com", Reason: "complaint: abuse",
			Token: "tok3", ID: "ses:fb-3:chi@example.com"},
	}
	if d := cmp.Diff(want, f.rec.got()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}

func TestSESWebhookForgedRequestsRecordNothing(t *testing.T) {
	f := newSNSFixture(t)
	good := func() map[string]string { return sesNotification(sesBounce, f.now.Add(-time.Minute)) }
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func() []byte{
		"message changed after signing": func() []byte {
			var m map[string]string
			_ = json.Unmarshal(f.sign(t, good(), "2"), &m)
			m["Message"] = strings.Replace(m["Message"], "an@Gmail.COM", "victim@example.com", 1)
			b, _ := json.Marshal(m)
			return b
		},
		"signed by another key": func() []byte {
			return f.signWith(t, otherKey, good(), "2")
		},
		"topic not configured": func() []byte {
			m := good()
			m["TopicArn"] = "arn:aws:sns:us-east-1:999999999999:other"
			return f.sign(t, m, "2")
		},
		"certificate over http": func() []byte {
			m := good()
			m["SigningCertURL"] = strings.Replace(f.certURL, "https://", "http://", 1)
			return f.sign(t, m, "2")
		},
		"certificate on another host": func() []byte {
			m := good()
			m["SigningCertURL"] = "https://sns.evil.example.com/cert.pem"
			return f.sign(t, m, "2")
		},
		"certificate on a look-alike of an SNS host": func() []byte {
			m := good()
			m["SigningCertURL"] = "https://sns.us-east-1.amazonaws.com.evil.example/cert.pem"
			return f.sign(t, m, "2")
		},
		"unknown signature version": func() []byte { return f.sign(t, good(), "3") },
		"not JSON":                  func() []byte { return []byte("Type=Notification") },
		"no signature": func() []byte {
			m := good()
			m["SigningCertURL"] = f.certURL
			b, _ := json.Marshal(m)
			return b
		},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := f.hooks.Receive(context.Background(), "ses", nil, body())
			if !errors.Is(err, bounce.ErrForged) {
				t.Errorf("err = %v, want ErrForged", err)
			}
			if n := len(f.rec.got()); n != 0 {
				t.Errorf("the Recorder got %d events", n)
			}
		})
	}
}

func TestSESWebhookRefusesMessagesOlderThanOneHour(t *testing.T) {
	f := newSNSFixture(t)
	old := f.sign(t, sesNotification(sesBounce, f.now.Add(-61*time.Minute)), "2")
	if _, err := f.hooks.Receive(context.Background(), "ses", nil, old); !errors.Is(err, bounce.ErrForged) {
		t.Errorf("a message signed 61 minutes ago: err = %v, want ErrForged", err)
	}
	// The same message, a replay within the hour, is taken: the Recorder
	// counts its ID once.
	recent := f.sign(t, sesNotification(sesBounce, f.now.Add(-59*time.Minute)), "2")
	if _, err := f.hooks.Receive(context.Background(), "ses", nil, recent); err != nil {
		t.Errorf("a message signed 59 minutes ago: %v", err)
	}
	if n := len(f.rec.got()); n != 1 {
		t.Errorf("the Recorder got %d events, want 1", n)
	}
}

func TestSESWebhookConfirmsSubscription(t *testing.T) {
	f := newSNSFixture(t)
	m := map[string]string{
		"Type": "SubscriptionConfirmation", "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b", "Token": "tok-123",
		"TopicArn": topic, "Message": "You have chosen to subscribe to the topic " + topic,
		"SubscribeURL": f.srv.URL + "/confirm?Action=ConfirmSubscription&Token=tok-123",
		"Timestamp":    f.now.Format(time.RFC3339),
	}
	if _, err := f.hooks.Receive(context.Background(), "ses", nil, f.sign(t, m, "1")); err != nil {
		t.Fatal(err)
	}
	if n := f.confirmed.Load(); n != 1 {
		t.Errorf("SubscribeURL fetched %d times, want 1", n)
	}
	if !strings.Contains(f.log.String(), "SNS subscription confirmed") || !strings.Contains(f.log.String(), topic) {
		t.Errorf("log lacks the confirmation:\n%s", f.log)
	}
	// A confirmation whose SubscribeURL leads elsewhere is not followed.
	m["SubscribeURL"] = "https://evil.example.com/confirm?Token=tok-123"
	if _, err := f.hooks.Receive(context.Background(), "ses", nil, f.sign(t, m, "1")); !errors.Is(err, bounce.ErrForged) {
		t.Errorf("SubscribeURL off SNS: err = %v, want ErrForged", err)
	}
	// Nor is a forged one.
	m["SubscribeURL"] = f.srv.URL + "/confirm?Action=ConfirmSubscription&Token=tok-123"
	body := f.sign(t, m, "1")
	body = []byte(strings.Replace(string(body), "tok-123", "tok-124", 1))
	if _, err := f.hooks.Receive(context.Background(), "ses", nil, body); !errors.Is(err, bounce.ErrForged) {
		t.Errorf("forged confirmation: err = %v, want ErrForged", err)
	}
	if n := f.confirmed.Load(); n != 1 {
		t.Errorf("SubscribeURL fetched %d times, want 1", n)
	}
}

func TestSESWebhookMalformedMessageAfterGoodSignature(t *testing.T) {
	f := newSNSFixture(t)
	_, err := f.hooks.Receive(context.Background(), "ses", nil, f.sign(t, sesNotification("hello, not JSON", f.now), "2"))
	if !errors.Is(err, bounce.ErrMalformed) {
		t.Errorf("err = %v, want ErrMalformed", err)
	}
}

// --- Mailgun ---

const mailgunKey = "key-0123456789abcdef0123456789abcdef"

func mailgunBody(key string, at time.Time, token, eventData string) []byte {
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(ts + token))
	return []byte(fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":%s}`,
		ts, token, hex.EncodeToString(mac.Sum(nil)), eventData))
}

const mailgunFailed = `{"event":"failed","id":"G9Bn5sl1TC6nu79C8C0bwg","timestamp":1764640700.5,"severity":"permanent",
"reason":"bounce","recipient":"an@example.com","envelope":{"sender":"bounces+TOK.sig@news.example.vn","targets":"an@example.com"},
"delivery-status":{"code":550,"message":"5.1.1 The email account that you tried to reach does not exist","description":""},
"message":{"headers":{"message-id":"<issue-7.sub-3@news.example.vn>"}}}`

func newMailgun(t *testing.T, now *time.Time) (*bounce.Webhooks, *fakeRecorder) {
	t.Helper()
	rec := &fakeRecorder{}
	w, err := bounce.NewWebhooks(bounce.WebhookOptions{MailgunSigningKey: mailgunKey, Now: clock(now)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	return w, rec
}

func TestMailgunWebhookSignedFailureIsRecorded(t *testing.T) {
	now := testNow
	w, rec := newMailgun(t, &now)
	temporary := strings.NewReplacer(`"permanent"`, `"temporary"`, "5.1.1 The email account that you tried to reach does not exist",
		"4.2.2 The email account that you tried to reach is over quota").Replace(mailgunFailed)
	complained := `{"event":"complained","id":"c-1","recipient":"chi@example.com","envelope":{"sender":"news@example.vn"}}`
	delivered := `{"event":"delivered","id":"d-1","recipient":"dung@example.com"}`
	for i, ed := range []string{mailgunFailed, temporary, complained, delivered} {
		if _, err := w.Receive(context.Background(), "mailgun", nil, mailgunBody(mailgunKey, now, fmt.Sprintf("token-%050d", i), ed)); err != nil {
			t.Fatal(err)
		}
	}
	at := time.Unix(1764640700, 0)
	want := []bounce.Event{
		{Source: "mailgun", Kind: bounce.Hard, Recipient: "an@example.com", Status: "5.1.1",
			Reason: "550: 5.1.1 The email account that you tried to reach does not exist: bounce", Token: "TOK.sig",
			ID: "mailgun:issue-7.sub-3@news.example.vn:hard:an@example.com", At: at},
		{Source: "mailgun", Kind: bounce.Soft, Recipient: "an@example.com", Status: "4.2.2",
			Reason: "550: 4.2.2 The email account that you tried to reach is over quota: bounce", Token: "TOK.sig",
			ID: "mailgun:issue-7.sub-3@news.example.vn:soft:an@example.com", At: at},
		{Source: "mailgun", Kind: bounce.Complaint, Recipient: "chi@example.com", ID: "mailgun:c-1:chi@example.com"},
	}
	if d := cmp.Diff(want, rec.got()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}

func TestMailgunWebhookForgedRequestsRecordNothing(t *testing.T) {
	now := testNow
	w, rec := newMailgun(t, &now)
	good := mailgunBody(mailgunKey, now, "tok-a", mailgunFailed)
	cases := map[string][]byte{
		"wrong key":             mailgunBody("key-wrong", now, "tok-b", mailgunFailed),
		"token changed":         []byte(strings.Replace(string(good), "tok-a", "tok-c", 1)),
		"timestamp changed":     []byte(strings.Replace(string(good), strconv.FormatInt(now.Unix(), 10), strconv.FormatInt(now.Unix()+1, 10), 1)),
		"signature not hex":     []byte(`{"signature":{"timestamp":"1","token":"t","signature":"zz"},"event-data":{}}`),
		"no signature":          []byte(`{"event-data":` + mailgunFailed + `}`),
		"not JSON":              []byte(`signature=abc&token=def`),
		"signature empty":       mailgunBodyNoSig(now),
		"timestamp not numeric": []byte(`{"signature":{"timestamp":"soon","token":"t","signature":"00"},"event-data":{}}`),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := w.Receive(context.Background(), "mailgun", nil, body); !errors.Is(err, bounce.ErrForged) {
				t.Errorf("err = %v, want ErrForged", err)
			}
		})
	}
	if n := len(rec.got()); n != 0 {
		t.Errorf("the Recorder got %d events", n)
	}
}

func mailgunBodyNoSig(now time.Time) []byte {
	return []byte(fmt.Sprintf(`{"signature":{"timestamp":"%d","token":"tok-x","signature":""},"event-data":%s}`, now.Unix(), mailgunFailed))
}

func TestMailgunWebhookRefusesTimestampsOlderThan15MinutesAndReusedTokens(t *testing.T) {
	now := testNow
	w, rec := newMailgun(t, &now)
	old := mailgunBody(mailgunKey, now.Add(-16*time.Minute), "tok-old", mailgunFailed)
	if _, err := w.Receive(context.Background(), "mailgun", nil, old); !errors.Is(err, bounce.ErrForged) {
		t.Errorf("signed 16 minutes ago: err = %v, want ErrForged", err)
	}
	body := mailgunBody(mailgunKey, now.Add(-14*time.Minute), "tok-once", mailgunFailed)
	if _, err := w.Receive(context.Background(), "mailgun", nil, body); err != nil {
		t.Errorf("signed 14 minutes ago: %v", err)
	}
	now = now.Add(30 * time.Second)
	if _, err := w.Receive(context.Background(), "mailgun", nil, body); !errors.Is(err, bounce.ErrForged) {
		t.Errorf("the same request again: err = %v, want ErrForged (a replay)", err)
	}
	if n := len(rec.got()); n != 1 {
		t.Errorf("the Recorder got %d events, want 1", n)
	}
}

func TestMailgunWebhookMalformedEventAfterGoodSignature(t *testing.T) {
	now := testNow
	w, _ := newMailgun(t, &now)
	for i, ed := range []string{`null`, `{"id":5,"event":"failed"}`, `["failed"]`} {
		body := mailgunBody(mailgunKey, now, "tok-m"+strconv.Itoa(i), ed)
		if _, err := w.Receive(context.Background(), "mailgun", nil, body); !errors.Is(err, bounce.ErrMalformed) {
			t.Errorf("event-data %s: err = %v, want ErrMalformed (the signature is good)", ed, err)
		}
	}
}

// --- Postmark ---

func newPostmark(t *testing.T) (*bounce.Webhooks, *fakeRecorder) {
	t.Helper()
	rec := &fakeRecorder{}
	w, err := bounce.NewWebhooks(bounce.WebhookOptions{PostmarkUsername: "postmark", PostmarkPassword: "s3cret-pass"}, rec)
	if err != nil {
		t.Fatal(err)
	}
	return w, rec
}

func basicAuth(user, password string) http.Header {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	return h
}

func TestPostmarkWebhookAuthenticatedBounceIsRecorded(t *testing.T) {
	w, rec := newPostmark(t)
	records := []string{
		`{"RecordType":"Bounce","ID":4323372036854775807,"Type":"HardBounce","TypeCode":1,"MessageID":"883953f4-6105-42a2-a16a-77a8eac79483",
"Email":"an@example.com","Description":"The server was unable to deliver your message (ex: unknown user, mailbox not found).",
"Details":"smtp;550 5.1.1 The email account that you tried to reach does not exist","BouncedAt":"2026-12-02T01:30:00Z"}`,
		`{"RecordType":"Bounce","ID":2,"Type":"SoftBounce","Email":"binh@example.com","Description":"Mailbox full","Details":"452 4.2.2 over quota"}`,
		`{"RecordType":"SpamComplaint","ID":3,"Type":"SpamComplaint","Email":"chi@example.com","Description":"The subscriber explicitly marked this message as spam."}`,
		`{"RecordType":"Bounce","ID":"4","Type":"AutoResponder","Email":"dung@example.com","Description":"Out of office"}`,
		`{"RecordType":"Bounce","ID":null,"MessageID":"m-6","Type":"BadEmailAddress","Email":"giang@example.com"}`,
		`{"RecordType":"Bounce","ID":5,"Type":"VirusNotification","Email":"em@example.com"}`,
		`{"RecordType":"Delivery","MessageID":"x","Recipient":"em@example.com"}`,
	}
	for _, r := range records {
		if _, err := w.Receive(context.Background(), "postmark", basicAuth("postmark", "s3cret-pass"), []byte(r)); err != nil {
			t.Fatal(err)
		}
	}
	want := []bounce.Event{
		{Source: "postmark", Kind: bounce.Hard, Recipient: "an@example.com", Status: "5.1.1",
			Reason: "HardBounce: The server was unable to deliver your message (ex: unknown user, mailbox not found).: smtp;550 5.1.1 The email account that you tried to reach does not exist",
			ID:     "postmark:4323372036854775807:an@example.com", At: time.Date(2026, 12, 2, 1, 30, 0, 0, time.UTC)},
		{Source: "postmark", Kind: bounce.Soft, Recipient: "binh@example.com", Status: "4.2.2",
			Reason: "SoftBounce: Mailbox full: 452 4.2.2 over quota", ID: "postmark:2:binh@example.com"},
		{Source: "postmark", Kind: bounce.Complaint, Recipient: "chi@example.com",
			Reason: "SpamComplaint: The subscriber explicitly marked this message as spam.", ID: "postmark:3:chi@example.com"},
		{Source: "postmark", Kind: bounce.AutoReply, Recipient: "dung@example.com", Reason: "AutoResponder: Out of office",
			ID: "postmark:4:dung@example.com"},
		{Source: "postmark", Kind: bounce.Hard, Recipient: "giang@example.com", Reason: "BadEmailAddress",
			ID: "postmark:m-6:giang@example.com"},
	}
	if d := cmp.Diff(want, rec.got()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
}

func TestPostmarkWebhookWrongPasswordRecordsNothing(t *testing.T) {
	w, rec := newPostmark(t)
	body := []byte(`{"RecordType":"Bounce","ID":1,"Type":"HardBounce","Email":"an@example.com"}`)
	for name, h := range map[string]http.Header{
		"wrong password":  basicAuth("postmark", "s3cret-pasS"),
		"wrong user":      basicAuth("postmarK", "s3cret-pass"),
		"no auth":         {},
		"bearer":          {"Authorization": {"Bearer s3cret-pass"}},
		"password prefix": basicAuth("postmark", "s3cret"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := w.Receive(context.Background(), "postmark", h, body); !errors.Is(err, bounce.ErrForged) {
				t.Errorf("err = %v, want ErrForged", err)
			}
		})
	}
	if n := len(rec.got()); n != 0 {
		t.Errorf("the Recorder got %d events", n)
	}
	if _, err := w.Receive(context.Background(), "postmark", basicAuth("postmark", "s3cret-pass"), []byte(`{"RecordType":`)); !errors.Is(err, bounce.ErrMalformed) {
		t.Errorf("broken JSON with the right password: err = %v, want ErrMalformed", err)
	}
}

// --- SendGrid ---

type sendGridSigner struct {
	key    *ecdsa.PrivateKey
	public string
}

func newSendGridSigner(t *testing.T) *sendGridSigner {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &sendGridSigner{key: key, public: base64.StdEncoding.EncodeToString(der)}
}

func (s *sendGridSigner) sign(t *testing.T, ts string, body []byte) http.Header {
	t.Helper()
	d := sha256.Sum256(append([]byte(ts), body...))
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
	h.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
	return h
}

const sendGridBatch = `[
{"email":"an@example.com","timestamp":1764640800,"event":"bounce","type":"bounce","status":"5.1.1",
 "reason":"550 5.1.1 The email account that you tried to reach does not exist","sg_event_id":"ev-1","sg_message_id":"m-1"},
{"email":"binh@example.com","timestamp":1764640801,"event":"bounce","type":"blocked","status":"4.0.0",
 "reason":"421 Too many connections","sg_event_id":"ev-2"},
{"email":"chi@example.com","timestamp":1764640802,"event":"spamreport","sg_event_id":"ev-3"},
{"email":"dung@example.com","timestamp":1764640803,"event":"dropped","reason":"Bounced Address","sg_event_id":"ev-4"},
{"email":"em@example.com","timestamp":1764640804,"event":"delivered","sg_event_id":"ev-5"},
{"email":"giang@example.com","timestamp":1764640805,"event":"dropped","reason":"Unsubscribed Address","sg_event_id":"ev-6"},
{"email":"hoa@example.com","timestamp":"yesterday","event":"bounce","type":"bounce","sg_event_id":"ev-7"}
]`

func TestSendGridWebhookSignedBatchIsRecorded(t *testing.T) {
	s := newSendGridSigner(t)
	rec := &fakeRecorder{}
	w, err := bounce.NewWebhooks(bounce.WebhookOptions{SendGridPublicKey: s.public}, rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.Receive(context.Background(), "sendgrid", s.sign(t, "1764640810", []byte(sendGridBatch)), []byte(sendGridBatch))
	if err != nil {
		t.Fatal(err)
	}
	want := []bounce.Event{
		{Source: "sendgrid", Kind: bounce.Hard, Recipient: "an@example.com", Status: "5.1.1",
			Reason: "550 5.1.1 The email account that you tried to reach does not exist", ID: "sendgrid:ev-1:an@example.com",
			At: time.Unix(1764640800, 0)},
		{Source: "sendgrid", Kind: bounce.Soft, Recipient: "binh@example.com", Status: "4.0.0",
			Reason: "421 Too many connections", ID: "sendgrid:ev-2:binh@example.com", At: time.Unix(1764640801, 0)},
		{Source: "sendgrid", Kind: bounce.Complaint, Recipient: "chi@example.com", ID: "sendgrid:ev-3:chi@example.com",
			At: time.Unix(1764640802, 0)},
		{Source: "sendgrid", Kind: bounce.Hard, Recipient: "dung@example.com", Reason: "Bounced Address",
			ID: "sendgrid:ev-4:dung@example.com", At: time.Unix(1764640803, 0)},
	}
	if d := cmp.Diff(want, rec.got()); d != "" {
		t.Errorf("events (-want +got):\n%s", d)
	}
	if got.Events != 4 || got.Outcomes[bounce.Counted] != 3 || got.Outcomes[bounce.Unsubscribed] != 1 {
		t.Errorf("received %+v", got)
	}
}

func TestSendGridWebhookForgedBatchRecordsNothing(t *testing.T) {
	s, other := newSendGridSigner(t), newSendGridSigner(t)
	rec := &fakeRecorder{}
	w, err := bounce.NewWebhooks(bounce.WebhookOptions{SendGridPublicKey: s.public}, rec)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(sendGridBatch)
	changed := []byte(strings.Replace(sendGridBatch, "an@example.com", "victim@example.com", 1))
	retimed := s.sign(t, "1764640810", body)
	retimed.Set("X-Twilio-Email-Event-Webhook-Timestamp", "1764640811")
	for name, c := range map[string]struct {
		h    http.Header
		body []byte
	}{
		"body changed":      {s.sign(t, "1764640810", body), changed},
		"timestamp changed": {retimed, body},
		"another key":       {other.sign(t, "1764640810", body), body},
		"no headers":        {http.Header{}, body},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := w.Receive(context.Background(), "sendgrid", c.h, c.body); !errors.Is(err, bounce.ErrForged) {
				t.Errorf("err = %v, want ErrForged", err)
			}
		})
	}
	if n := len(rec.got()); n != 0 {
		t.Errorf("the Recorder got %d events", n)
	}
	bad := []byte(`{"event":"bounce"}`)
	if _, err := w.Receive(context.Background(), "sendgrid", s.sign(t, "1", bad), bad); !errors.Is(err, bounce.ErrMalformed) {
		t.Errorf("signed non-array: err = %v, want ErrMalformed", err)
	}
}

func TestSendGridWebhookRefusesAKeyThatIsNoP256Key(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 1024)
	der, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	for name, key := range map[string]string{
		"not base64": "not a key!",
		"not DER":    base64.StdEncoding.EncodeToString([]byte("hello")),
		"RSA":        base64.StdEncoding.EncodeToString(der),
	} {
		if _, err := bounce.NewWebhooks(bounce.WebhookOptions{SendGridPublicKey: key}, &fakeRecorder{}); err == nil ||
			!strings.Contains(err.Error(), "bounces.sendgrid.public_key") {
			t.Errorf("%s: err = %v, want one naming bounces.sendgrid.public_key", name, err)
		}
	}
}

// --- all providers ---

func TestWebhooksOffWhileKeysAreEmpty(t *testing.T) {
	w, err := bounce.NewWebhooks(bounce.WebhookOptions{}, &fakeRecorder{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"ses", "mailgun", "postmark", "sendgrid", "other"} {
		if w.Has(p) {
			t.Errorf("%s is on with no keys", p)
		}
		if _, err := w.Receive(context.Background(), p, nil, []byte("{}")); !errors.Is(err, bounce.ErrNoProvider) {
			t.Errorf("%s: err = %v, want ErrNoProvider", p, err)
		}
	}
}

func TestWebhooksRecorderFailureIsReturnedAfterTheOtherEvents(t *testing.T) {
	s := newSendGridSigner(t)
	rec := &fakeRecorder{err: errors.New("database is locked")}
	w, err := bounce.NewWebhooks(bounce.WebhookOptions{SendGridPublicKey: s.public}, rec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := w.Receive(context.Background(), "sendgrid", s.sign(t, "1", []byte(sendGridBatch)), []byte(sendGridBatch))
	if err == nil || errors.Is(err, bounce.ErrForged) || errors.Is(err, bounce.ErrMalformed) {
		t.Fatalf("err = %v, want the Recorder's", err)
	}
	if n := len(rec.got()); n != 4 || got.Outcomes["error"] != 4 {
		t.Errorf("the Recorder was called %d times (outcomes %v), want 4", n, got.Outcomes)
	}
}

func TestMailgunWebhookRetryAfterRecorderFailureIsTaken(t *testing.T) {
	now := testNow
	rec := &fakeRecorder{err: errors.New("database is locked")}
	w, err := bounce.NewWebhooks(bounce.WebhookOptions{MailgunSigningKey: mailgunKey, Now: clock(&now)}, rec)
	if err != nil {
		t.Fatal(err)
	}
	body := mailgunBody(mailgunKey, now, "tok-retry", mailgunFailed)
	if _, err := w.Receive(context.Background(), "mailgun", nil, body); err == nil || errors.Is(err, bounce.ErrForged) {
		t.Fatalf("err = %v, want the Recorder's", err)
	}
	rec.mu.Lock()
	rec.err = nil
	rec.mu.Unlock()
	if _, err := w.Receive(context.Background(), "mailgun", nil, body); err != nil {
		t.Errorf("Mailgun's retry of a request answered 500: %v", err)
	}
	if _, err := w.Receive(context.Background(), "mailgun", nil, body); !errors.Is(err, bounce.ErrForged) {
		t.Errorf("once recorded, the same request again: err = %v, want ErrForged (a replay)", err)
	}
}

func TestPostmarkWebhookOffWithoutAPassword(t *testing.T) {
	w, err := bounce.NewWebhooks(bounce.WebhookOptions{PostmarkUsername: "postmark"}, &fakeRecorder{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Receive(context.Background(), "postmark", basicAuth("postmark", ""), []byte(`{"RecordType":"Bounce","Type":"HardBounce","Email":"an@example.com"}`)); !errors.Is(err, bounce.ErrNoProvider) {
		t.Errorf("err = %v, want ErrNoProvider", err)
	}
}

func TestSESWebhookCertificateProblems(t *testing.T) {
	f := newSNSFixture(t)
	// A certificate past its NotAfter is refused, though its signature
	// matches.
	f.now = testNow.Add(2 * 365 * 24 * time.Hour)
	if _, err := f.hooks.Receive(context.Background(), "ses", nil, f.sign(t, sesNotification(sesBounce, f.now), "2")); !errors.Is(err, bounce.ErrForged) {
		t.Errorf("expired certificate: err = %v, want ErrForged", err)
	}
	f.now = testNow
	// A certificate URL on SNS's host that holds none.
	m := sesNotification(sesBounce, f.now)
	m["SigningCertURL"] = f.srv.URL + "/missing.pem"
	if _, err := f.hooks.Receive(context.Background(), "ses", nil, f.sign(t, m, "2")); !errors.Is(err, bounce.ErrForged) {
		t.Errorf("no certificate at the URL: err = %v, want ErrForged", err)
	}
	// SNS out of reach is no forgery: a 5xx makes SNS send it again.
	m = sesNotification(sesBounce, f.now)
	m["SigningCertURL"] = f.srv.URL + "/other.pem"
	body := f.sign(t, m, "2")
	f.srv.Close()
	_, err := f.hooks.Receive(context.Background(), "ses", nil, body)
	if err == nil || errors.Is(err, bounce.ErrForged) || errors.Is(err, bounce.ErrMalformed) {
		t.Errorf("SNS unreachable: err = %v, want a plain error", err)
	}
	if n := len(f.rec.got()); n != 0 {
		t.Errorf("the Recorder got %d events", n)
	}
}
