package postgres_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/postgres"
	"github.com/bantin/bantin/internal/store/postgres/pgtest"
	"github.com/bantin/bantin/internal/store/storetest"
)

func testDSN(t *testing.T) string { return pgtest.DSN(t) }

func newSchema(t *testing.T) string { return pgtest.Schema(t) }

func withParam(t *testing.T, dsn, key, value string) string {
	return pgtest.WithParam(t, dsn, key, value)
}

// open opens and migrates a store on dsn, closed when the test ends.
func open(t *testing.T, dsn string) *postgres.Store {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	testDSN(t)
	var mu sync.Mutex
	dsns := map[store.Store]string{} // the DSN each store was opened with
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) store.Store {
			dsn := newSchema(t)
			s := open(t, dsn)
			mu.Lock()
			dsns[s] = dsn
			mu.Unlock()
			return s
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			mu.Lock()
			dsn := dsns[s]
			mu.Unlock()
			return open(t, dsn)
		},
	})
}

func TestPingReportsPendingMigrations(t *testing.T) {
	ctx := context.Background()
	s, err := postgres.Open(ctx, newSchema(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping on an unmigrated store: no error")
	}
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("Migrate: applied %v, err %v", applied, err)
	}
	if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second Migrate: applied %v, err %v; want nothing", again, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after Migrate: %v", err)
	}
}

// TestTwoProcesses runs two handles on one schema, as two processes would:
// their claims never share a delivery, and a save by one is signalled to
// the other.
func TestTwoProcesses(t *testing.T) {
	ctx := context.Background()
	dsn := newSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	t0 := time.Date(2024, 3, 28, 1, 0, 0, 0, time.UTC)

	const people = 60
	for i := range people {
		sub, err := a.SaveSubscriber(ctx, store.Subscriber{Email: fmt.Sprintf("p%d@example.vn", i)}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SetListStatus(ctx, sub.ID, "sang", store.Confirmed, t0); err != nil {
			t.Fatal(err)
		}
	}
	is, n, err := a.CreateIssue(ctx, store.Issue{List: "sang", WindowStart: t0, WindowEnd: t0.Add(time.Hour), Subject: "1", HTML: "h", Text: "t", CreatedAt: t0})
	if err != nil || n != people {
		t.Fatalf("CreateIssue: %d deliveries, %v; want %d", n, err, people)
	}
	now := t0.Add(time.Hour)
	var mu sync.Mutex
	claimed := map[int64]int{}
	var wg sync.WaitGroup
	for _, s := range []*postgres.Store{a, b, a, b} {
		wg.Go(func() {
			for {
				ds, err := s.ClaimDeliveries(ctx, is.ID, now, 3, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if len(ds) == 0 {
					return
				}
				mu.Lock()
				for _, d := range ds {
					claimed[d.SubscriberID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimed) != people {
		t.Errorf("%d deliveries claimed, want %d", len(claimed), people)
	}
	for id, times := range claimed {
		if times != 1 {
			t.Errorf("delivery to subscriber %d claimed %d times", id, times)
		}
	}

	changesCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := b.Changes(changesCtx)
	saved, err := a.SaveArticles(ctx, t0, []article.Article{{ID: "one", GUID: "tag:one", Slug: "one", Title: "Một",
		PublishedAt: t0, InputHash: "h1"}})
	if err != nil || saved[0].Outcome != store.Created {
		t.Fatalf("SaveArticles: %+v, %v", saved, err)
	}
	select {
	case <-changes:
	case <-time.After(time.Second):
		t.Fatal("no change signal on the other handle within a second")
	}
}

// TestSecretRace: processes asking for a new secret at once all get one
// and the same.
func TestSecretRace(t *testing.T) {
	ctx := context.Background()
	dsn := newSchema(t)
	stores := []*postgres.Store{open(t, dsn), open(t, dsn)}
	got := make([]string, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() {
			v, err := stores[i%2].Secret(ctx, "tokens", 32)
			if err != nil {
				t.Error(err)
			}
			got[i] = hex.EncodeToString(v)
		})
	}
	wg.Wait()
	for i, v := range got {
		if v != got[0] || v == "" {
			t.Fatalf("secret %d is %q, the first %q", i, v, got[0])
		}
	}
}

// TestIssueRace: two processes making the next issue from the same last
// issue at once store one of them; the other is refused with ErrConflict.
func TestIssueRace(t *testing.T) {
	ctx := context.Background()
	dsn := newSchema(t)
	stores := []*postgres.Store{open(t, dsn), open(t, dsn)}
	start := time.Date(2024, 3, 28, 1, 0, 0, 0, time.UTC)
	for round := range 5 {
		errs := make([]error, 2)
		var wg sync.WaitGroup
		for i, s := range stores {
			wg.Go(func() {
				// Different window ends, so that only the check of the last
				// issue, not a unique key, can refuse one of them.
				_, _, errs[i] = s.CreateIssue(ctx, store.Issue{List: "sang", WindowStart: start,
					WindowEnd: start.Add(time.Hour + time.Duration(i)*time.Minute), Subject: "s", HTML: "h", Text: "t", CreatedAt: start})
			})
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("round %d: %v, want ErrConflict", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d issues stored, want 1 (%v)", round, ok, errs)
		}
		last, err := stores[0].LastIssue(ctx, "sang")
		if err != nil || last.Number != round+1 {
			t.Fatalf("round %d: last issue %+v, %v", round, last, err)
		}
		start = last.WindowEnd // the next round continues from the winner
	}
}

// TestChangesAfterLostConnection: when the listening connection is cut,
// changes still arrive (by reconnecting or by the fallback poll).
func TestChangesAfterLostConnection(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dsn := newSchema(t)
	a := open(t, dsn)
	// The listener's connection carries the application name of its store.
	name := "bantin_listener_" + strings.ToLower(rand.Text()[:8])
	b := open(t, withParam(t, dsn, "application_name", name))
	changes := b.Changes(ctx)

	conn, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var cut int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND query LIKE 'LISTEN%'`, name).Scan(&cut); err != nil || cut != 1 {
		t.Fatalf("cut the listening connection: %d cut, %v", cut, err)
	}
	// The reconnect may signal by itself: let that pass before the save.
	drain := time.After(1500 * time.Millisecond)
	for done := false; !done; {
		select {
		case <-changes:
		case <-drain:
			done = true
		}
	}
	t0 := time.Date(2024, 3, 28, 1, 0, 0, 0, time.UTC)
	if _, err := a.SaveArticles(ctx, t0, []article.Article{{ID: "one", GUID: "tag:one", Slug: "one", Title: "Một",
		PublishedAt: t0, InputHash: "h1"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changes:
	case <-time.After(time.Second):
		t.Fatal("no change signal within a second after the listener reconnected")
	}
}

// TestClockSkew: on one machine the database's clock and ours agree.
func TestClockSkew(t *testing.T) {
	s := open(t, newSchema(t))
	skew, err := s.ClockSkew(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if skew < -time.Second || skew > time.Second {
		t.Errorf("clock skew %v on one machine", skew)
	}
}
