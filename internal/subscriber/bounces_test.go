package subscriber

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
)

func TestReturnTokenRoundTrip(t *testing.T) {
	tk := testTokens(t, "k")
	for _, c := range []struct{ issue, sub int64 }{{0, 1}, {7, 42}, {1 << 40, 1<<62 - 1}} {
		tok := tk.MakeReturn(c.issue, c.sub)
		if tok != strings.ToLower(tok) {
			t.Errorf("MakeReturn(%d, %d) = %q; want lower case (MTAs may lower-case local parts)", c.issue, c.sub, tok)
		}
		for _, spelled := range []string{tok, strings.ToUpper(tok)} {
			issue, sub, err := tk.CheckReturn(spelled)
			if err != nil || issue != c.issue || sub != c.sub {
				t.Errorf("CheckReturn(%q) = %d, %d, %v; want %d, %d", spelled, issue, sub, err, c.issue, c.sub)
			}
		}
		if tk.MakeReturn(c.issue, c.sub) != tok {
			t.Errorf("MakeReturn(%d, %d) differs between calls; a delivery has one return path", c.issue, c.sub)
		}
	}
}

func TestReturnPathLocalPartAtMost64Octets(t *testing.T) {
	tk := testTokens(t, "k")
	rp, err := NewReturnPath(tk, "newsletter-bounces-abcd@news.example.vn") // 23: the longest
	if err != nil {
		t.Fatal(err)
	}
	// Ids far beyond any list: an issue a day for 5,000 years, a
	// subscriber for everyone alive.
	addr := rp.For(36*36*36*36*36*36-1, 36*36*36*36*36*36*36*36*36*36-1)
	local := addr[:strings.LastIndexByte(addr, '@')]
	if len(local) > 64 {
		t.Errorf("local part %q is %d octets; RFC 5321 allows 64", local, len(local))
	}
	if !strings.HasPrefix(addr, "newsletter-bounces-abcd+") || !strings.HasSuffix(addr, "@news.example.vn") {
		t.Errorf("return path %q; want newsletter-bounces-abcd+TOKEN@news.example.vn", addr)
	}
	// Ordinary ids give a short one.
	if tok := tk.MakeReturn(12, 34567); len(tok) > 32 {
		t.Errorf("token %q is %d characters; want a short one", tok, len(tok))
	}
	if _, err := NewReturnPath(tk, "newsletter-bounces-of-bao-mau@news.example.vn"); err == nil {
		t.Error("a return path whose local part leaves no room for the token was accepted")
	}
	if rp, err := NewReturnPath(tk, ""); rp != nil || err != nil {
		t.Errorf("empty mail.return_path = %v, %v; want off", rp, err)
	}
}

func TestReturnTokenForgedOrOtherPurposeRefused(t *testing.T) {
	tk := testTokens(t, "k")
	other := testTokens(t, "x")
	tok := tk.MakeReturn(7, 42)
	unsub, _ := tk.Make(Claims{Purpose: Unsubscribe, SubscriberID: 42})
	parts := strings.Split(tok, "-")
	for name, bad := range map[string]string{
		"another key":         other.MakeReturn(7, 42),
		"other subscriber":    parts[0] + "-" + "15" + "-" + parts[2],
		"other issue":         "8-" + parts[1] + "-" + parts[2],
		"mac cut":             tok[:len(tok)-1],
		"unsubscribe link":    unsub,
		"empty":               "",
		"too long":            strings.Repeat("a", 65),
		"not base36":          "7!-16-" + parts[2],
		"missing a part":      parts[0] + "-" + parts[2],
		"return token as url": tok + "-x",
	} {
		if _, _, err := tk.CheckReturn(bad); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: CheckReturn(%q) = %v; want ErrBadToken", name, bad, err)
		}
	}
	if _, err := tk.Check(tok, Bounce, time.Now()); !errors.Is(err, ErrBadToken) {
		t.Errorf("a return path token taken as a link: %v; want ErrBadToken", err)
	}
}

