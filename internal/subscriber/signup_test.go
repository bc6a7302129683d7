package subscriber

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/store"
)

// TestOneConfirmationPerSubscribeConfirmResend: however many sign-ups of
// one address, for whichever lists, one confirmation email goes out per
// subscribe.confirm_resend — also from another process (a new Service on
// the same store, as after a restart).
func TestOneConfirmationPerSubscribeConfirmResend(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	f.svc.opts.ConfirmResend = time.Hour
	for i, list := range []string{"sang", "toi", "sang", "toi", "sang"} {
		out, err := f.svc.Subscribe(ctx, SignUp{Email: "nu@example.vn", Lists: []string{list}})
		if err != nil {
			t.Fatal(err)
		}
		if out.Emailed != (i == 0) || !out.CheckEmail {
			t.Errorf("sign-up %d: emailed %v, check email %v", i+1, out.Emailed, out.CheckEmail)
		}
	}
	if len(f.out.msgs) != 1 {
		t.Fatalf("%d confirmation emails for five sign-ups, want 1", len(f.out.msgs))
	}
	restarted := NewService(f.svc.opts)
	f.now = f.now.Add(59 * time.Minute)
	if _, err := restarted.Subscribe(ctx, SignUp{Email: "NU@example.vn", Lists: []string{"toi"}}); err != nil {
		t.Fatal(err)
	}
	if len(f.out.msgs) != 1 {
		t.Fatalf("a restarted service sent again within subscribe.confirm_resend: %d emails", len(f.out.msgs))
	}
	// After the period, the next sign-up gets one, for every list pending.
	f.now = f.now.Add(time.Minute)
	if out, err := restarted.Subscribe(ctx, SignUp{Email: "nu@example.vn", Lists: []string{"sang"}}); err != nil || !out.Emailed {
		t.Fatalf("sign-up after subscribe.confirm_resend: %+v, %v; want an email", out, err)
	}
	if len(f.out.msgs) != 2 || !strings.Contains(f.out.msgs[1].Text, "Bản tin sáng, Bản tin tối") {
		t.Fatalf("%d emails; the second should name both pending lists:\n%s", len(f.out.msgs), f.out.msgs[len(f.out.msgs)-1].Text)
	}
	link := confirmLink.FindStringSubmatch(f.out.msgs[1].Text)[1]
	if _, confirmed, err := f.svc.Confirm(ctx, link); err != nil || strings.Join(confirmed, ",") != "sang,toi" {
		t.Errorf("confirmed %v, %v; want sang,toi", confirmed, err)
	}
}

// TestConfirmationCarriesNoTypedText: the confirmation greets nobody by
// name; what a stranger typed reaches no one's inbox.
func TestConfirmationCarriesNoTypedText(t *testing.T) {
	f := newFixture(t, true)
	spam := "Free prize at https://evil.example claim now"
	if _, err := f.svc.Subscribe(context.Background(), SignUp{Email: "nu@example.vn", Name: spam, Lists: []string{"sang"}}); err != nil {
		t.Fatal(err)
	}
	if len(f.out.msgs) != 1 {
		t.Fatalf("%d emails", len(f.out.msgs))
	}
	m := f.out.msgs[0]
	for part, text := range map[string]string{"text": m.Text, "html": m.HTML, "to": m.To.String(), "subject": m.Subject} {
		if strings.Contains(text, "evil.example") || strings.Contains(text, "Free prize") {
			t.Errorf("the %s of the confirmation holds the typed name: %q", part, text)
		}
	}
	if !strings.HasPrefix(m.Text, "Xin chào,") || !strings.Contains(m.HTML, ">Xin chào,<") {
		t.Errorf("no generic greeting:\n%s", m.Text)
	}
}

