package subscriber

import (
	"context"
	"errors"
	netmail "net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/templates"
)

// outbox records what the service queues.
type outbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (o *outbox) Enqueue(_ context.Context, _ string, _ int64, m mail.Message) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.msgs = append(o.msgs, m)
	return "id", nil
}

type fixture struct {
	svc   *Service
	store *sqlite.Store
	out   *outbox
	now   time.Time
}

func newFixture(t *testing.T, doubleOptIn bool) *fixture {
	t.Helper()
	st := sqlitetest.Open(t)
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, out: &outbox{}, now: time.Date(2024, 12, 20, 8, 0, 0, 0, time.UTC)}
	f.svc = NewService(Options{
		Store: st, Mailer: f.out, Emails: tmpl, Tokens: testTokens(t, "s"),
		Lists:     []List{{ID: "sang", Title: "Bản tin sáng"}, {ID: "toi", Title: "Bản tin tối"}},
		SiteTitle: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi",
		From: netmail.Address{Name: "Báo Mẫu", Address: "news@baomau.vn"}, DoubleOptIn: doubleOptIn,
		ConfirmTTL: 168 * time.Hour, Now: func() time.Time { return f.now },
	})
	return f
}

var confirmLink = regexp.MustCompile(`https://baomau\.vn/confirm/([A-Za-z0-9_-]+)`)

func TestDoubleOptIn(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, true)
	out, err := f.svc.Subscribe(ctx, SignUp{Email: "Nu@Example.vn", Name: "  Ngọc\n Nữ ", Lists: []string{"sang", "toi", "sang"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sang", "toi"}, out.Pending); diff != "" || len(out.Confirmed) != 0 {
		t.Errorf("pending (-want +got):\n%s confirmed %v", diff, out.Confirmed)
	}
	if out.Subscriber.Name != "Ngọc Nữ" {
		t.Errorf("name %q", out.Subscriber.Name)
	}
	if len(f.out.msgs) != 1 {
		t.Fatalf("%d emails queued, want one confirmation", len(f.out.msgs))
	}
	m := f.out.msgs[0]
	if m.To.Address != "Nu@example.vn" || !strings.Contains(m.Subject, "Xác nhận") || !strings.Contains(m.Text, "Bản tin sáng, Bản tin tối") {
		t.Errorf("confirmation email: to %s, subject %q, text %q", m.To.Address, m.Subject, m.Text)
	}
	match := confirmLink.FindStringSubmatch(m.Text)
	if match == nil || !strings.Contains(m.HTML, match[0]) {
		t.Fatalf("no confirmation link in both parts:\n%s", m.Text)
	}
	// Nothing is sent to a pending subscriber.
	if subs, _ := f.store.ListSubscribers(ctx, "sang", store.Confirmed); len(subs) != 0 {
		t.Errorf("confirmed before the link was opened: %v", subs)
	}
	sub, confirmed, err := f.svc.Confirm(ctx, match[1])
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"sang", "toi"}, confirmed); diff != "" || sub.Lists["sang"] != store.Confirmed {
		t.Errorf("confirmed (-want +got):\n%s lists %v", diff, sub.Lists)
	}
	// A list added by anyone after the email went out is not confirmed by
	// its link.
	if _, err := f.svc.Subscribe(ctx, SignUp{Email: "le@example.vn", Lists: []string{"sang"}}); err != nil {
		t.Fatal(err)
	}
	leLink := confirmLink.FindStringSubmatch(f.out.msgs[len(f.out.msgs)-1].Text)[1]
	f.svc.Subscribe(ctx, SignUp{Email: "le@example.vn", Lists: []string{"toi"}}) // someone else, later
	if le, _, err := f.svc.Confirm(ctx, leLink); err != nil || le.Lists["sang"] != store.Confirmed || le.Lists["toi"] != store.Pending {
		t.Errorf("the first link confirmed %v (%v); want sang only", le.Lists, err)
	}
	// The same address in another case signs up again: still one person,
	// nothing new to confirm, no second email.
	again, err := f.svc.Subscribe(ctx, SignUp{Email: "nu@example.VN", Lists: []string{"sang"}})
	if err != nil || again.Subscriber.ID != sub.ID || len(again.Pending) != 0 || len(again.Already) != 1 {
		t.Errorf("second sign-up: %+v, %v", again, err)
	}
	// The link expires after the TTL.
	f.svc.Subscribe(ctx, SignUp{Email: "hoa@example.vn", Lists: []string{"toi"}})
	late := confirmLink.FindStringSubmatch(f.out.msgs[len(f.out.msgs)-1].Text)[1]
	f.now = f.now.Add(169 * time.Hour)
	if _, _, err := f.svc.Confirm(ctx, late); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("confirming after the TTL: %v, want ErrExpiredToken", err)
	}
}

func TestSingleOptIn(t *testing.T) {
	f := newFixture(t, false)
	out, err := f.svc.Subscribe(context.Background(), SignUp{Email: "nu@example.vn", Lists: []string{"sang"}})
	if err != nil || len(out.Confirmed) != 1 || len(f.out.msgs) != 0 {
		t.Errorf("without double opt-in: %+v, %v, %d emails; want confirmed at once, no email", out, err, len(f.out.msgs))
	}
}

