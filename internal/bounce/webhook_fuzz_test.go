package bounce

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzWebhookEvents feeds what follows a passed check to each provider's
// reader: no panic, no error but ErrMalformed, and every Event one a
// Recorder can take (a kind it knows, an address or a token, a bounded
// one-line reason).
func FuzzWebhookEvents(f *testing.F) {
	for _, s := range []string{
		`{"event":"failed","severity":"permanent","recipient":"an@example.com","envelope":{"sender":"bounces+T@x.vn"},"delivery-status":{"code":550,"message":"5.1.1 no"}}`,
		`{"RecordType":"Bounce","ID":1,"Type":"HardBounce","Email":"an@example.com","Details":"550 5.1.1"}`,
		`[{"email":"an@example.com","event":"bounce","type":"blocked","status":"4.0.0","sg_event_id":"e"}]`,
		`{"notificationType":"Bounce","bounce":{"bounceType":"Permanent","bouncedRecipients":[{"emailAddress":"an@example.com","status":"5.1.1"}]},"mail":{"source":"bounces+T@x.vn"}}`,
		`{"notificationType":"Complaint","complaint":{"complainedRecipients":[{"emailAddress":"an@example.com"}]}}`,
	} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 2, 2, 0, 0, 0, time.UTC)
	o := WebhookOptions{ReturnPrefix: "bounces", Now: func() time.Time { return now }, MailgunSigningKey: "k",
		PostmarkUsername: "u", PostmarkPassword: "p"}
	mg, pm := newMailgun(o), newPostmark(o)
	ses := newSES(WebhookOptions{SESTopicARNs: []string{"t"}, ReturnPrefix: "bounces"})
	sgKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	sg := &sendGridWebhook{key: &sgKey.PublicKey}
	auth := http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte("u:p"))}}
	n := 0
	f.Fuzz(func(t *testing.T, data string) {
		n++
		ts := strconv.FormatInt(now.Unix(), 10)
		tok := "tok" + strconv.Itoa(n)
		mac := hmac.New(sha256.New, []byte("k"))
		mac.Write([]byte(ts + tok))
		body, _ := json.Marshal(map[string]any{"signature": map[string]string{"timestamp": ts, "token": tok,
			"signature": hex.EncodeToString(mac.Sum(nil))}, "event-data": json.RawMessage(data)})
		var all []Event
		if json.Valid([]byte(data)) {
			evs, err := mg.Events(context.Background(), nil, body)
			check(t, "mailgun", err, false)
			all = append(all, evs...)
		}
		evs, err := pm.Events(context.Background(), auth, []byte(data))
		check(t, "postmark", err, false)
		all = append(all, evs...)
		d := sha256.Sum256([]byte(ts + data))
		if sig, err := ecdsa.SignASN1(rand.Reader, sgKey, d[:]); err == nil {
			h := http.Header{}
			h.Set(sendGridSignature, base64.StdEncoding.EncodeToString(sig))
			h.Set(sendGridTimestamp, ts)
			evs, err = sg.Events(context.Background(), h, []byte(data))
			check(t, "sendgrid", err, false)
			all = append(all, evs...)
		}
		var n sesNotification
		if json.Unmarshal([]byte(data), &n) == nil {
			all = append(all, ses.read("id", n)...)
		}
		for _, ev := range all {
			switch ev.Kind {
			case Hard, Soft, Complaint, AutoReply:
			default:
				t.Errorf("event of kind %q", ev.Kind)
			}
			if ev.Recipient == "" && ev.Token == "" {
				t.Errorf("event naming nobody: %+v", ev)
			}
			if utf8.RuneCountInString(ev.Reason) > MaxReason || strings.ContainsAny(ev.Reason, "\r\n") || !utf8.ValidString(ev.Reason) {
				t.Errorf("reason %q", ev.Reason)
			}
		}
	})
}

// check fails t on an error other than ErrMalformed (or, when forgedOK,
// ErrForged).
func check(t *testing.T, who string, err error, forgedOK bool) {
	t.Helper()
	if err == nil || errors.Is(err, ErrMalformed) || (forgedOK && errors.Is(err, ErrForged)) {
		return
	}
	t.Errorf("%s: %v", who, err)
}
