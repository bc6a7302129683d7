package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

// fakeWebhooks answers as bounce.Webhooks would for a body that says what
// to answer: "forged", "malformed", "fail", or anything else for one
// event counted.
type fakeWebhooks struct {
	mu    sync.Mutex
	calls int
}

func (f *fakeWebhooks) Has(p string) bool { return p == "mailgun" || p == "postmark" }

func (f *fakeWebhooks) Receive(_ context.Context, _ string, _ http.Header, body []byte) (bounce.Received, error) {
	f.mu.Lock()
	f.calls++
	f.mu.Unlock()
	switch string(body) {
	case "forged":
		return bounce.Received{}, fmt.Errorf("mailgun webhook: %w: signature does not match", bounce.ErrForged)
	case "malformed":
		return bounce.Received{}, fmt.Errorf("%w: no event-data", bounce.ErrMalformed)
	case "fail":
		return bounce.Received{Events: 1, Outcomes: map[bounce.Outcome]int{"error": 1}}, errors.New("database is locked")
	}
	return bounce.Received{Events: 2, Outcomes: map[bounce.Outcome]int{bounce.Counted: 1, bounce.Unknown: 1}}, nil
}

// syncBuffer is a log that the server writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func webhookServer(t *testing.T, hooks web.BounceWebhooks) (*httptest.Server, *syncBuffer) {
	t.Helper()
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	log := &syncBuffer{}
	opts := web.Options{Site: web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		Store: newFixture(t).store, Templates: tmpl, Logger: slog.New(slog.NewTextHandler(log, nil))}
	if hooks != nil {
		opts.BounceWebhooks = hooks
	}
	srv := httptest.NewServer(web.New(opts))
	t.Cleanup(srv.Close)
	return srv, log
}

func postWebhook(t *testing.T, url string, body io.Reader) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("postmark", "pa55-not-in-the-log")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBounceWebhookStatuses(t *testing.T) {
	hooks := &fakeWebhooks{}
	srv, log := webhookServer(t, hooks)
	for _, c := range []struct {
		path, body string
		status     int
		inBody     string
	}{
		{"/webhooks/bounces/mailgun", "good", 200, `"counted": 1`},
		{"/webhooks/bounces/postmark", "forged", 401, "failed its check"},
		{"/webhooks/bounces/mailgun", "malformed", 400, "cannot be read"},
		{"/webhooks/bounces/mailgun", "fail", 500, "internal error"},
		{"/webhooks/bounces/ses", "good", 404, "bounces.ses"},
		{"/webhooks/bounces/other", "good", 404, "ses, mailgun, postmark and sendgrid"},
	} {
		status, body := postWebhook(t, srv.URL+c.path, strings.NewReader(c.body))
		if status != c.status || !strings.Contains(body, c.inBody) {
			t.Errorf("POST %s %q: %d %s, want %d with %q", c.path, c.body, status, body, c.status, c.inBody)
		}
	}
	if hooks.calls != 4 {
		t.Errorf("Receive called %d times, want 4 (not for the providers that are off)", hooks.calls)
	}
	out := log.String()
	for _, want := range []string{`provider=mailgun outcome=ok events=2 outcomes="counted=1 unknown=1"`,
		"provider=postmark outcome=refused", "signature does not match", "outcome=malformed", "outcome=failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "pa55-not-in-the-log") || strings.Contains(out, "good") {
		t.Errorf("log shows a secret or a body:\n%s", out)
	}
}

func TestBounceWebhookBodyOver1MiBGets413(t *testing.T) {
	hooks := &fakeWebhooks{}
	srv, _ := webhookServer(t, hooks)
	status, body := postWebhook(t, srv.URL+"/webhooks/bounces/mailgun", bytes.NewReader(make([]byte, 1<<20+1)))
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(body, "1 MiB") {
		t.Errorf("a body of 1 MiB + 1 byte: %d %s, want 413", status, body)
	}
	if status, _ := postWebhook(t, srv.URL+"/webhooks/bounces/mailgun", bytes.NewReader(make([]byte, 1<<20))); status != 200 {
		t.Errorf("a body of 1 MiB: %d, want 200", status)
	}
	if hooks.calls != 1 {
		t.Errorf("Receive called %d times, want 1", hooks.calls)
	}
}

func TestBounceWebhooksOffWithoutService(t *testing.T) {
	srv, _ := webhookServer(t, nil)
	if status, _ := postWebhook(t, srv.URL+"/webhooks/bounces/mailgun", strings.NewReader("good")); status != 404 {
		t.Errorf("status %d, want 404", status)
	}
}
