package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

// feedFixture is a server with the feed service running on real time.
type feedFixture struct {
	url   string
	store *sqlite.Store
	// opts are the server's: another server over the same feeds can be
	// made from them.
	opts web.Options
}

func newFeedFixture(t *testing.T, items int) *feedFixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	st := sqlitetest.Open(t)
	n, _ := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ingest.ParseDate})
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	site := feed.Site{Title: "Báo Mẫu", Description: "Tin mỗi ngày", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm}
	svc := feed.NewService(feed.ServiceOptions{
		Renderer: feed.NewRenderer(feed.Options{Site: site, FullContent: true, Hubs: []string{"https://hub.example/"}}),
		Source:   st, Items: items, Logger: discardLogger(),
	})
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	opts := web.Options{
		Site:  web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		Store: st, Normalizer: n, Templates: tmpl, AdminToken: token, Logger: discardLogger(),
		Feeds: svc,
	}
	srv := httptest.NewServer(web.New(opts))
	t.Cleanup(func() { srv.Close(); cancel(); <-done })
	return &feedFixture{url: srv.URL, store: st, opts: opts}
}

func (f *feedFixture) post(t *testing.T, body string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.url+"/api/v1/articles", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		t.Fatalf("POST: %d %s", resp.StatusCode, b)
	}
}

func (f *feedFixture) get(t *testing.T, method, path string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	return getRaw(t, method, f.url+path, h)
}