func TestSignUpRefusals(t *testing.T) {
	f := newFixture(t, true)
	for _, tc := range []struct {
		in    SignUp
		field string
	}{
		{SignUp{Email: "", Lists: []string{"sang"}}, "email"},
		{SignUp{Email: "khong-phai-email", Lists: []string{"sang"}}, "email"},
		{SignUp{Email: "a@b", Lists: []string{"sang"}}, "email"},
		{SignUp{Email: "Nu <nu@example.vn>", Lists: []string{"sang"}}, "email"},
		{SignUp{Email: "nu@example.vn\r\nBcc: all@example.vn", Lists: []string{"sang"}}, "email"},
		{SignUp{Email: "nu@example.vn", Name: strings.Repeat("x", 101), Lists: []string{"sang"}}, "name"},
		{SignUp{Email: "nu@example.vn"}, "list"},
		{SignUp{Email: "nu@example.vn", Lists: []string{"khong-co"}}, "list"},
	} {
		_, err := f.svc.Subscribe(context.Background(), tc.in)
		var fe *article.FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field {
			t.Errorf("%+v: %v, want an error on %s", tc.in, err, tc.field)
		}
	}
	if len(f.out.msgs) != 0 {
		t.Errorf("%d emails queued for refused sign-ups", len(f.out.msgs))
	}
	// A name with a line break is one line: no header injection through it.
	out, err := f.svc.Subscribe(context.Background(), SignUp{Email: "nu@example.vn", Name: "Nữ\r\nBcc: x@y.z", Lists: []string{"sang"}})
	if err != nil || strings.ContainsAny(out.Subscriber.Name, "\r\n") {
		t.Errorf("name %q, %v", out.Subscriber.Name, err)
	}
}

func TestUnsubscribeAndPreferences(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, false)
	out, _ := f.svc.Subscribe(ctx, SignUp{Email: "nu@example.vn", Lists: []string{"sang", "toi"}})
	id := out.Subscriber.ID
	// Preferences first, while both lists are taken: unticking one leaves it.
	early, _ := f.svc.PreferencesLink(id)
	if sub, err := f.svc.SavePreferences(ctx, early[strings.LastIndexByte(early, '/')+1:], []string{"sang", "toi"}, nil); err != nil ||
		sub.Lists["sang"] != store.Confirmed || sub.Lists["toi"] != store.Confirmed {
		t.Fatalf("keeping both lists: %v, %v", sub.Lists, err)
	}
	link, _ := f.svc.UnsubscribeLink(id, "sang")
	token := link[strings.LastIndexByte(link, '/')+1:]

	// Looking at the link changes nothing (mail scanners open links).
	u, err := f.svc.LookupUnsubscribe(ctx, token)
	if err != nil || u.List != "sang" || u.Subscriber.Lists["sang"] != store.Confirmed {
		t.Fatalf("lookup: %+v, %v", u, err)
	}
	u, err = f.svc.Unsubscribe(ctx, token, false)
	if err != nil || u.Subscriber.Lists["sang"] != store.Unsubscribed || u.Subscriber.Lists["toi"] != store.Confirmed {
		t.Errorf("unsubscribe from sang: %+v, %v", u.Subscriber.Lists, err)
	}
	u, _ = f.svc.Unsubscribe(ctx, token, true)
	if u.Subscriber.Lists["toi"] != store.Unsubscribed {
		t.Errorf("unsubscribe from all: %v", u.Subscriber.Lists)
	}
	if _, err := f.svc.Unsubscribe(ctx, flip(token, 3), false); !errors.Is(err, ErrBadToken) {
		t.Errorf("forged token: %v", err)
	}

	plink, _ := f.svc.PreferencesLink(id)
	ptoken := plink[strings.LastIndexByte(plink, '/')+1:]
	if _, err := f.svc.Unsubscribe(ctx, ptoken, true); !errors.Is(err, ErrBadToken) {
		t.Errorf("a preferences token used to unsubscribe: %v, want ErrBadToken", err)
	}
	sub, err := f.svc.SavePreferences(ctx, ptoken, []string{"toi"}, []string{"Thời sự", "dan-van"})
	if err != nil {
		t.Fatal(err)
	}
	// Ticking a list left before does not re-join it: that takes a new
	// sign-up and its confirmation.
	if sub.Lists["toi"] != store.Unsubscribed || sub.Lists["sang"] != store.Unsubscribed {
		t.Errorf("lists after preferences: %v; a left list must stay left", sub.Lists)
	}
	if diff := cmp.Diff([]string{"dan-van", "thoi-su"}, sub.Categories); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}

	// Erased, the person's old links are dead.
	if err := f.store.EraseSubscriber(ctx, "nu@example.vn"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.LookupUnsubscribe(ctx, token); !errors.Is(err, ErrBadToken) {
		t.Errorf("unsubscribe link of an erased subscriber: %v, want ErrBadToken", err)
	}
}
