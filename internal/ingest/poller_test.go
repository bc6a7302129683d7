package ingest

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
)

// upstream is a publisher's feed server whose answers a test changes.
type upstream struct {
	mu       sync.Mutex
	files    map[string][]byte // path → document
	types    map[string]string
	handler  map[string]http.HandlerFunc // path → special behaviour
	requests map[string]int
	srv      *httptest.Server
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{files: map[string][]byte{}, types: map[string]string{}, handler: map[string]http.HandlerFunc{}, requests: map[string]int{}}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.requests[r.URL.Path]++
		h, body, typ := u.handler[r.URL.Path], u.files[r.URL.Path], u.types[r.URL.Path]
		u.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		if body == nil {
			http.NotFound(w, r)
			return
		}
		etag := fmt.Sprintf(`"%x"`, len(body)*31+int(body[len(body)/2]))
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", typ)
		_, _ = w.Write(body)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) serve(t *testing.T, path, fixture, typ string) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "feeds", fixture))
	if err != nil {
		t.Fatal(err)
	}
	u.set(path, body, typ)
}

func (u *upstream) set(path string, body []byte, typ string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.files[path], u.types[path] = body, typ
}

func (u *upstream) on(path string, h http.HandlerFunc) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.handler[path] = h
}

type pollFixture struct {
	store  *sqlite.Store
	clock  *pollClock
	poller *Poller
}

type pollClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *pollClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *pollClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newPollFixture(t *testing.T, sources ...Source) *pollFixture {
	t.Helper()
	return newPollFixtureMaxBody(t, 0, sources...)
}

// newPollFixtureMaxBody is newPollFixture with MaxBody set (0: the
// default).
func newPollFixtureMaxBody(t *testing.T, maxBody int64, sources ...Source) *pollFixture {
	t.Helper()
	f := &pollFixture{store: openStore(t), clock: &pollClock{t: time.Date(2024, 3, 28, 10, 0, 0, 0, time.UTC)}}
	f.poller = NewPoller(PollerOptions{
		Sources: sources, Store: f.store, Importer: newTestImporter(t, f.store, f.clock.Now), Now: f.clock.Now,
		Location: mustLocation("Asia/Ho_Chi_Minh"), Logger: quietLogger(),
		Client: &http.Client{Timeout: 2 * time.Second}, MaxBody: maxBody,
	})
	return f
}