// getRaw requests url as a feed reader would, but follows no redirect
// and leaves a gzip body as it came.
func getRaw(t *testing.T, method, url string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	if header != nil {
		req.Header = header.Clone()
	}
	// The transport must not ungzip behind the test's back.
	tr := &http.Transport{DisableCompression: true}
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func TestFeedHTTP(t *testing.T) {
	f := newFeedFixture(t, 50)
	f.post(t, `[{"id":"a1","title":"Bài một","summary":"Một","categories":["Thời sự"],"published_at":"2024-12-20T08:00:00+07:00","updated_at":"2024-12-21T09:30:00+07:00"},
	            {"id":"a2","title":"Bài hai","content_html":"<p>Hai</p>","published_at":"2024-12-19T08:00:00+07:00"}]`)

	resp, body := f.get(t, "GET", "/feeds/rss.xml", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("GET rss: %d", resp.StatusCode)
	}
	// Back-dated articles stored now changed the feed now: Last-Modified
	// is the latest of their stored, published and updated times.
	a1, _ := f.store.Article(context.Background(), "a1")
	a2, _ := f.store.Article(context.Background(), "a2")
	lastModified := a1.StoredAt
	if a2.StoredAt.After(lastModified) {
		lastModified = a2.StoredAt
	}
	lm := lastModified.UTC().Format(http.TimeFormat)
	before := lastModified.Add(-time.Second).UTC().Format(http.TimeFormat)
	h := resp.Header
	for k, want := range map[string]string{
		"Content-Type":  "application/rss+xml; charset=utf-8",
		"Vary":          "Accept-Encoding",
		"Cache-Control": "public, no-cache",
		"Last-Modified": lm,
		"Link":          `<https://baomau.vn/feeds/rss.xml>; rel="self", <https://hub.example/>; rel="hub"`,
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %q, want %q", k, got, want)
		}
	}
	etag := h.Get("ETag")
	if !strings.HasPrefix(etag, `"`) || h.Get("Content-Length") != fmt.Sprint(len(body)) {
		t.Errorf("ETag %q, Content-Length %q for %d bytes", etag, h.Get("Content-Length"), len(body))
	}

	// gzip: the same document compressed, with its own strong tag.
	zresp, zbody := f.get(t, "GET", "/feeds/rss.xml", map[string]string{"Accept-Encoding": "gzip, deflate"})
	if zresp.Header.Get("Content-Encoding") != "gzip" || zresp.Header.Get("ETag") == etag {
		t.Errorf("gzip: encoding %q, etag %q (identity %q)", zresp.Header.Get("Content-Encoding"), zresp.Header.Get("ETag"), etag)
	}
	zr, err := gzip.NewReader(bytes.NewReader(zbody))
	if err != nil {
		t.Fatal(err)
	}
	unzipped, _ := io.ReadAll(zr)
	if !bytes.Equal(unzipped, body) {
		t.Error("the gzip body is not the identity body compressed")
	}
	for ae, want := range map[string]string{
		"gzip;q=0": "", "GZIP": "gzip", "Gzip, deflate": "gzip", "*;q=0, gzip": "gzip", "identity;q=0.5, *;q=0, gzip;q=1": "gzip",
		"*": "gzip", "br": "", "gzip;q=0.000": "", "gzip;q=0.5": "gzip", "deflate, *;q=0": "",
	} {
		if r, _ := f.get(t, "GET", "/feeds/rss.xml", map[string]string{"Accept-Encoding": ae}); r.Header.Get("Content-Encoding") != want {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", ae, r.Header.Get("Content-Encoding"), want)
		}
	}

	// Conditional requests.
	for _, tc := range []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"If-None-Match", map[string]string{"If-None-Match": etag}, 304},
		{"If-None-Match gzip tag", map[string]string{"If-None-Match": zresp.Header.Get("ETag"), "Accept-Encoding": "gzip"}, 304},
		{"gzip tag for identity", map[string]string{"If-None-Match": zresp.Header.Get("ETag")}, 200},
		{"weak form", map[string]string{"If-None-Match": "W/" + etag}, 304},
		{"If-None-Match list", map[string]string{"If-None-Match": `"x", ` + etag}, 304},
		{"If-None-Match other", map[string]string{"If-None-Match": `"other"`}, 200},
		{"If-Modified-Since same", map[string]string{"If-Modified-Since": lm}, 304},
		{"If-Modified-Since earlier", map[string]string{"If-Modified-Since": before}, 200},
		{"If-None-Match wins", map[string]string{"If-None-Match": `"other"`, "If-Modified-Since": lm}, 200},
	} {
		r, b := f.get(t, "GET", "/feeds/rss.xml", tc.header)
		if r.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, r.StatusCode, tc.want)
		}
		if r.StatusCode == 304 && (len(b) != 0 || r.Header.Get("ETag") == "") {
			t.Errorf("%s: a 304 with a body or without its ETag", tc.name)
		}
		if r.StatusCode == 304 {
			// What RFC 9110 asks of a 304, and not the security headers:
			// a cache keeps those from the 200 it stored.
			for _, k := range []string{"Cache-Control", "Vary", "Date"} {
				if r.Header.Get(k) == "" {
					t.Errorf("%s: a 304 without %s", tc.name, k)
				}
			}
			for _, k := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"} {
				if v := r.Header.Get(k); v != "" {
					t.Errorf("%s: a 304 with %s: %s", tc.name, k, v)
				}
			}
		}
	}
	for _, k := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"} {
		if resp.Header.Get(k) == "" || zresp.Header.Get(k) == "" {
			t.Errorf("a feed's 200 without %s", k)
		}
	}
	if r, b := f.get(t, "HEAD", "/feeds/atom.xml", nil); r.StatusCode != 200 || len(b) != 0 || r.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d, %d body bytes, Content-Length %q", r.StatusCode, len(b), r.Header.Get("Content-Length"))
	}
	for path, want := range map[string]int{
		"/feeds/thoi-su/atom.xml": 200, "/feeds/thoi-su/feed.json": 200, "/feeds.opml": 200,
		"/feeds/khong-co/rss.xml": 404, "/feeds/rss.json": 404, "/feeds/page/2/rss.xml": 404,
		"/feeds/page/1/rss.xml": 301, "/feeds/page/rss.xml": 404, "/feeds/page/02/rss.xml": 404,
		"/feeds/a/b/c/rss.xml": 404, "/feeds/": 404,
	} {
		r, b := f.get(t, "GET", path, nil)
		if r.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, r.StatusCode, want)
		}
		// Any missing feed gets the site's own page, not the mux's text.
		if want == 404 && (!strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") ||
			r.Header.Get("Content-Security-Policy") == "" || bytes.Contains(b, []byte("404 page not found"))) {
			t.Errorf("GET %s: a 404 of type %q, CSP %q: %.80s", path, r.Header.Get("Content-Type"), r.Header.Get("Content-Security-Policy"), b)
		}
	}
	if r, _ := f.get(t, "POST", "/feeds/rss.xml", nil); r.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST a feed: %d, want 405", r.StatusCode)
	}

	// An ingest is in every feed at once.
	start := time.Now()
	f.post(t, `{"id":"a3","title":"Tin nóng","summary":"Mới","categories":["Thời sự"]}`)
	for _, path := range []string{"/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json", "/feeds/thoi-su/rss.xml"} {
		waitUntil(t, time.Second, "the new article in "+path, func() bool {
			_, b := f.get(t, "GET", path, nil)
			return bytes.Contains(b, []byte("Tin nóng"))
		})
	}
	t.Logf("API ingest to every feed: %v", time.Since(start).Round(time.Millisecond))
	if r, _ := f.get(t, "GET", "/feeds/rss.xml", map[string]string{"If-None-Match": etag}); r.StatusCode != 200 {
		t.Errorf("old ETag after a change: %d, want 200", r.StatusCode)
	}
}

