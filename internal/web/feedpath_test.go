package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/templates"
)

// askedFeeds serves one document for every feed page and notes which
// pages the server asked for, through the routes (Get) or the short path
// (Cached).
type askedFeeds struct {
	doc    *feed.Rendered
	got    []feedPage
	cached []feedPage
}

type feedPage struct {
	category string
	page     int
	kind     feed.Kind
}

func (a *askedFeeds) Get(_ context.Context, category string, page int, kind feed.Kind) (*feed.Rendered, error) {
	a.got = append(a.got, feedPage{category, page, kind})
	return a.doc, nil
}

func (a *askedFeeds) Cached(category string, page int, kind feed.Kind) (*feed.Rendered, bool) {
	a.cached = append(a.cached, feedPage{category, page, kind})
	return a.doc, true
}

func (a *askedFeeds) OPML(context.Context) (*feed.Rendered, error) {
	return nil, errors.New("no OPML here")
}

func (a *askedFeeds) Scopes(context.Context) ([]feed.Scope, error) { return nil, nil }

func newAskedServer(t testing.TB, level slog.Level) (*Server, *askedFeeds) {
	t.Helper()
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	doc := &feed.Rendered{Body: []byte("<rss/>"), ETag: `"e"`, IdentityHeader: http.Header{"Etag": {`"e"`}, "Content-Type": {"application/rss+xml"}}}
	feeds := &askedFeeds{doc: doc}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level}))
	return New(Options{Feeds: feeds, Templates: tmpl, Logger: logger}), feeds
}

// A cached page is served on the short path when request logging is off,
// and through the routes when it is on (the routes log each request).
func TestCachedFeedTakesTheShortPath(t *testing.T) {
	for _, c := range []struct {
		level slog.Level
		short bool
	}{{slog.LevelWarn, true}, {slog.LevelInfo, false}} {
		s, feeds := newAskedServer(t, c.level)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest("GET", "/feeds/thoi-su/page/3/atom.xml", nil))
		want := []feedPage{{"thoi-su", 3, feed.Atom}}
		asked := feeds.got
		if c.short {
			asked = feeds.cached
		}
		if rec.Code != 200 || rec.Body.String() != "<rss/>" || len(asked) != 1 || asked[0] != want[0] || len(feeds.got)+len(feeds.cached) != 1 {
			t.Errorf("log level %v: %d %q; routes asked %v, short path %v; want %v on the short path: %v",
				c.level, rec.Code, rec.Body, feeds.got, feeds.cached, want, c.short)
		}
		if rec.Header().Get("X-Frame-Options") != "DENY" || rec.Header().Get("Content-Security-Policy") == "" {
			t.Errorf("log level %v: security headers missing: %v", c.level, rec.Header())
		}
	}
}

// The short path reads a feed path as the routes do: where it takes a
// path, the routes ask the feeds for the same page.
func TestParseFeedPathAgreesWithRoutes(t *testing.T) {
	s, feeds := newAskedServer(t, slog.LevelInfo) // through the routes
	for _, p := range []string{"rss.xml", "atom.xml", "feed.json", "thoi-su/rss.xml", "page/2/atom.xml",
		"thoi-su/page/12/feed.json", "the-thao/page/100/rss.xml", "Thời sự/rss.xml"} {
		if _, _, _, ok := parseFeedPath(p); !ok {
			t.Errorf("/feeds/%s is left to the routes", p)
		}
		checkFeedPath(t, s, feeds, "/feeds/"+p)
	}
	for _, p := range []string{"page/1/rss.xml", "page/01/rss.xml", "page/rss.xml", "page/page/2/rss.xml", "rss.xml/",
		"/rss.xml", "./rss.xml", "../rss.xml", "a/b/rss.xml", "a/page/0/rss.xml", "a/page/-2/rss.xml", "a/b/c/d/rss.xml",
		"a/page/2/x/rss.xml", "RSS.xml", "opml", "a/page/+2/rss.xml", ""} {
		if c, n, k, ok := parseFeedPath(p); ok {
			t.Errorf("/feeds/%s read as page %d of %q (%v); the routes answer it otherwise", p, n, c, k)
		}
		checkFeedPath(t, s, feeds, "/feeds/"+p)
	}
}

func FuzzParseFeedPath(f *testing.F) {
	for _, p := range []string{"rss.xml", "a/page/2/atom.xml", "page/1/rss.xml", "a//feed.json", "a/./rss.xml"} {
		f.Add(p)
	}
	s, feeds := newAskedServer(f, slog.LevelInfo) // through the routes
	f.Fuzz(func(t *testing.T, rest string) {
		checkFeedPath(t, s, feeds, "/feeds/"+rest)
	})
}

// checkFeedPath fails when parseFeedPath takes path otherwise than the
// routes of s (a server with request logging on, so that it takes no short
// path): a page other than the one the routes ask feeds for, or one where
// they ask for none.
func checkFeedPath(t *testing.T, s *Server, feeds *askedFeeds, path string) {
	t.Helper()
	category, page, kind, ok := parseFeedPath(path[len("/feeds/"):])
	if !ok {
		return
	}
	feeds.got = nil
	r := httptest.NewRequest("GET", "/", nil)
	r.URL = &url.URL{Path: path}
	r.RequestURI = r.URL.RequestURI()
	s.ServeHTTP(httptest.NewRecorder(), r)
	want := feedPage{category, page, kind}
	if len(feeds.got) != 1 || feeds.got[0] != want {
		t.Errorf("%q: short path reads %v, the routes ask for %v", path, want, feeds.got)
	}
}
