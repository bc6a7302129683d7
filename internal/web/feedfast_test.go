package web_test

import (
	"bytes"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	"github.com/bantin/bantin/internal/web"
)

// feedCounts records what a server tells FeedRequest.
type feedCounts struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *feedCounts) add(kind string, code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[kind+" "+http.StatusText(code)]++
}

// With request logging off, a feed page already rendered is answered on a
// short path; with it on, through the routes. Both must give a client the
// same answer, byte for byte and header for header, and count it the same.
func TestCachedFeedAnswersAsTheRoutes(t *testing.T) {
	f := newFeedFixture(t, 2)
	f.post(t, `[{"id":"a1","title":"Bài một","summary":"Một","categories":["Thời sự"],"published_at":"2024-12-20T08:00:00+07:00"},
	            {"id":"a2","title":"Bài hai","content_html":"<p>Hai</p>","categories":["Thời sự"],"published_at":"2024-12-19T08:00:00+07:00"},
	            {"id":"a3","title":"Bài ba","summary":"Ba","categories":["Thời sự"],"published_at":"2024-12-18T08:00:00+07:00"}]`)
	server := func(level slog.Level) (*httptest.Server, *feedCounts) {
		counts := &feedCounts{n: map[string]int{}}
		opts := f.opts
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
		opts.FeedRequest = counts.add
		srv := httptest.NewServer(web.New(opts))
		t.Cleanup(srv.Close)
		return srv, counts
	}
	warm, _ := server(slog.LevelInfo)
	routes, routesCounts := server(slog.LevelInfo)
	short, shortCounts := server(slog.LevelWarn)
	do := func(base, method, path string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		return getRaw(t, method, base+path, header)
	}

	for _, path := range []string{"/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json", "/feeds/thoi-su/atom.xml",
		"/feeds/page/2/rss.xml", "/feeds/thoi-su/page/2/feed.json", "/feeds/page/1/rss.xml", "/feeds/khong-co/rss.xml",
		"/feeds/page/rss.xml", "/feeds/thoi-su/page/02/rss.xml", "/feeds//rss.xml", "/feeds/thoi-su/x/2/rss.xml"} {
		// Rendered (or found missing) through the routes first.
		first, _ := do(warm.URL, "GET", path, nil)
		firstGzip, _ := do(warm.URL, "GET", path, http.Header{"Accept-Encoding": {"gzip"}})
		for _, h := range []http.Header{
			{},
			{"Accept-Encoding": {"gzip, deflate, br"}},
			{"If-None-Match": {first.Header.Get("ETag")}},
			{"If-None-Match": {firstGzip.Header.Get("ETag")}, "Accept-Encoding": {"gzip"}},
			{"If-None-Match": {firstGzip.Header.Get("ETag")}}, // the other encoding's tag: a 200
			{"If-Modified-Since": {first.Header.Get("Last-Modified")}},
		} {
			for _, method := range []string{"GET", "HEAD"} {
				want, wantBody := do(routes.URL, method, path, h)
				got, gotBody := do(short.URL, method, path, h)
				if got.StatusCode != want.StatusCode || !bytes.Equal(gotBody, wantBody) {
					t.Errorf("%s %s %v: %d with %d bytes, the routes answer %d with %d bytes",
						method, path, h, got.StatusCode, len(gotBody), want.StatusCode, len(wantBody))
				}
				for _, hs := range []http.Header{got.Header, want.Header} {
					hs.Del("Date")
					hs.Del("X-Request-Id")
				}
				for k, v := range want.Header {
					if !slices.Equal(got.Header[k], v) {
						t.Errorf("%s %s %v: %s %q, the routes send %q", method, path, h, k, got.Header[k], v)
					}
				}
				for k, v := range got.Header {
					if _, ok := want.Header[k]; !ok {
						t.Errorf("%s %s %v: %s %q, which the routes do not send", method, path, h, k, v)
					}
				}
			}
		}
	}
	if !maps.Equal(shortCounts.n, routesCounts.n) || len(shortCounts.n) < 4 {
		t.Errorf("FeedRequest told %v on the short path, %v through the routes", shortCounts.n, routesCounts.n)
	}
}