// TestBouncePolicyHardSoftComplaintDuplicate applies the policy to a real
// store: subscribe.bounce_limit 2, soft_bounce_limit 3 within 720h.
func TestBouncePolicyHardSoftComplaintDuplicate(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	tk := testTokens(t, "k")
	now := time.Date(2026, 3, 28, 8, 0, 0, 0, time.UTC)
	add := func(email string, lists ...string) store.Subscriber {
		s, err := st.SaveSubscriber(ctx, store.Subscriber{Email: email}, now)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lists {
			if err := st.SetListStatus(ctx, s.ID, l, store.Confirmed, now); err != nil {
				t.Fatal(err)
			}
		}
		return s
	}
	hard, soft, complainer := add("hard@example.vn", "sang"), add("soft@example.vn", "sang"), add("spam@example.vn", "sang", "toi")
	p := NewBounces(BounceOptions{Store: st, Tokens: tk, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler),
		Limits: store.BounceLimits{Hard: 2, Soft: 3, SoftWindow: 720 * time.Hour}})
	rec := func(ev bounce.Event) bounce.Outcome {
		t.Helper()
		if ev.Source == "" {
			ev.Source = "import"
		}
		o, err := p.Record(ctx, ev)
		if err != nil {
			t.Fatalf("Record(%+v): %v", ev, err)
		}
		return o
	}
	check := func(what string, got, want bounce.Outcome) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %s, want %s", what, got, want)
		}
	}
	check("first hard bounce", rec(bounce.Event{Kind: bounce.Hard, Recipient: "HARD@example.vn", ID: "a"}), bounce.Counted)
	check("the same notice again", rec(bounce.Event{Kind: bounce.Hard, Recipient: "hard@example.vn", ID: "a"}), bounce.Duplicate)
	check("second hard bounce, by token only", rec(bounce.Event{Kind: bounce.Hard, Token: tk.MakeReturn(3, hard.ID), ID: "b"}), bounce.Bounced)
	if s, _ := st.Subscriber(ctx, hard.ID); !s.Bounced || s.Bounces != 2 {
		t.Errorf("after 2 hard bounces at limit 2: bounced %v, bounces %d", s.Bounced, s.Bounces)
	}

	// Soft: 3 within the window bounce; one older than the window does not count.
	check("old soft", rec(bounce.Event{Kind: bounce.Soft, Recipient: "soft@example.vn", ID: "s0", At: now.Add(-800 * time.Hour)}), bounce.Counted)
	check("soft 1", rec(bounce.Event{Kind: bounce.Soft, Recipient: "soft@example.vn", ID: "s1", At: now.Add(-2 * time.Hour)}), bounce.Counted)
	check("soft 2", rec(bounce.Event{Kind: bounce.Soft, Recipient: "soft@example.vn", ID: "s2", At: now.Add(-time.Hour)}), bounce.Counted)
	if s, _ := st.Subscriber(ctx, soft.ID); s.Bounced || s.Bounces != 0 {
		t.Errorf("soft bounces below their limit: bounced %v, hard count %d", s.Bounced, s.Bounces)
	}
	check("soft 3", rec(bounce.Event{Kind: bounce.Soft, Recipient: "soft@example.vn", ID: "s3"}), bounce.Bounced)

	check("complaint", rec(bounce.Event{Kind: bounce.Complaint, Recipient: "spam@example.vn", ID: "c"}), bounce.Unsubscribed)
	s, _ := st.Subscriber(ctx, complainer.ID)
	for _, l := range []string{"sang", "toi"} {
		if s.Lists[l] != store.Unsubscribed {
			t.Errorf("complainer on %s: %s, want unsubscribed", l, s.Lists[l])
		}
	}
	check("auto-reply", rec(bounce.Event{Kind: bounce.AutoReply, Recipient: "soft@example.vn", ID: "v"}), bounce.Ignored)
	check("unknown address", rec(bounce.Event{Kind: bounce.Hard, Recipient: "nobody@example.vn", ID: "n"}), bounce.Unknown)
	check("forged token, no address", rec(bounce.Event{Kind: bounce.Hard, Token: testTokens(t, "x").MakeReturn(3, hard.ID), ID: "f"}), bounce.Unknown)

	bs, err := st.Bounces(ctx, store.BounceQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(bs) != 7 {
		t.Errorf("%d records, want 7 (auto-replies, unknown addresses and duplicates are not stored)", len(bs))
	}
	if err := st.EraseSubscriber(ctx, "spam@example.vn"); err != nil {
		t.Fatal(err)
	}
	bs, _ = st.Bounces(ctx, store.BounceQuery{Kind: "complaint"})
	if len(bs) != 0 {
		t.Errorf("after erase, %d complaint records remain", len(bs))
	}
}
