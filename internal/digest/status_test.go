package digest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/store"
)

// statusOf returns the status of list, failing the test on an error.
func statusOf(t *testing.T, f *fixture, list string) ListStatus {
	t.Helper()
	ls, err := f.svc.Status(context.Background(), list)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 {
		t.Fatalf("Status(%q): %d lists, want 1", list, len(ls))
	}
	return ls[0]
}

// TestStatusFollowsAnIssueFromQueueToSentAndSaysOverdue: a list's status
// through its first issue (queued, then sent), a run that passes with
// articles and no issue (overdue), and the issue made at last; another
// list's next run is in its own zone.
func TestStatusFollowsAnIssueFromQueueToSentAndSaysOverdue(t *testing.T) {
	ctx := context.Background()
	hcm := zone(t, "Asia/Ho_Chi_Minh")
	tokyo := zone(t, "Asia/Tokyo")
	day := func(d, h, m int) time.Time { return time.Date(2024, 3, d, h, m, 0, 0, hcm) } // 10 March 2024 is a Sunday
	f := newFixture(t, day(10, 5, 0), &recorder{}, newsletter(t, "sang", "0 6 * * *", "Asia/Ho_Chi_Minh"),
		newsletter(t, "nhat", "30 18 * * 1", "Asia/Tokyo", "nhat-ban"))
	ids := f.subscribe(t, "sang", "an@example.vn", "binh@example.vn", "chi@example.vn")
	if _, err := f.store.RecordBounce(ctx, ids[2], 1); err != nil {
		t.Fatal(err)
	}
	f.article(t, "a1", "", day(10, 4, 0), day(10, 4, 0))

	all, err := f.svc.Status(ctx, "")
	if err != nil || len(all) != 2 {
		t.Fatalf("Status of every list: %v, %d lists", err, len(all))
	}
	sang, nhat := all[0], all[1]
	if sang.Last != nil || !sang.NextRun.Equal(day(10, 6, 0)) || sang.NextRun.Location().String() != "Asia/Ho_Chi_Minh" || sang.NewArticles != 1 ||
		sang.Confirmed != 2 || sang.Queued != 0 || !sang.Overdue.IsZero() || sang.Schedule != "0 6 * * *" {
		t.Errorf("sang before its first issue: %+v", sang)
	}
	if want := time.Date(2024, 3, 11, 18, 30, 0, 0, tokyo); !nhat.NextRun.Equal(want) || nhat.NextRun.Location().String() != "Asia/Tokyo" ||
		nhat.NewArticles != 0 || nhat.Confirmed != 0 || strings.Join(nhat.Categories, ",") != "nhat-ban" {
		t.Errorf("nhat: next run %v, want %v in Asia/Tokyo; %+v", nhat.NextRun, want, nhat)
	}

	if _, err := f.svc.SendNow(ctx, "sang"); err != nil {
		t.Fatal(err)
	}
	ls := statusOf(t, f, "sang")
	if ls.Last == nil || ls.Last.Number != 1 || ls.Last.Status != "sending" || ls.Last.Queued != 2 || ls.Queued != 2 ||
		!ls.Last.SentAt.Equal(day(10, 5, 0)) || ls.NewArticles != 0 {
		t.Errorf("sang with its issue queued: %+v %+v", ls, ls.Last)
	}
	if _, err := f.svc.DeliverDue(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ls = statusOf(t, f, "sang")
	if ls.Last == nil || ls.Last.Status != "sent" || ls.Last.Sent != 2 || ls.Last.Queued != 0 || ls.Queued != 0 {
		t.Errorf("sang with its issue sent: %+v %+v", ls, ls.Last)
	}

	// An article before the 06:00 run, and no serve to make the issue.
	f.clock.Set(day(10, 5, 30))
	f.article(t, "a2", "", day(10, 5, 30), day(10, 5, 30))
	f.clock.Set(day(10, 7, 0))
	ls = statusOf(t, f, "sang")
	if !ls.Overdue.Equal(day(10, 6, 0)) || ls.NewArticles != 1 || !ls.NextRun.Equal(day(11, 6, 0)) {
		t.Errorf("sang with its 06:00 issue not made: overdue %v, %+v", ls.Overdue, ls)
	}
	if _, err := f.svc.Tick(ctx, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	ls = statusOf(t, f, "sang")
	if !ls.Overdue.IsZero() || ls.Last.Number != 2 || ls.NewArticles != 0 {
		t.Errorf("sang once the issue is made: overdue %v, %+v", ls.Overdue, ls)
	}
	// An article after the run is for the next one: not overdue.
	f.article(t, "a3", "", day(10, 7, 0), day(10, 7, 0))
	f.clock.Set(day(10, 9, 0))
	if ls = statusOf(t, f, "sang"); !ls.Overdue.IsZero() || ls.NewArticles != 1 {
		t.Errorf("sang with an article after the run: overdue %v, %+v", ls.Overdue, ls)
	}

	if _, err := f.svc.Status(ctx, "khong-co"); !errors.Is(err, ErrUnknownList) {
		t.Errorf("Status of an unknown list: %v", err)
	}
}

// TestSendTestWithNothingNewBeforeAnyIssueSendsLatestArticlesMarkedTest:
// a test copy of a list that has no issue and nothing new in its window
// holds the latest articles within max_age, its subject marked as a test
// in the site's language; nothing is stored; with no article within
// max_age it says so.
func TestSendTestWithNothingNewBeforeAnyIssueSendsLatestArticlesMarkedTest(t *testing.T) {
	ctx := context.Background()
	hcm := zone(t, "Asia/Ho_Chi_Minh")
	day := func(d, h int) time.Time { return time.Date(2024, 3, d, h, 0, 0, 0, hcm) }
	for _, tc := range []struct{ lang, mark string }{{"vi", "[Thử] "}, {"en", "[Test] "}} {
		t.Run(tc.lang, func(t *testing.T) {
			rec := &recorder{}
			f := newFixture(t, day(1, 8), rec, newsletter(t, "sang", "0 6 * * *", "Asia/Ho_Chi_Minh"))
			f.opts.Lang = tc.lang
			f.svc = New(f.opts)
			f.article(t, "b1", "", day(1, 8), day(1, 8))
			f.clock.Set(day(4, 8)) // the first issue's window is one day: b1 is out of it, within max_age
			if is, err := f.svc.Preview(ctx, "sang", time.Time{}); err != nil || len(is.Articles) != 0 {
				t.Fatalf("the preview should be empty: %v, %d articles", err, len(is.Articles))
			}
			_, tcopy, err := f.svc.SendTest(ctx, "sang", "editor@example.vn")
			if err != nil {
				t.Fatal(err)
			}
			sent := rec.sent()
			if len(sent) != 1 || !tcopy.Repeat || len(tcopy.Issue.Articles) != 1 || tcopy.Issue.Articles[0].ID != "b1" || tcopy.Issue.Number != 1 {
				t.Fatalf("test copy: %d sent, %+v", len(sent), tcopy)
			}
			if s := sent[0].Subject; !strings.HasPrefix(s, tc.mark+"Bản tin sang — ") || s != tcopy.Subject {
				t.Errorf("subject %q, want it to start %q", s, tc.mark)
			}
			if _, err := f.store.LastIssue(ctx, "sang"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a test copy stored an issue: %v", err)
			}
			f.clock.Set(day(12, 8)) // b1 is older than max_age (7 days)
			if _, _, err := f.svc.SendTest(ctx, "sang", "editor@example.vn"); err == nil || !strings.Contains(err.Error(), "max_age") {
				t.Errorf("a test copy with no article within max_age: %v", err)
			}
		})
	}
}
