package websub

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
)

const base = "https://baomau.vn"

var hcm, _ = time.LoadLocation("Asia/Ho_Chi_Minh")

// subscriber is a WebSub subscriber: it confirms intent (or not) and
// records what it receives.
type subscriber struct {
	srv *httptest.Server

	mu         sync.Mutex
	confirm    bool
	verified   []url.Values
	deliveries []delivery
	fail       int // answer 500 to this many deliveries first
	gone       bool
}

type delivery struct {
	body   string
	header http.Header
}

func newSubscriber(t *testing.T) *subscriber {
	s := &subscriber{confirm: true}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if r.Method == http.MethodGet {
			s.verified = append(s.verified, r.URL.Query())
			if s.confirm {
				io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			} else {
				http.NotFound(w, r)
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		switch {
		case s.gone:
			w.WriteHeader(http.StatusGone)
		case s.fail > 0:
			s.fail--
			w.WriteHeader(http.StatusInternalServerError)
		default:
			s.deliveries = append(s.deliveries, delivery{string(b), r.Header.Clone()})
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *subscriber) count() (verified, delivered int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.verified), len(s.deliveries)
}

type fixture struct {
	hub   *Hub
	store *sqlite.Store
	feeds *feed.Service
	// gets counts the feed documents the hub asked for: after a change,
	// each is a render.
	gets *countingFeeds
	// reads counts the hub's reads of the subscriptions: one a
	// distribution, when nobody subscribes.
	reads *countingStore
}

// countingStore counts reads of the subscriptions.
type countingStore struct {
	*sqlite.Store
	n atomic.Int64
}

func (c *countingStore) Subscriptions(ctx context.Context, now time.Time) ([]store.Subscription, error) {
	c.n.Add(1)
	return c.Store.Subscriptions(ctx, now)
}

// countingFeeds counts the documents asked for.
type countingFeeds struct {
	*feed.Service
	n atomic.Int64
}

func (c *countingFeeds) Get(ctx context.Context, category string, page int, kind feed.Kind) (*feed.Rendered, error) {
	c.n.Add(1)
	return c.Service.Get(ctx, category, page, kind)
}

// fixtureOptions changes a fixture's hub.
type fixtureOptions struct {
	allowPrivate bool
	externalHubs []string
	perHost      int
}

func newFixture(t *testing.T, allowPrivate bool, externalHubs ...string) *fixture {
	t.Helper()
	return newFixtureWith(t, fixtureOptions{allowPrivate: allowPrivate, externalHubs: externalHubs})
}

func newFixtureWith(t *testing.T, o fixtureOptions) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := sqlitetest.Open(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	f := &fixture{store: st, reads: &countingStore{Store: st}}
	f.feeds = feed.NewService(feed.ServiceOptions{
		Renderer: feed.NewRenderer(feed.Options{Site: feed.Site{Title: "Báo Mẫu", BaseURL: base, Language: "vi", Location: hcm},
			FullContent: true, Hubs: []string{base + "/websub"}}),
		Source: st, Logger: logger,
	})
	f.gets = &countingFeeds{Service: f.feeds}
	f.hub = New(Options{Store: f.reads, Feeds: f.gets, BaseURL: base, ExternalHubs: o.externalHubs, AllowPrivate: o.allowPrivate,
		Logger: logger, RetryBase: 20 * time.Millisecond, Retries: 4, PerHost: o.perHost})
	// The feeds as they are before a test changes them.
	f.publish(t, "a0", "Bài đầu tiên")
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.feeds.Run(ctx) }()
	go func() { defer wg.Done(); f.hub.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		closing, stop := context.WithTimeout(context.Background(), time.Second)
		defer stop()
		f.hub.Close(closing)
	})
	eventually(t, "the hub's first look at the feeds", func() bool { return f.reads.n.Load() > 0 })
	time.Sleep(300 * time.Millisecond) // past the store's echo of that change
	return f
}

