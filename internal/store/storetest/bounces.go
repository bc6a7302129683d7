package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/store"
)

// testBounces: AddBounce applies each kind once per event id, Bounces
// lists the records newest first by kind and time, and erasing a
// subscriber erases their records.
func testBounces(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	add := func(email string, lists ...string) store.Subscriber {
		sub, err := s.SaveSubscriber(ctx, store.Subscriber{Email: email}, t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lists {
			if err := s.SetListStatus(ctx, sub.ID, l, store.Confirmed, t0); err != nil {
				t.Fatal(err)
			}
		}
		return sub
	}
	hard, soft, spam := add("hard@example.vn", "sang"), add("soft@example.vn", "sang"), add("spam@example.vn", "sang", "toi")
	lim := store.BounceLimits{Hard: 2, Soft: 2, SoftWindow: 24 * time.Hour}
	outcome := func(b store.Bounce) string {
		t.Helper()
		got, err := s.AddBounce(ctx, b, lim)
		if err != nil {
			t.Fatalf("AddBounce(%+v): %v", b, err)
		}
		if got.ID == 0 {
			t.Errorf("AddBounce(%+v) gave no id", b)
		}
		return got.Outcome
	}
	want := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s: outcome %q, want %q", what, got, want)
		}
	}
	want("hard 1", outcome(store.Bounce{SubscriberID: hard.ID, IssueID: 4, Source: "import", Kind: "hard", Status: "5.1.1",
		Reason: "550 5.1.1 no such user", EventID: "<n1@mx> hard@example.vn", At: t0}), "counted")
	if _, err := s.AddBounce(ctx, store.Bounce{SubscriberID: hard.ID, Source: "import", Kind: "hard", EventID: "<n1@mx> hard@example.vn",
		At: t0.Add(time.Minute)}, lim); !errors.Is(err, store.ErrConflict) {
		t.Errorf("the same event id again: %v, want ErrConflict", err)
	}
	if got, _ := s.Subscriber(ctx, hard.ID); got.Bounces != 1 || got.Bounced {
		t.Errorf("after one hard bounce and its duplicate: bounces %d, bounced %v; want 1, false", got.Bounces, got.Bounced)
	}
	want("hard 2 (no event id: never a duplicate)", outcome(store.Bounce{SubscriberID: hard.ID, Source: "smtp", Kind: "hard", At: t0.Add(time.Hour)}), "bounced")
	want("hard 3 (no event id)", outcome(store.Bounce{SubscriberID: hard.ID, Source: "smtp", Kind: "hard", At: t0.Add(2 * time.Hour)}), "bounced")

	want("soft outside the window", outcome(store.Bounce{SubscriberID: soft.ID, Source: "imap", Kind: "soft", EventID: "s0", At: t0.Add(-48 * time.Hour)}), "counted")
	want("soft 1", outcome(store.Bounce{SubscriberID: soft.ID, Source: "imap", Kind: "soft", EventID: "s1", At: t0}), "counted")
	if got, _ := s.Subscriber(ctx, soft.ID); got.Bounced || got.Bounces != 0 {
		t.Errorf("soft bounces below their limit: bounced %v, hard count %d", got.Bounced, got.Bounces)
	}
	want("soft 2", outcome(store.Bounce{SubscriberID: soft.ID, Source: "imap", Kind: "soft", EventID: "s2", At: t0.Add(time.Hour)}), "bounced")
	if got, _ := s.Subscriber(ctx, soft.ID); !got.Bounced {
		t.Error("two soft bounces within the window at limit 2: not bounced")
	}

	want("complaint", outcome(store.Bounce{SubscriberID: spam.ID, List: "toi", Source: "ses", Kind: "complaint", EventID: "c1", At: t0}), "unsubscribed")
	got, _ := s.Subscriber(ctx, spam.ID)
	if diff := cmp.Diff(map[string]store.SubscriptionStatus{"sang": store.Unsubscribed, "toi": store.Unsubscribed}, got.Lists); diff != "" {
		t.Errorf("lists after a complaint (-want +got):\n%s", diff)
	}
	if got.Bounced {
		t.Error("a complaint bounced the subscriber; it unsubscribes")
	}
	if _, err := s.AddBounce(ctx, store.Bounce{SubscriberID: 1 << 40, Source: "import", Kind: "hard", At: t0}, lim); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a bounce of no subscriber: %v, want ErrNotFound", err)
	}

	all, err := s.Bounces(ctx, store.BounceQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 7 {
		t.Fatalf("%d records, want 7", len(all))
	}
	if first := all[0]; first.Email != "hard@example.vn" || first.Kind != "hard" || first.Source != "smtp" || !first.At.Equal(t0.Add(2*time.Hour)) {
		t.Errorf("newest record = %+v; want the last hard bounce of hard@example.vn", first)
	}
	last := all[len(all)-1]
	if last.Email != "soft@example.vn" || !last.At.Equal(t0.Add(-48*time.Hour)) {
		t.Errorf("oldest record = %+v; want soft@example.vn's first", last)
	}
	var first store.Bounce
	for _, b := range all {
		if b.EventID == "<n1@mx> hard@example.vn" {
			first = b
		}
	}
	wantFirst := store.Bounce{ID: first.ID, SubscriberID: hard.ID, Email: "hard@example.vn", IssueID: 4, Source: "import", Kind: "hard",
		Status: "5.1.1", Reason: "550 5.1.1 no such user", EventID: "<n1@mx> hard@example.vn", Outcome: "counted", At: t0}
	if diff := cmp.Diff(wantFirst, first, timeEqual); diff != "" {
		t.Errorf("record read back (-want +got):\n%s", diff)
	}
	if complaints, err := s.Bounces(ctx, store.BounceQuery{Kind: "complaint"}); err != nil || len(complaints) != 1 || complaints[0].List != "toi" {
		t.Errorf("complaints = %+v, %v; want one on list toi", complaints, err)
	}
	hards, err := s.Bounces(ctx, store.BounceQuery{Kind: "hard", Since: t0.Add(30 * time.Minute)})
	if err != nil || len(hards) != 2 {
		t.Errorf("hard bounces since t0+30m: %d, %v; want 2", len(hards), err)
	}
	if few, err := s.Bounces(ctx, store.BounceQuery{Limit: 3}); err != nil || len(few) != 3 {
		t.Errorf("limit 3: %d, %v", len(few), err)
	}

	if err := s.EraseSubscriber(ctx, "SOFT@example.vn"); err != nil {
		t.Fatal(err)
	}
	left, _ := s.Bounces(ctx, store.BounceQuery{})
	for _, b := range left {
		if b.SubscriberID == soft.ID {
			t.Errorf("an erased subscriber's record is left: %+v", b)
		}
	}
	if len(left) != 4 {
		t.Errorf("%d records after erasing soft@example.vn, want 4", len(left))
	}
}