func (f *pollFixture) poll(t *testing.T, name string) PollResult {
	t.Helper()
	res, err := f.poller.PollNow(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (f *pollFixture) article(t *testing.T, id string) article.Article {
	t.Helper()
	a, err := f.store.Article(context.Background(), id)
	if err != nil {
		t.Fatalf("article %s: %v", id, err)
	}
	return a
}

func (f *pollFixture) state(t *testing.T, name string) store.SourceState {
	t.Helper()
	states, err := f.store.SourceStates(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range states {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no state for %s", name)
	return store.SourceState{}
}

// TestPollFeedsOfEachKind reads a WordPress RSS feed, a Blogger-style Atom
// feed, a JSON Feed and a messy ISO-8859-1 feed, and checks what is stored.
func TestPollFeedsOfEachKind(t *testing.T) {
	up := newUpstream(t)
	up.serve(t, "/feed/", "wordpress.rss", "application/rss+xml; charset=UTF-8")
	up.serve(t, "/atom.xml", "blogger.atom", "application/atom+xml")
	up.serve(t, "/feed.json", "partner.json", "application/feed+json")
	up.serve(t, "/news/rss.php", "messy-latin1.rss", "text/xml")
	f := newPollFixture(t,
		Source{Name: "huyen", URL: up.srv.URL + "/feed/", Category: "dia-phuong", Interval: 30 * time.Minute, Enabled: true},
		Source{Name: "xa", URL: up.srv.URL + "/atom.xml", Interval: time.Hour, Enabled: true},
		Source{Name: "doitac", URL: up.srv.URL + "/feed.json", Interval: time.Hour, Enabled: true},
		Source{Name: "cu", URL: up.srv.URL + "/news/rss.php", Interval: time.Hour, Enabled: true},
	)

	res := f.poll(t, "huyen")
	if res.Err != nil || res.Entries != 2 || res.Summary.Created != 2 {
		t.Fatalf("huyen: %+v", res)
	}
	cau := f.article(t, "huyen:https://huyen.example/?p=101")
	if cau.Title != "Khánh thành cầu Kênh Xáng" || cau.Author != "Quốc Bảo" || cau.URL != "https://huyen.example/2024/03/khanh-thanh-cau/" {
		t.Errorf("WordPress entry: %q by %q at %q", cau.Title, cau.Author, cau.URL)
	}
	if !strings.Contains(cau.ContentHTML, `src="https://huyen.example/wp-content/uploads/cau.jpg"`) || strings.Contains(cau.ContentHTML, "<script") ||
		!strings.Contains(cau.ContentHTML, `href="https://huyen.example/tag/cau/"`) {
		t.Errorf("content not resolved or not sanitized: %s", cau.ContentHTML)
	}
	// The enclosure's length is kept: nothing to look up.
	if cau.Summary != "Cây cầu dài 200 m nối hai bờ kênh." || cau.Image == nil || cau.Image.URL != "https://huyen.example/wp-content/uploads/cau.jpg" ||
		cau.Image.Length != 48213 {
		t.Errorf("summary %q image %+v; want the enclosure's length 48213", cau.Summary, cau.Image)
	}
	var slugs []string
	for _, c := range cau.Categories {
		slugs = append(slugs, c.Slug)
	}
	if got := strings.Join(slugs, ","); got != "giao-thong,thoi-su,dia-phuong" {
		t.Errorf("categories %s; want the entry's and the source's", got)
	}
	if want := time.Date(2024, 3, 28, 1, 0, 0, 0, time.UTC); !cau.PublishedAt.Equal(want) {
		t.Errorf("published %v, want %v", cau.PublishedAt, want)
	}
	if lua := f.article(t, "huyen:https://huyen.example/?p=100"); lua.Image == nil || lua.Image.URL != "https://huyen.example/anh/lua.jpg" || lua.Image.Caption != "Cánh đồng lúa" {
		t.Errorf("media:content image: %+v", lua.Image)
	}

	if res := f.poll(t, "xa"); res.Err != nil || res.Summary.Created != 1 {
		t.Fatalf("xa: %+v", res)
	}
	le := f.article(t, "xa:tag:blogger.com,1999:blog-42.post-7")
	if le.Title != "Lễ hội đình làng năm nay" || le.Author != "Ban biên tập xã" || le.Image == nil || le.Image.URL != "https://xa.example/anh/le-hoi.jpg" {
		t.Errorf("Atom entry: %q by %q image %+v", le.Title, le.Author, le.Image)
	}
	if !strings.Contains(le.ContentHTML, `href="https://xa.example/p/lich.html"`) || !le.UpdatedAt.Equal(time.Date(2024, 3, 28, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("Atom content %s, updated %v", le.ContentHTML, le.UpdatedAt)
	}

	if res := f.poll(t, "doitac"); res.Err != nil || res.Summary.Created != 1 {
		t.Fatalf("doitac: %+v", res)
	}
	cho := f.article(t, "doitac:dt-1")
	if cho.Summary != "Chợ nổi mở rộng." || cho.Image == nil || cho.Image.URL != "https://doitac.example/anh/cho.jpg" || cho.Author != "Tòa soạn đối tác" {
		t.Errorf("JSON Feed entry: %+v", cho)
	}

	res = f.poll(t, "cu")
	if res.Err != nil || res.Entries != 3 {
		t.Fatalf("messy feed: %+v", res)
	}
	// Two entries share a GUID: the first keeps it, the second goes by its
	// link, so neither overwrites the other on every poll.
	if cafe := f.article(t, "cu:dup"); cafe.Title != "Le café arrive" {
		t.Errorf("duplicate GUID, first entry: %q", cafe.Title)
	}
	if second := f.article(t, "cu:http://messy.example/news/item.php?id=2"); second.Title != "Second with the same GUID" {
		t.Errorf("duplicate GUID, second entry: %q", second.Title)
	}
	undated := f.article(t, "cu:http://messy.example/news/item.php?id=3")
	if !undated.PublishedAt.Equal(f.clock.Now()) {
		t.Errorf("an undated entry is dated %v; want the time it was first seen, %v", undated.PublishedAt, f.clock.Now())
	}
	// Seen again an hour later, it keeps its first date.
	f.clock.Add(time.Hour)
	up.set("/news/rss.php", append(mustRead(t, "messy-latin1.rss"), ' '), "text/xml")
	if res := f.poll(t, "cu"); res.Err != nil || res.Summary.Unchanged != 3 {
		t.Fatalf("the same messy feed again: %+v; want every entry unchanged", res)
	}
	// Its text edited, the undated entry is updated and keeps its date.
	edited := strings.Replace(string(mustRead(t, "messy-latin1.rss")), "Sans date.", "Sans date, corrig\xe9.", 1)
	up.set("/news/rss.php", []byte(edited), "text/xml")
	if res := f.poll(t, "cu"); res.Err != nil || res.Summary.Updated != 1 {
		t.Fatalf("after an edit: %+v", res)
	}
	if again := f.article(t, "cu:http://messy.example/news/item.php?id=3"); !again.PublishedAt.Equal(undated.PublishedAt) {
		t.Errorf("the undated entry moved to %v", again.PublishedAt)
	}
}

// TestPollUpdatedOnlyAndLinkless: an Atom entry with only <updated> is
// dated by it when first seen and keeps that date when edited; an entry
// without a link has its relative links resolved against the feed.
func TestPollUpdatedOnlyAndLinkless(t *testing.T) {
	up := newUpstream(t)
	feed := func(updated, text string) []byte {
		return []byte(`<?xml version="1.0" encoding="UTF-8"?><feed xmlns="http://www.w3.org/2005/Atom"><id>x</id><title>Xã</title>
<link rel="alternate" href="https://xa.example/blog/"/><updated>` + updated + `</updated>
<entry><id>e-1</id><title>Tin</title><updated>` + updated + `</updated><content type="html">&lt;p&gt;` + text + ` &lt;a href="bai/1.html"&gt;tiếp&lt;/a&gt;&lt;/p&gt;</content></entry></feed>`)
	}
	up.set("/atom", feed("2024-03-20T08:00:00+07:00", "Bản đầu."), "application/atom+xml")
	f := newPollFixture(t, Source{Name: "xa", URL: up.srv.URL + "/atom", Interval: time.Hour, Enabled: true})
	if res := f.poll(t, "xa"); res.Err != nil || res.Summary.Created != 1 {
		t.Fatalf("first poll: %+v", res)
	}
	first := f.article(t, "xa:e-1")
	if want := time.Date(2024, 3, 20, 1, 0, 0, 0, time.UTC); !first.PublishedAt.Equal(want) {
		t.Errorf("published %v, want the updated date %v", first.PublishedAt, want)
	}
	if !strings.Contains(first.ContentHTML, `href="https://xa.example/blog/bai/1.html"`) {
		t.Errorf("a link-less entry's relative link: %s", first.ContentHTML)
	}
	up.set("/atom", append(feed("2024-03-20T08:00:00+07:00", "Bản đầu."), ' '), "application/atom+xml")
	if res := f.poll(t, "xa"); res.Err != nil || res.Summary.Unchanged != 1 {
		t.Errorf("the same entry again: %+v; want it unchanged", res)
	}
	up.set("/atom", feed("2024-03-28T09:00:00+07:00", "Bản sửa."), "application/atom+xml")
	if res := f.poll(t, "xa"); res.Err != nil || res.Summary.Updated != 1 {
		t.Fatalf("after an edit: %+v", res)
	}
	edited := f.article(t, "xa:e-1")
	if !edited.PublishedAt.Equal(first.PublishedAt) || !edited.UpdatedAt.Equal(time.Date(2024, 3, 28, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("edited entry published %v updated %v; want the first date kept and the new updated date", edited.PublishedAt, edited.UpdatedAt)
	}
}

// TestPollValidatorsOnlyAfterImport: a feed that cannot be read leaves no
// validators behind, so the next poll reads it in full.
func TestPollValidatorsOnlyAfterImport(t *testing.T) {
	up := newUpstream(t)
	up.set("/rss", []byte("<html>maintenance</html>"), "text/html")
	f := newPollFixture(t, Source{Name: "huyen", URL: up.srv.URL + "/rss", Interval: time.Hour, Enabled: true})
	if res := f.poll(t, "huyen"); res.Err == nil {
		t.Fatal("an HTML page was read as a feed")
	}
	if st := f.state(t, "huyen"); st.ETag != "" {
		t.Errorf("the ETag of a page that was no feed was kept: %q", st.ETag)
	}
	up.serve(t, "/rss", "wordpress.rss", "application/rss+xml")
	if res := f.poll(t, "huyen"); res.Err != nil || res.Summary.Created != 2 {
		t.Errorf("after the page came back: %+v", res)
	}
}

// TestPollMessyEntry: Latin-1 text and HTML in a title come out clean;
// a date without a zone is read in site.timezone.
func TestPollMessyEntry(t *testing.T) {
	up := newUpstream(t)
	up.serve(t, "/rss", "messy-latin1.rss", "text/xml")
	feed := strings.Replace(string(mustRead(t, "messy-latin1.rss")), "<guid>dup</guid>\n    <pubDate>28", "<guid>first</guid>\n    <pubDate>28", 1)
	up.set("/rss", []byte(feed), "text/xml")
	f := newPollFixture(t, Source{Name: "cu", URL: up.srv.URL + "/rss", Interval: time.Hour, Enabled: true})
	if res := f.poll(t, "cu"); res.Err != nil {
		t.Fatal(res.Err)
	}
	a := f.article(t, "cu:first")
	if a.Title != "Le café arrive" {
		t.Errorf("title %q; want Latin-1 read and tags dropped", a.Title)
	}
	if want := time.Date(2024, 3, 28, 1, 15, 0, 0, time.UTC); !a.PublishedAt.Equal(want) {
		t.Errorf("published %v; want 08:15 in Asia/Ho_Chi_Minh (%v)", a.PublishedAt, want)
	}
	if !strings.Contains(a.ContentHTML, `href="http://messy.example/news/more.php?id=1"`) {
		t.Errorf("relative link in content: %s", a.ContentHTML)
	}
}

// TestPollConditionalAndEdits: an unchanged feed is answered 304 and
// nothing is written; an edited entry updates its article, same id.
func TestPollConditionalAndEdits(t *testing.T) {
	up := newUpstream(t)
	up.serve(t, "/feed/", "wordpress.rss", "application/rss+xml")
	f := newPollFixture(t, Source{Name: "huyen", URL: up.srv.URL + "/feed/", Interval: 30 * time.Minute, Enabled: true})
	first := f.poll(t, "huyen")
	if first.Err != nil || first.Summary.Created != 2 {
		t.Fatalf("first poll: %+v", first)
	}
	if d := first.Next.Sub(f.clock.Now()); d < 27*time.Minute || d > 33*time.Minute {
		t.Errorf("next poll in %v; want the interval ±10%%", d)
	}
	second := f.poll(t, "huyen")
	if second.Err != nil || !second.NotModified || second.Status != http.StatusNotModified || second.Summary.Total() != 0 {
		t.Errorf("second poll: %+v; want a 304 and nothing imported", second)
	}
	before := f.article(t, "huyen:https://huyen.example/?p=101")
	edited := strings.Replace(string(mustRead(t, "wordpress.rss")), "Khánh thành cầu Kênh Xáng", "Khánh thành cầu Kênh Xáng mới", 1)
	up.set("/feed/", []byte(edited), "application/rss+xml")
	f.clock.Add(time.Hour)
	third := f.poll(t, "huyen")
	if third.Err != nil || third.Summary.Updated != 1 || third.Summary.Unchanged != 1 {
		t.Fatalf("after an edit: %+v; want one updated, one unchanged", third)
	}
	after := f.article(t, "huyen:https://huyen.example/?p=101")
	if after.Title != "Khánh thành cầu Kênh Xáng mới" || after.Slug != before.Slug || after.GUID != before.GUID {
		t.Errorf("edited entry: %q slug %q guid %q; want the new title, same slug and GUID", after.Title, after.Slug, after.GUID)
	}
}

// TestPollFailures: 429 and 503 wait for Retry-After, other failures
// back off and double, a timeout, a huge body and a broken feed fail
// their source only, a permanent redirect moves the source, a temporary
// one does not.
func TestPollFailures(t *testing.T) {
	up := newUpstream(t)
	up.serve(t, "/ok", "partner.json", "application/feed+json")
	up.on("/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	up.on("/down", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	up.on("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	up.on("/huge", func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("<!-- padding -->", 4096))
		for range 800 { // 50 MiB, over the limit
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	})
	up.on("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", time.Date(2024, 3, 28, 11, 0, 0, 0, time.UTC).Format(http.TimeFormat))
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	up.on("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop?again", http.StatusFound)
	})
	up.on("/gzip", func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			w.WriteHeader(http.StatusNotAcceptable)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Content-Type", "application/feed+json")
		zw := gzip.NewWriter(w)
		_, _ = zw.Write(mustRead(t, "partner.json"))
		_ = zw.Close()
	})
	up.set("/broken", []byte("<html><body>not a feed</body></html>"), "text/html")
	up.on("/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusMovedPermanently)
	})
	up.on("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	src := func(name string) Source {
		return Source{Name: name, URL: up.srv.URL + "/" + name, Interval: 10 * time.Minute, Enabled: true}
	}
	f := newPollFixture(t, src("busy"), src("down"), src("slow"), src("huge"), src("broken"), src("moved"), src("elsewhere"),
		src("unavailable"), src("loop"), src("gzip"))
	now := f.clock.Now()

	if res := f.poll(t, "busy"); res.Err == nil || !res.Next.Equal(now.Add(2*time.Minute)) {
		t.Errorf("429: %+v; want the next poll at Retry-After (2 min)", res)
	}
	down1 := f.poll(t, "down")
	down2 := f.poll(t, "down")
	d1, d2 := down1.Next.Sub(now), down2.Next.Sub(now)
	if down1.Err == nil || d1 < 9*time.Minute || d1 > 11*time.Minute || d2 < 18*time.Minute || d2 > 22*time.Minute {
		t.Errorf("500 twice: next in %v then %v; want about 10 then 20 minutes", d1, d2)
	}
	if st := f.state(t, "down"); st.Failures != 2 || st.LastStatus != 500 || !strings.Contains(st.LastError, "500") {
		t.Errorf("state after two failures: %+v", st)
	}
	if res := f.poll(t, "slow"); res.Err == nil || !strings.Contains(res.Err.Error(), "Client.Timeout") {
		t.Errorf("a server that never answers: %v", res.Err)
	}
	// A limit of 1 MiB, so the refusal does not race the fixture's 2 s
	// client timeout (reading 20 MiB under -race on a busy machine can).
	if res := newPollFixtureMaxBody(t, 1<<20, src("huge")).poll(t, "huge"); res.Err == nil || !strings.Contains(res.Err.Error(), "larger than the limit") {
		t.Errorf("a 50 MiB answer: %v", res.Err)
	}
	if res := f.poll(t, "unavailable"); res.Err == nil || !res.Next.Equal(time.Date(2024, 3, 28, 11, 0, 0, 0, time.UTC)) {
		t.Errorf("503 with a Retry-After date: %+v; want the next poll at that date", res)
	}
	if res := f.poll(t, "loop"); res.Err == nil || !strings.Contains(res.Err.Error(), "redirects") {
		t.Errorf("a redirect loop: %v", res.Err)
	}
	if res := f.poll(t, "gzip"); res.Err != nil || res.Summary.Created != 1 {
		t.Errorf("a gzipped feed: %+v", res)
	}
	if res := f.poll(t, "broken"); res.Err == nil || !strings.Contains(res.Err.Error(), "read the feed") {
		t.Errorf("an HTML page: %v", res.Err)
	}
	moved := f.poll(t, "moved")
	if moved.Err != nil || moved.MovedTo != up.srv.URL+"/ok" || f.state(t, "moved").FetchURL != up.srv.URL+"/ok" {
		t.Errorf("301: %+v; want the source moved to /ok", moved)
	}
	if res := f.poll(t, "moved"); res.URL != up.srv.URL+"/ok" {
		t.Errorf("after a 301 the source is fetched at %s", res.URL)
	}
	if res := f.poll(t, "elsewhere"); res.Err != nil || res.MovedTo != "" || f.state(t, "elsewhere").FetchURL != up.srv.URL+"/elsewhere" {
		t.Errorf("302: %+v; want the source to stay where it is", res)
	}
	if _, err := f.poller.PollNow(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "ingest.sources") {
		t.Errorf("an unknown source: %v", err)
	}
}

// TestPollerRunPollsWhenDue: Run polls each enabled source, then waits for
// its next time; a failing source does not hold back the others.
func TestPollerRunPollsWhenDue(t *testing.T) {
	up := newUpstream(t)
	up.serve(t, "/a", "partner.json", "application/feed+json")
	up.serve(t, "/b", "blogger.atom", "application/atom+xml")
	up.on("/bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	f := newPollFixture(t,
		Source{Name: "a", URL: up.srv.URL + "/a", Interval: time.Hour, Enabled: true},
		Source{Name: "bad", URL: up.srv.URL + "/bad", Interval: time.Hour, Enabled: true},
		Source{Name: "b", URL: up.srv.URL + "/b", Interval: time.Hour, Enabled: true},
		Source{Name: "off", URL: up.srv.URL + "/off", Interval: time.Hour, Enabled: false},
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.poller.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := f.store.Article(ctx, "a:dt-1"); err == nil {
			if _, err := f.store.Article(ctx, "b:tag:blogger.com,1999:blog-42.post-7"); err == nil {
				break
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(1500 * time.Millisecond) // a second round of Run: nothing is due
	cancel()
	<-done
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.requests["/a"] != 1 || up.requests["/b"] != 1 || up.requests["/bad"] != 1 || up.requests["/off"] != 0 {
		t.Errorf("requests %v; want one each for a, b and bad, none for the disabled source", up.requests)
	}
}

func mustRead(t *testing.T, fixture string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "feeds", fixture))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