func (f *fixture) publish(t *testing.T, id, title string) {
	t.Helper()
	now := time.Now()
	_, err := f.store.SaveArticles(context.Background(), now, []article.Article{{
		ID: id, GUID: "tag:baomau.vn,2024:" + id, Slug: id, Title: title, Summary: "x",
		Categories: []article.Category{{Slug: "thoi-su", Title: "Thời sự"}}, PublishedAt: now.Add(-time.Minute), InputHash: id + title,
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) post(t *testing.T, form url.Values) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, base+"/websub", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	f.hub.ServeHTTP(rec, req)
	return rec.Result()
}

func (f *fixture) subscriptions(t *testing.T) []store.Subscription {
	t.Helper()
	subs, err := f.store.Subscriptions(context.Background(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return subs
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 3 s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSubscribeDistributeUnsubscribe(t *testing.T) {
	f := newFixture(t, true)
	sub := newSubscriber(t)
	topic := base + "/feeds/thoi-su/atom.xml"
	callback := sub.srv.URL + "/cb?token=abc"
	resp := f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {callback},
		"hub.lease_seconds": {"7200"}, "hub.secret": {"bi-mat"}})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("subscribe: %d, want 202", resp.StatusCode)
	}
	eventually(t, "the subscription, after verification of intent", func() bool { return len(f.subscriptions(t)) == 1 })
	sub.mu.Lock()
	q := sub.verified[0]
	sub.mu.Unlock()
	if q.Get("hub.mode") != "subscribe" || q.Get("hub.topic") != topic || q.Get("hub.lease_seconds") != "7200" || q.Get("token") != "abc" {
		t.Errorf("verification request %v; want mode, topic, lease and the callback's own query", q)
	}
	if s := f.subscriptions(t)[0]; s.Callback != callback || s.Secret != "bi-mat" || time.Until(s.ExpiresAt) > 2*time.Hour+time.Minute {
		t.Errorf("stored subscription %+v", s)
	}

	// New content is pushed, signed, with the hub and self links.
	f.publish(t, "a1", "Tin mới về cầu Thủ Thiêm")
	eventually(t, "the new version delivered", func() bool { _, n := sub.count(); return n == 1 })
	sub.mu.Lock()
	d := sub.deliveries[0]
	sub.mu.Unlock()
	if !strings.Contains(d.body, "Tin mới về cầu Thủ Thiêm") || d.header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Errorf("delivery: %s, %.80s", d.header.Get("Content-Type"), d.body)
	}
	mac := hmac.New(sha256.New, []byte("bi-mat"))
	mac.Write([]byte(d.body))
	if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); d.header.Get("X-Hub-Signature") != want {
		t.Errorf("X-Hub-Signature %q, want %q", d.header.Get("X-Hub-Signature"), want)
	}
	if link := d.header.Get("Link"); !strings.Contains(link, `<`+base+`/websub>; rel="hub"`) || !strings.Contains(link, `<`+topic+`>; rel="self"`) {
		t.Errorf("Link %q", link)
	}

	// A change that leaves this feed's bytes alone sends nothing.
	f.feeds.Invalidate()
	time.Sleep(200 * time.Millisecond)
	if _, n := sub.count(); n != 1 {
		t.Errorf("%d deliveries after a change that did not touch the feed; want 1", n)
	}

	resp = f.post(t, url.Values{"hub.mode": {"unsubscribe"}, "hub.topic": {topic}, "hub.callback": {callback}})
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("unsubscribe: %d", resp.StatusCode)
	}
	eventually(t, "the unsubscription", func() bool { return len(f.subscriptions(t)) == 0 })
}

func TestRetriesAndGone(t *testing.T) {
	f := newFixture(t, true)
	sub := newSubscriber(t)
	sub.fail = 2
	topic := base + "/feeds/rss.xml"
	f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {sub.srv.URL}})
	eventually(t, "the subscription", func() bool { return len(f.subscriptions(t)) == 1 })
	f.publish(t, "a1", "Tin thử lại")
	eventually(t, "delivery after two failures", func() bool { _, n := sub.count(); return n == 1 })

	sub.mu.Lock()
	sub.gone = true
	sub.mu.Unlock()
	f.publish(t, "a2", "Tin sau khi đi")
	eventually(t, "410 Gone to end the subscription", func() bool { return len(f.subscriptions(t)) == 0 })
}

func TestRefusals(t *testing.T) {
	f := newFixture(t, true)
	sub := newSubscriber(t)
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"bad mode", url.Values{"hub.mode": {"publish"}, "hub.topic": {base + "/feeds/rss.xml"}, "hub.callback": {sub.srv.URL}}},
		{"foreign topic", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {"https://other.example/feed"}, "hub.callback": {sub.srv.URL}}},
		{"unknown feed", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feeds/khong-co/rss.xml"}, "hub.callback": {sub.srv.URL}}},
		{"second page", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feeds/page/2/rss.xml"}, "hub.callback": {sub.srv.URL}}},
		{"not http", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feeds/rss.xml"}, "hub.callback": {"ftp://x/"}}},
		{"long secret", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feeds/rss.xml"}, "hub.callback": {sub.srv.URL}, "hub.secret": {strings.Repeat("s", 200)}}},
	} {
		if resp := f.post(t, tc.form); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400", tc.name, resp.StatusCode)
		}
	}
	// A subscriber that does not echo the challenge is not subscribed.
	sub.mu.Lock()
	sub.confirm = false
	sub.mu.Unlock()
	f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feeds/rss.xml"}, "hub.callback": {sub.srv.URL}})
	eventually(t, "the verification request", func() bool { v, _ := sub.count(); return v == 1 })
	f.hub.Wait()
	if subs := f.subscriptions(t); len(subs) != 0 {
		t.Errorf("an unconfirmed subscription was stored: %v", subs)
	}
}

func TestPrivateCallbacksRefused(t *testing.T) {
	f := newFixture(t, false)
	sub := newSubscriber(t) // on 127.0.0.1
	if resp := f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feeds/rss.xml"}, "hub.callback": {sub.srv.URL}}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("subscribe: %d", resp.StatusCode)
	}
	f.hub.Wait()
	if v, _ := sub.count(); v != 0 {
		t.Error("the hub called a loopback callback with websub_allow_private off")
	}
	if subs := f.subscriptions(t); len(subs) != 0 {
		t.Errorf("subscribed a loopback callback: %v", subs)
	}
}

func TestPingsExternalHubs(t *testing.T) {
	var mu sync.Mutex
	var pings []url.Values
	ext := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		pings = append(pings, r.PostForm)
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer ext.Close()
	f := newFixture(t, false, ext.URL)
	f.publish(t, "a1", "Tin cho hub ngoài")
	eventually(t, "pings for the changed feeds", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pings {
			if p.Get("hub.mode") == "publish" && p.Get("hub.url") == base+"/feeds/thoi-su/rss.xml" {
				return true
			}
		}
		return false
	})
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://reader.example/cb?token=SECRET": "https://reader.example/cb?…",
		"https://user:pass@reader.example/cb":    "https://reader.example/cb",
		"https://reader.example/cb":              "https://reader.example/cb",
	} {
		if got := redact(in); got != want || strings.Contains(got, "SECRET") {
			t.Errorf("redact(%q) = %q, want %q", in, got, want)
		}
	}
}
