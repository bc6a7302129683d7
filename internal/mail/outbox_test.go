package mail

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
)

// flakyTransport fails the first fails sends of each recipient with a
// temporary error, then sends.
type flakyTransport struct {
	mu    sync.Mutex
	fails int
	seen  map[string]int
	sent  []string
}

func (f *flakyTransport) Send(_ context.Context, msgs []Message) []Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Result
	for _, m := range msgs {
		f.seen[m.To.Address]++
		if f.seen[m.To.Address] <= f.fails {
			out = append(out, Result{MessageID: m.MessageID, Status: Temporary, Code: 451, Err: errTest})
			continue
		}
		f.sent = append(f.sent, m.To.Address)
		out = append(out, Result{MessageID: m.MessageID, Status: Sent})
	}
	return out
}

func (f *flakyTransport) Close() error { return nil }

var errTest = &testError{"451 4.3.0 try again later"}

type testError struct{ s string }

func (e *testError) Error() string { return e.s }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestOutboxRetriesWithBackoff(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	clk := &clock{t: time.Date(2024, 12, 20, 6, 0, 0, 0, time.UTC)}
	tr := &flakyTransport{fails: 2, seen: map[string]int{}}
	o := NewOutbox(OutboxOptions{Store: st, Transport: tr, Now: clk.now, RetryBase: time.Minute, MaxAttempts: 5})
	id, err := o.Enqueue(ctx, "confirm", 0, vietnamese("nu@example.vn"))
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := o.Enqueue(ctx, "confirm", 0, func() Message { m := vietnamese("nu@example.vn"); m.MessageID = id; return m }()); again != id {
		t.Fatalf("re-enqueue gave %q", again)
	}
	var waits []time.Duration
	for round := 0; round < 3; round++ {
		n, err := o.SendDue(ctx)
		if err != nil || n != 1 {
			t.Fatalf("round %d: took %d, %v; want the one message", round, n, err)
		}
		m, _ := st.OutboxMail(ctx, id)
		if round < 2 {
			if m.Status != store.MailQueued || m.LastError == "" {
				t.Fatalf("round %d: %+v; want queued for a retry with the reason", round, m)
			}
			waits = append(waits, m.NextAttempt.Sub(clk.now()))
			if n, _ := o.SendDue(ctx); n != 0 {
				t.Fatalf("round %d: the message was taken again before its time", round)
			}
			clk.add(m.NextAttempt.Sub(clk.now()))
			continue
		}
		if m.Status != store.MailSent || m.Attempts != 3 {
			t.Errorf("after the third attempt: %+v; want sent after 3", m)
		}
	}
	if waits[0] < 48*time.Second || waits[0] > 72*time.Second || waits[1] < 96*time.Second || waits[1] > 144*time.Second {
		t.Errorf("waits %v; want about 1 min then 2 min (±20%%)", waits)
	}
	if len(tr.sent) != 1 {
		t.Errorf("sent %d times, want once", len(tr.sent))
	}
}

func TestOutboxGivesUp(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	clk := &clock{t: time.Date(2024, 12, 20, 6, 0, 0, 0, time.UTC)}
	o := NewOutbox(OutboxOptions{Store: st, Transport: &flakyTransport{fails: 100, seen: map[string]int{}}, Now: clk.now, MaxAttempts: 2})
	id, _ := o.Enqueue(ctx, "confirm", 0, vietnamese("nu@example.vn"))
	o.SendDue(ctx)
	clk.add(time.Hour)
	o.SendDue(ctx)
	if m, _ := st.OutboxMail(ctx, id); m.Status != store.MailFailed || m.Attempts != 2 {
		t.Errorf("after MaxAttempts temporary failures: %+v; want failed", m)
	}
}