func TestFeedPagingAndSchedule(t *testing.T) {
	f := newFeedFixture(t, 2)
	var batch []string
	for i := range 5 {
		batch = append(batch, fmt.Sprintf(`{"id":"p%d","title":"Bài %d","summary":"x","published_at":"2024-12-%02dT08:00:00+07:00"}`, i, i, 10+i))
	}
	f.post(t, "["+strings.Join(batch, ",")+"]")
	_, page2 := f.get(t, "GET", "/feeds/page/2/atom.xml", nil)
	for _, want := range []string{
		`href="https://baomau.vn/feeds/atom.xml" rel="first"`,
		`href="https://baomau.vn/feeds/atom.xml" rel="previous"`,
		`href="https://baomau.vn/feeds/page/3/atom.xml" rel="next"`,
		`href="https://baomau.vn/feeds/page/3/atom.xml" rel="last"`,
		`href="https://baomau.vn/feeds/page/2/atom.xml" rel="self"`,
		"Bài 2", "Bài 1",
	} {
		if !bytes.Contains(page2, []byte(want)) {
			t.Errorf("page 2 lacks %s", want)
		}
	}
	if bytes.Contains(page2, []byte("Bài 4")) {
		t.Error("page 2 holds an entry of page 1")
	}
	if r, _ := f.get(t, "GET", "/feeds/page/4/rss.xml", nil); r.StatusCode != 404 {
		t.Errorf("page past the last: %d, want 404", r.StatusCode)
	}

	// A scheduled article appears nowhere until its time, then everywhere.
	at := time.Now().Add(1500 * time.Millisecond).In(hcm).Format(time.RFC3339Nano)
	f.post(t, `{"id":"later","title":"Hẹn giờ","summary":"x","categories":["Hẹn"],"published_at":"`+at+`"}`)
	for _, path := range []string{"/feeds/rss.xml", "/feeds/feed.json", "/feeds.opml", "/", "/articles/hen-gio"} {
		if _, b := f.get(t, "GET", path, nil); bytes.Contains(b, []byte("Hẹn")) {
			t.Errorf("%s shows the scheduled article before its time", path)
		}
	}
	if r, _ := f.get(t, "GET", "/feeds/hen/rss.xml", nil); r.StatusCode != 404 {
		t.Errorf("the feed of a category with only a scheduled article: %d, want 404", r.StatusCode)
	}
	waitUntil(t, 4*time.Second, "the scheduled article in the feed at its time", func() bool {
		_, b := f.get(t, "GET", "/feeds/rss.xml", nil)
		return bytes.Contains(b, []byte("Hẹn giờ"))
	})
	if r, _ := f.get(t, "GET", "/feeds/hen/rss.xml", nil); r.StatusCode != 200 {
		t.Errorf("the category feed after the time: %d, want 200", r.StatusCode)
	}
}

func waitUntil(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