// TestLastNameWinsUntilConfirmed: a later sign-up of a pending address
// updates its name; once confirmed, a public sign-up renames nobody.
func TestLastNameWinsUntilConfirmed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	f.svc.Subscribe(ctx, SignUp{Email: "nu@example.vn", Name: "Kẻ lạ", Lists: []string{"sang"}})
	out, err := f.svc.Subscribe(ctx, SignUp{Email: "nu@example.vn", Name: "Ngọc Nữ", Lists: []string{"sang"}})
	if err != nil || out.Subscriber.Name != "Ngọc Nữ" {
		t.Fatalf("name after the second sign-up: %q, %v; want Ngọc Nữ", out.Subscriber.Name, err)
	}
	// An empty name typed later keeps the one before.
	if out, _ := f.svc.Subscribe(ctx, SignUp{Email: "nu@example.vn", Lists: []string{"sang"}}); out.Subscriber.Name != "Ngọc Nữ" {
		t.Errorf("an empty name erased the name: %q", out.Subscriber.Name)
	}
	link := confirmLink.FindStringSubmatch(f.out.msgs[0].Text)[1]
	if _, _, err := f.svc.Confirm(ctx, link); err != nil {
		t.Fatal(err)
	}
	out, err = f.svc.Subscribe(ctx, SignUp{Email: "nu@example.vn", Name: "Kẻ mạo danh", Lists: []string{"toi"}})
	if err != nil || out.Subscriber.Name != "Ngọc Nữ" {
		t.Errorf("a sign-up renamed a confirmed subscriber to %q (%v)", out.Subscriber.Name, err)
	}
}

// TestLookupConfirmChangesNothing: reading a confirmation link (the GET
// of its page) confirms nothing; Confirm does.
func TestLookupConfirmChangesNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	f.svc.Subscribe(ctx, SignUp{Email: "nu@example.vn", Lists: []string{"sang", "toi"}})
	link := confirmLink.FindStringSubmatch(f.out.msgs[0].Text)[1]
	sub, lists, err := f.svc.LookupConfirm(ctx, link)
	if err != nil || strings.Join(lists, ",") != "sang,toi" {
		t.Fatalf("lookup: %v, %v", lists, err)
	}
	if got, _ := f.store.Subscriber(ctx, sub.ID); got.Lists["sang"] != store.Pending || got.Lists["toi"] != store.Pending {
		t.Errorf("a lookup confirmed: %v", got.Lists)
	}
	if _, _, err := f.svc.LookupConfirm(ctx, flip(link, 4)); !errors.Is(err, ErrBadToken) {
		t.Errorf("forged link: %v, want ErrBadToken", err)
	}
}

// TestPendingDeletedAfterSubscribeConfirmTTL: a sign-up never confirmed is
// forgotten once its link has expired; a confirmed subscriber stays.
func TestPendingDeletedAfterSubscribeConfirmTTL(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	f.svc.Subscribe(ctx, SignUp{Email: "la@example.vn", Name: "Người lạ", Lists: []string{"sang"}})
	f.svc.Subscribe(ctx, SignUp{Email: "nu@example.vn", Lists: []string{"sang"}})
	link := confirmLink.FindStringSubmatch(f.out.msgs[1].Text)[1]
	if _, _, err := f.svc.Confirm(ctx, link); err != nil {
		t.Fatal(err)
	}
	f.now = f.now.Add(167 * time.Hour)
	if n, err := f.svc.DeleteStale(ctx); err != nil || n != 0 {
		t.Errorf("before subscribe.confirm_ttl: deleted %d, %v; want 0", n, err)
	}
	f.now = f.now.Add(2 * time.Hour)
	if n, err := f.svc.DeleteStale(ctx); err != nil || n != 1 {
		t.Errorf("after subscribe.confirm_ttl: deleted %d, %v; want 1", n, err)
	}
	if _, err := f.store.SubscriberByEmail(ctx, "la@example.vn"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the stale sign-up is still stored: %v", err)
	}
	if s, err := f.store.SubscriberByEmail(ctx, "nu@example.vn"); err != nil || s.Lists["sang"] != store.Confirmed {
		t.Errorf("the confirmed subscriber: %v, %v", s.Lists, err)
	}
}