// TestOutboxOverSMTP: against the real SMTP server, a 5xx fails the
// message and is reported as a bounce of its subscriber; a 4xx is retried;
// a good one is sent.
func TestOutboxOverSMTP(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	ts := newTestServer(t)
	tr := newSMTP(t, ts, nil)
	sub, _ := st.SaveSubscriber(ctx, store.Subscriber{Email: "perm@example.com"}, time.Now())
	var mu sync.Mutex
	bounces := map[int64]int{}
	o := NewOutbox(OutboxOptions{Store: st, Transport: tr, OnPermanent: func(_ context.Context, id int64, code int) {
		mu.Lock()
		bounces[id] = code
		mu.Unlock()
	}})
	ids := map[string]string{}
	reject, _ := st.SaveSubscriber(ctx, store.Subscriber{Email: "reject@example.com"}, time.Now())
	for _, to := range []string{"ok@example.com", "perm@example.com", "temp@example.com", "reject@example.com"} {
		subscriber := int64(0)
		switch to {
		case "perm@example.com":
			subscriber = sub.ID
		case "reject@example.com": // refused after DATA: the relay's doing, not the address's
			subscriber = reject.ID
		}
		m := vietnamese(to)
		m.MessageID = "" // one of its own for each
		id, err := o.Enqueue(ctx, "confirm", subscriber, m)
		if err != nil {
			t.Fatal(err)
		}
		ids[to] = id
	}
	if n, err := o.SendDue(ctx); n != 4 || err != nil {
		t.Fatalf("SendDue: %d, %v", n, err)
	}
	for to, want := range map[string]store.MailStatus{"ok@example.com": store.MailSent, "perm@example.com": store.MailFailed,
		"temp@example.com": store.MailQueued, "reject@example.com": store.MailFailed} {
		if m, _ := st.OutboxMail(ctx, ids[to]); m.Status != want {
			t.Errorf("%s: %s (%s), want %s", to, m.Status, m.LastError, want)
		}
	}
	if bounces[sub.ID] != 550 || len(bounces) != 1 {
		t.Errorf("bounces reported %v; want only subscriber %d with 550 (a 554 after DATA is no bounce)", bounces, sub.ID)
	}
	if got := ts.messages(); len(got) != 1 || got[0].to != "ok@example.com" {
		t.Errorf("server received %v", got)
	}
}

// TestOutboxRunToFiles: Run sends what is enqueued, woken at once, to the
// default file transport.
func TestOutboxRunToFiles(t *testing.T) {
	st := sqlitetest.Open(t)
	dir := t.TempDir()
	ft, err := NewFileTransport(dir, time.UTC, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	o := NewOutbox(OutboxOptions{Store: st, Transport: ft, Poll: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { o.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	if _, err := o.Enqueue(ctx, "confirm", 0, vietnamese("nu@example.vn")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		if len(files) == 1 {
			b, _ := os.ReadFile(files[0])
			if len(b) == 0 {
				t.Error("empty .eml")
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no .eml within 2 s of Enqueue (found %d)", len(files))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// slowTransport takes its time, and fails what it sends once its context
// is done, as an SMTP session cut in the middle would.
type slowTransport struct{ delay time.Duration }

func (s slowTransport) Send(ctx context.Context, msgs []Message) []Result {
	var out []Result
	for _, m := range msgs {
		select {
		case <-time.After(s.delay):
			out = append(out, Result{MessageID: m.MessageID, Status: Sent})
		case <-ctx.Done():
			out = append(out, Result{MessageID: m.MessageID, Status: Temporary, Err: ctx.Err()})
		}
	}
	return out
}

func (slowTransport) Close() error { return nil }

// TestOutboxStopLetsInFlightFinish: a stop during a send lets the batch
// finish within the grace, so nothing is cut and sent twice later.
func TestOutboxStopLetsInFlightFinish(t *testing.T) {
	st := sqlitetest.Open(t)
	o := NewOutbox(OutboxOptions{Store: st, Transport: slowTransport{delay: 200 * time.Millisecond}, StopGrace: 5 * time.Second})
	id, err := o.Enqueue(context.Background(), "confirm", 0, vietnamese("nu@example.vn"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel) // SIGTERM in the middle of the send
	if _, err := o.SendDue(ctx); err != nil {
		t.Fatal(err)
	}
	if m, _ := st.OutboxMail(context.Background(), id); m.Status != store.MailSent {
		t.Errorf("after a stop during the send: %s (%s), want sent", m.Status, m.LastError)
	}
}
