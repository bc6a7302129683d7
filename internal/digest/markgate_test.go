package digest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	smtp "github.com/emersion/go-smtp"

	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
)

// markLog wraps the store: it slows every MarkDeliveries down (a busy
// disk), fails it on demand, and remembers whose copy is marked sent once
// the real store has committed it.
type markLog struct {
	Store
	delay time.Duration
	fail  func(marks []store.DeliveryMark) bool // nil: never

	mu      sync.Mutex
	marked  map[string]bool // addresses whose sent mark is committed
	commits int
}

func (s *markLog) MarkDeliveries(ctx context.Context, marks []store.DeliveryMark, now time.Time) ([]error, error) {
	time.Sleep(s.delay)
	if s.fail != nil && s.fail(marks) {
		return nil, errors.New("disk I/O error (on purpose)")
	}
	errs, err := s.Store.MarkDeliveries(ctx, marks, now)
	if err != nil {
		return errs, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	for i, m := range marks {
		if errs[i] == nil && m.Status == store.DeliverySent {
			s.marked[m.Delivery.Email] = true
		}
	}
	return errs, nil
}

func (s *markLog) isMarked(email string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.marked[email]
}

// endWatch is an SMTP relay that, at the end of each message's data (the
// moment it takes the message on), counts the copies it took before that
// are not marked in the store yet: what a crash at that moment would send
// again.
type endWatch struct {
	marks *markLog

	mu         sync.Mutex
	accepted   []string
	counts     map[string]int
	maxUnacked int // the most accepted-unmarked copies before an end of data
	aborted    int // messages whose data ended without the end (a dropped session)
}

func startEndWatch(t *testing.T, marks *markLog) (*endWatch, int) {
	t.Helper()
	w := &endWatch{marks: marks, counts: map[string]int{}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &watchSession{w: w}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 30*time.Second, 30*time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0) // dropped sessions are on purpose
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return w, l.Addr().(*net.TCPAddr).Port
}

type watchSession struct {
	w  *endWatch
	to string
}

func (s *watchSession) Reset()        { s.to = "" }
func (s *watchSession) Logout() error { return nil }
func (s *watchSession) Mail(string, *smtp.MailOptions) error {
	return nil
}
func (s *watchSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = to
	return nil
}

func (s *watchSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		s.w.mu.Lock()
		s.w.aborted++
		s.w.mu.Unlock()
		return err
	}
	// The end of data is in: the message is taken on.
	w := s.w
	w.mu.Lock()
	defer w.mu.Unlock()
	unmarked := 0
	for _, e := range w.accepted {
		if !w.marks.isMarked(e) {
			unmarked++
		}
	}
	w.maxUnacked = max(w.maxUnacked, unmarked)
	w.accepted = append(w.accepted, s.to)
	w.counts[s.to]++
	return nil
}