// testBouncesConcurrentDuplicate: the same event recorded by two
// processes at once counts once.
func testBouncesConcurrentDuplicate(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	other := h.Reopen(t, s)
	sub, err := s.SaveSubscriber(ctx, store.Subscriber{Email: "hard@example.vn"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	lim := store.BounceLimits{Hard: 3, Soft: 5, SoftWindow: 720 * time.Hour}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = other
			}
			_, errs[i] = st.AddBounce(ctx, store.Bounce{SubscriberID: sub.ID, Source: "import", Kind: "hard", EventID: "same", At: t0}, lim)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("AddBounce: %v; want nil or ErrConflict", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d of 8 concurrent imports of one event were counted; want 1", ok)
	}
	if got, _ := s.Subscriber(ctx, sub.ID); got.Bounces != 1 {
		t.Errorf("bounce count %d; want 1", got.Bounces)
	}
}

// testBouncesConcurrentSoft: soft_bounce_limit (5) soft bounces of one
// subscriber recorded at once by two processes bounce them: each counts
// the others.
func testBouncesConcurrentSoft(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	other := h.Reopen(t, s)
	sub, err := s.SaveSubscriber(ctx, store.Subscriber{Email: "soft@example.vn"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	lim := store.BounceLimits{Hard: 3, Soft: 5, SoftWindow: 720 * time.Hour}
	var wg sync.WaitGroup
	errs := make([]error, lim.Soft)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = other
			}
			_, errs[i] = st.AddBounce(ctx, store.Bounce{SubscriberID: sub.ID, Source: "imap", Kind: "soft",
				EventID: string(rune('a' + i)), At: t0.Add(time.Duration(i) * time.Minute)}, lim)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Errorf("AddBounce: %v", err)
		}
	}
	if got, _ := s.Subscriber(ctx, sub.ID); !got.Bounced {
		t.Errorf("%d soft bounces recorded at once at soft_bounce_limit %d: not bounced", lim.Soft, lim.Soft)
	}
}
