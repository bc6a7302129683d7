package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/store"
)

// testRenamePending: until a confirmation, the last name typed wins; a
// confirmed subscriber keeps their name.
func testRenamePending(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	sub, err := s.SaveSubscriber(ctx, store.Subscriber{Email: "nu@example.vn", Name: "Ai đó"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetListStatus(ctx, sub.ID, "sang", store.Pending, t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.RenamePending(ctx, sub.ID, "Ngọc Nữ"); err != nil || !ok {
		t.Fatalf("rename a pending subscriber: %v, %v; want true", ok, err)
	}
	if got, _ := s.Subscriber(ctx, sub.ID); got.Name != "Ngọc Nữ" {
		t.Errorf("name after rename = %q, want Ngọc Nữ", got.Name)
	}
	if err := s.SetListStatus(ctx, sub.ID, "sang", store.Confirmed, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetListStatus(ctx, sub.ID, "toi", store.Pending, t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.RenamePending(ctx, sub.ID, "Kẻ mạo danh"); err != nil || ok {
		t.Errorf("rename a confirmed subscriber: %v, %v; want false", ok, err)
	}
	if got, _ := s.Subscriber(ctx, sub.ID); got.Name != "Ngọc Nữ" {
		t.Errorf("a confirmed subscriber was renamed to %q", got.Name)
	}
}

// testClaimConfirmation: one confirmation per period per subscriber, also
// between two handles (two processes) asking at once.
func testClaimConfirmation(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	other := h.Reopen(t, s)
	sub, err := s.SaveSubscriber(ctx, store.Subscriber{Email: "nu@example.vn"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	hoa, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "hoa@example.vn"}, t0)
	const every = time.Hour
	var mu sync.Mutex
	granted := 0
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			st := s
			if i%2 == 1 {
				st = other
			}
			ok, err := st.ClaimConfirmation(ctx, sub.ID, t0.Add(time.Duration(i)*time.Second), every)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				granted++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if granted != 1 {
		t.Fatalf("6 claims within %s from two handles: %d granted, want 1", every, granted)
	}
	if ok, _ := other.ClaimConfirmation(ctx, hoa.ID, t0.Add(time.Minute), every); !ok {
		t.Error("another subscriber's claim was refused")
	}
	if ok, _ := s.ClaimConfirmation(ctx, sub.ID, t0.Add(59*time.Minute), every); ok {
		t.Error("a claim 59 minutes later was granted")
	}
	if ok, _ := s.ClaimConfirmation(ctx, sub.ID, t0.Add(every+10*time.Second), every); !ok {
		t.Error("a claim after the period was refused")
	}
	if _, err := s.ClaimConfirmation(ctx, 999999, t0, every); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("claim for a missing subscriber: %v, want ErrNotFound", err)
	}
}

// testDeleteStalePending: old pending sign-ups go, with the subscribers
// they leave on no list; confirmed and unsubscribed lists and fresh
// sign-ups stay.
func testDeleteStalePending(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	ttl := 168 * time.Hour
	old, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "cu@example.vn", Name: "Cũ"}, t0)
	mixed, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "hon-hop@example.vn"}, t0)
	fresh, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "moi@example.vn"}, t0)
	left, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "roi@example.vn"}, t0)
	for _, st := range []struct {
		id     int64
		list   string
		status store.SubscriptionStatus
		at     time.Time
	}{
		{old.ID, "sang", store.Pending, t0}, {old.ID, "toi", store.Pending, t0.Add(time.Hour)},
		{mixed.ID, "sang", store.Confirmed, t0}, {mixed.ID, "toi", store.Pending, t0},
		{fresh.ID, "sang", store.Pending, t0.Add(ttl)},
		{left.ID, "sang", store.Unsubscribed, t0},
	} {
		if err := s.SetListStatus(ctx, st.id, st.list, st.status, st.at); err != nil {
			t.Fatal(err)
		}
	}
	// A queued confirmation email of the stale sign-up goes with it.
	if _, err := s.EnqueueMail(ctx, store.OutboxMail{MessageID: "<c1@example.vn>", Kind: "confirm", SubscriberID: old.ID,
		Recipient: old.Email, Payload: []byte("x"), NextAttempt: t0}); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteStalePending(ctx, t0.Add(ttl))
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("deleted %d pending subscriptions, want 3", n)
	}
	if _, err := s.SubscriberByEmail(ctx, "cu@example.vn"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a subscriber with only stale sign-ups is still there: %v", err)
	}
	if _, err := s.OutboxMail(ctx, "<c1@example.vn>"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the stale sign-up's confirmation mail is still queued: %v", err)
	}
	for _, c := range []struct {
		email string
		want  map[string]store.SubscriptionStatus
	}{
		{"hon-hop@example.vn", map[string]store.SubscriptionStatus{"sang": store.Confirmed}},
		{"moi@example.vn", map[string]store.SubscriptionStatus{"sang": store.Pending}},
		{"roi@example.vn", map[string]store.SubscriptionStatus{"sang": store.Unsubscribed}},
	} {
		got, err := s.SubscriberByEmail(ctx, c.email)
		if err != nil {
			t.Errorf("%s: %v", c.email, err)
			continue
		}
		if diff := cmp.Diff(c.want, got.Lists); diff != "" {
			t.Errorf("%s lists (-want +got):\n%s", c.email, diff)
		}
	}
	if n, err := s.DeleteStalePending(ctx, t0.Add(ttl)); err != nil || n != 0 {
		t.Errorf("second sweep: %d, %v; want 0", n, err)
	}
}

// testErrorsNameNoAddress: errors reach the log, addresses must not.
func testErrorsNameNoAddress(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	const email = "bi-mat@example.vn"
	for name, err := range map[string]error{
		"SubscriberByEmail": func() error { _, err := s.SubscriberByEmail(ctx, email); return err }(),
		"EraseSubscriber":   s.EraseSubscriber(ctx, email),
	} {
		if err == nil {
			t.Fatalf("%s of a missing address: no error", name)
		}
		if strings.Contains(strings.ToLower(err.Error()), "bi-mat") {
			t.Errorf("%s error %q shows the address", name, err)
		}
		if !strings.Contains(err.Error(), store.AddressRef(email)) {
			t.Errorf("%s error %q does not name %s", name, err, store.AddressRef(email))
		}
	}
}