// markFixture is a fixture sending through SMTP to an endWatch relay,
// with its marks going through a markLog.
func markFixture(t *testing.T, workers int, delay time.Duration, subscribers int) (*fixture, *markLog, *endWatch, []string) {
	t.Helper()
	now := time.Date(2024, 3, 28, 6, 0, 0, 0, time.UTC)
	f := newFixture(t, now, nil, newsletter(t, "sang", "0 6 * * *", "UTC"))
	marks := &markLog{Store: f.store, delay: delay, marked: map[string]bool{}}
	w, port := startEndWatch(t, marks)
	transport, err := mail.NewSMTPTransport(mail.SMTPOptions{Host: "127.0.0.1", Port: port, TLS: "none", Connections: workers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { transport.Close() })
	f.opts.Transport, f.opts.Store, f.opts.Workers = transport, marks, workers
	f.svc = New(f.opts)
	f.article(t, "a1", "", now.Add(-time.Hour), now.Add(-time.Hour))
	var emails []string
	for i := range subscribers {
		emails = append(emails, fmt.Sprintf("doc-gia-%03d@example.vn", i))
	}
	f.subscribe(t, "sang", emails...)
	if _, err := f.svc.SendNow(context.Background(), "sang"); err != nil {
		t.Fatal(err)
	}
	return f, marks, w, emails
}

// TestCrashRepeatsAtMostOneCopyPerWorker: with the store slow to mark, no
// copy is taken on by the relay while the copy its worker sent before is
// still unmarked, so a kill at any moment sends again at most one copy
// per worker; and the marks of the workers share commits, most of them
// two or more.
func TestCrashRepeatsAtMostOneCopyPerWorker(t *testing.T) {
	for _, workers := range []int{1, 4} {
		t.Run(strconv.Itoa(workers)+" workers", func(t *testing.T) {
			f, marks, w, emails := markFixture(t, workers, 15*time.Millisecond, 60)
			r, err := f.svc.DeliverDue(context.Background(), nil)
			if err != nil || r.Sent != len(emails) {
				t.Fatalf("DeliverDue = %+v, %v; want %d sent", r, err, len(emails))
			}
			w.mu.Lock()
			defer w.mu.Unlock()
			for _, e := range emails {
				if w.counts[e] != 1 || !marks.isMarked(e) {
					t.Errorf("%s: %d copies, marked %v; want 1 copy, marked", e, w.counts[e], marks.isMarked(e))
				}
			}
			// At the end of a copy's data, each other worker may have
			// one copy out unmarked; this worker none.
			if w.maxUnacked > workers-1 {
				t.Errorf("a copy was taken on with %d copies accepted and unmarked; want at most %d (one per other worker)",
					w.maxUnacked, workers-1)
			}
			// A waiter waits a little for the other workers' marks: most
			// commits carry several (one a mark for each waiter, before
			// that grace, was 40 commits here).
			if workers > 1 && marks.commits > len(emails)/2 {
				t.Errorf("%d commits for %d copies: the marks of the workers do not share commits", marks.commits, len(emails))
			}
			t.Logf("%d commits for %d copies", marks.commits, len(emails))
		})
	}
}

// TestFailedMarkHoldsBackNextCopy: when the copy before cannot be marked,
// the next copy's data goes without its end (the relay does not take it),
// the run ends with the store's error, and a later run, once the claims
// have lapsed, sends every copy: the unmarked one again, the held-back
// one once.
func TestFailedMarkHoldsBackNextCopy(t *testing.T) {
	f, marks, w, emails := markFixture(t, 1, 0, 3)
	var failing atomic.Bool
	failing.Store(true)
	marks.fail = func(ms []store.DeliveryMark) bool { return failing.Load() }
	ctx := context.Background()
	_, err := f.svc.DeliverDue(ctx, nil)
	if err == nil {
		t.Fatal("DeliverDue: no error from a store that cannot mark")
	}
	// The relay finds the session gone when it reads next.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		w.mu.Lock()
		aborted := w.aborted
		w.mu.Unlock()
		if aborted > 0 {
			break
		}
	}
	w.mu.Lock()
	if w.counts[emails[0]] != 1 || w.counts[emails[1]] != 0 || w.aborted != 1 {
		t.Errorf("relay took %v, %d aborted; want the first copy taken and the second's data ended without its end",
			w.counts, w.aborted)
	}
	w.mu.Unlock()

	failing.Store(false)
	f.clock.Set(f.clock.Now().Add(f.opts.Lease + time.Second))
	if _, err := f.svc.DeliverDue(ctx, nil); err != nil {
		t.Fatal(err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	want := map[string]int{emails[0]: 2, emails[1]: 1, emails[2]: 1}
	for e, n := range want {
		if w.counts[e] != n || !marks.isMarked(e) {
			t.Errorf("%s: %d copies, marked %v; want %d, marked", e, w.counts[e], marks.isMarked(e), n)
		}
	}
}
