package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

// TestAutodiscoveryTypesLiteral checks the raw bytes of the home and article
// pages: feed finders that match bytes, not a parsed DOM, look for
// type="application/rss+xml", never the "&#43;" html/template writes.
func TestAutodiscoveryTypesLiteral(t *testing.T) {
	f := newFeedFixture(t, 10)
	f.post(t, `{"id":"a","title":"Tin một","summary":"x","published_at":"2024-03-28T08:00:00+07:00","categories":["Thời sự"]}`)
	waitUntil(t, 5e9, "the article in the feed", func() bool {
		_, b := f.get(t, "GET", "/feeds/rss.xml", nil)
		return strings.Contains(string(b), "Tin một")
	})
	for _, path := range []string{"/", "/articles/tin-mot"} {
		resp, b := f.get(t, "GET", path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		body := string(b)
		for _, bad := range []string{"&#43;xml", "&#43;json"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s writes a feed type with %s", path, bad)
			}
		}
		for _, want := range []string{
			`<link rel="alternate" type="application/rss+xml" title="Báo Mẫu (RSS)" href="https://baomau.vn/feeds/rss.xml">`,
			`<link rel="alternate" type="application/atom+xml" title="Báo Mẫu (Atom)" href="https://baomau.vn/feeds/atom.xml">`,
			`<link rel="alternate" type="application/feed+json" title="Báo Mẫu (JSON Feed)" href="https://baomau.vn/feeds/feed.json">`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s", path, want)
			}
		}
	}
}

// sqliteFullError looks like modernc.org/sqlite's *sqlite.Error for
// SQLITE_FULL: the web layer knows it by its Code, not its type.
type sqliteFullError struct{}

func (sqliteFullError) Error() string { return "database or disk is full (13)" }
func (sqliteFullError) Code() int     { return 13 }

// pgFullError looks like pgx's *pgconn.PgError for disk_full.
type pgFullError struct{}

func (pgFullError) Error() string {
	return "ERROR: could not extend file: No space left on device (SQLSTATE 53100)"
}
func (pgFullError) SQLState() string { return "53100" }

// fullStore is a store whose disk is full: every write fails, and so
// does the home page's read (SQLite's temporary files are on it too).
type fullStore struct {
	*sqlite.Store
	err error
}

func (s fullStore) SaveArticles(context.Context, time.Time, []article.Article) ([]store.Saved, error) {
	return nil, fmt.Errorf("save articles: %w", s.err)
}

func (s fullStore) Articles(context.Context, store.ArticleQuery) ([]article.Article, error) {
	return nil, fmt.Errorf("articles: %w", s.err)
}

// TestDiskFullAnswers507 checks what a full disk looks like: the API
// answers 507 with a JSON error, a page 507 with a page in the site's
// language (vi and en), each with the security headers, and the log says
// it once however many requests fail.
func TestDiskFullAnswers507(t *testing.T) {
	for _, cause := range []error{sqliteFullError{}, pgFullError{}, &os.PathError{Op: "write", Path: "data/bantin.db-wal", Err: syscall.ENOSPC}} {
		for _, lang := range []string{"vi", "en"} {
			var logs bytes.Buffer
			n, _ := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ingest.ParseDate})
			tmpl, err := templates.Load("")
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(web.New(web.Options{
				Site:  web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: lang, Location: hcm},
				Store: fullStore{Store: sqlitetest.Open(t), err: cause}, Normalizer: n, Templates: tmpl, AdminToken: token,
				Logger: slog.New(slog.NewTextHandler(&logs, nil)), MaxBodyBytes: 1 << 20,
			}))
			for range 3 {
				req, _ := http.NewRequest("POST", srv.URL+"/api/v1/articles", strings.NewReader(`{"title":"Tin","summary":"x"}`))
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var body struct{ Error string }
				_ = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(body.Error, "disk is full") || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Errorf("%T: POST /api/v1/articles: %d %q, want 507 with a JSON error saying the disk is full", cause, resp.StatusCode, body.Error)
				}
			}
			resp, err := http.Get(srv.URL + "/")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			want := map[string]string{"vi": "Máy chủ hết dung lượng lưu trữ", "en": "The server is out of storage"}[lang]
			if resp.StatusCode != http.StatusInsufficientStorage || !strings.Contains(string(b), want) {
				t.Errorf("%T %s: GET /: %d, want 507 and %q in:\n%s", cause, lang, resp.StatusCode, want, b)
			}
			checkSecurityHeaders(t, "507 page", resp.Header)
			srv.Close()
			if got := strings.Count(logs.String(), "disk full"); got != 1 {
				t.Errorf("%T %s: %d log lines for 4 failed requests, want 1:\n%s", cause, lang, got, logs.String())
			}
		}
	}
}

// checkSecurityHeaders: an error page carries the headers every page has.
func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for name, want := range map[string]string{
		"X-Content-Type-Options": "nosniff",
		"X-Frame-Options":        "DENY",
		"Referrer-Policy":        "strict-origin-when-cross-origin",
	} {
		if got := h.Get(name); got != want {
			t.Errorf("%s: %s %q, want %q", what, name, got, want)
		}
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("%s: Content-Security-Policy %q, want default-src 'none' and frame-ancestors 'none'", what, csp)
	}
}

// TestErrorPagesCarrySecurityHeaders: the 404 pages (an unknown path, a
// missing article) and a 413 carry the same CSP and headers as the
// other pages.
func TestErrorPagesCarrySecurityHeaders(t *testing.T) {
	f := newFixture(t)
	for _, path := range []string{"/no-such-page", "/articles/khong-co"} {
		status, body, h := f.do(t, "GET", path, "", "")
		if status != http.StatusNotFound || !strings.Contains(body, "<html") {
			t.Errorf("GET %s: %d, want the 404 page", path, status)
		}
		checkSecurityHeaders(t, "GET "+path, h)
	}
	status, _, h := f.do(t, "POST", "/api/v1/articles", "Bearer "+token, strings.Repeat("x", 2<<20))
	if status != http.StatusRequestEntityTooLarge {
		t.Errorf("big POST: %d, want 413", status)
	}
	checkSecurityHeaders(t, "413", h)
}
