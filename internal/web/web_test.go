package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

const token = "test-token-0123456789"

var hcm, _ = time.LoadLocation("Asia/Ho_Chi_Minh")

type fixture struct {
	srv   *httptest.Server
	store *sqlite.Store
	now   time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	st := sqlitetest.Open(t)
	n, err := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ingest.ParseDate})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: st, now: time.Date(2024, 12, 22, 7, 0, 0, 0, hcm)}
	s := web.New(web.Options{
		Site:         web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		Store:        st,
		Normalizer:   n,
		Templates:    tmpl,
		AdminToken:   token,
		Logger:       discardLogger(),
		Now:          func() time.Time { return f.now },
		MaxBodyBytes: 1 << 20,
	})
	f.srv = httptest.NewServer(s)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) do(t *testing.T, method, path, auth, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestAdminAuth(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, auth string
		want       int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"not bearer", "Basic " + token, http.StatusUnauthorized},
		{"wrong token", "Bearer nope", http.StatusForbidden},
		{"token prefix", "Bearer " + token[:10], http.StatusForbidden},
		{"right token", "Bearer " + token, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, route := range []struct{ method, path string }{{"GET", "/api/v1/articles"}, {"GET", "/api/v1/articles/x"}, {"DELETE", "/api/v1/articles/x"}, {"POST", "/api/v1/articles"}} {
				status, body, _ := f.do(t, route.method, route.path, tc.auth, `{"title":"x","summary":"y"}`)
				want := tc.want
				if want == http.StatusOK && route.method != "POST" && route.path != "/api/v1/articles" {
					want = http.StatusNotFound
				}
				if want == http.StatusOK && route.method == "POST" {
					want = http.StatusCreated
				}
				if status != want {
					t.Errorf("%s %s: status %d, want %d (%s)", route.method, route.path, status, want, body)
				}
				if tc.want != http.StatusOK && !strings.Contains(body, `"error"`) {
					t.Errorf("%s %s: body %q is not a JSON error", route.method, route.path, body)
				}
			}
		})
	}
}

func TestSaveArticlesAPI(t *testing.T) {
	f := newFixture(t)
	auth := "Bearer " + token
	batch := `[
	  {"id":"cms-1","title":"Bài một","summary":"Một","categories":["Thời sự"],"published_at":"2024-12-21T08:00:00+07:00"},
	  {"id":"cms-2","title":"Bài hai","content_html":"<p onclick=\"x\">Hai<script>alert(1)</script></p>"}
	]`
	status, body, _ := f.do(t, "POST", "/api/v1/articles", auth, batch)
	if status != http.StatusCreated || !strings.Contains(body, `"created": 2`) {
		t.Fatalf("first POST: %d %s", status, body)
	}
	status, body, _ = f.do(t, "POST", "/api/v1/articles", auth, batch)
	if status != http.StatusOK || !strings.Contains(body, `"unchanged": 2`) {
		t.Fatalf("same POST again: %d %s; want 200 and 2 unchanged", status, body)
	}

	// One bad article refuses the whole request and writes nothing.
	bad := `[{"id":"cms-3","title":"Ba","summary":"x"},{"id":"cms-4","summary":"no title"}]`
	status, body, _ = f.do(t, "POST", "/api/v1/articles", auth, bad)
	var e struct {
		Error string `json:"error"`
		Field string `json:"field"`
		Index *int   `json:"index"`
	}
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		t.Fatalf("error body %q: %v", body, err)
	}
	if status != http.StatusBadRequest || e.Field != "articles[1].title" || e.Index == nil || *e.Index != 1 {
		t.Errorf("bad batch: %d %+v; want 400 naming articles[1].title", status, e)
	}
	if _, err := f.store.Article(context.Background(), "cms-3"); err == nil {
		t.Error("the good article of a refused request was stored")
	}

	for _, tc := range []struct{ name, body, field string }{
		{"unknown key", `{"title":"x","summary":"y","tags":["a"]}`, "tags"},
		{"wrong type", `{"title":["x"],"summary":"y"}`, "title"},
		{"bad date", `{"title":"x","summary":"y","published_at":"không phải ngày"}`, "published_at"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, _ := f.do(t, "POST", "/api/v1/articles", auth, tc.body)
			if status != http.StatusBadRequest || !strings.Contains(body, `"field": "`+tc.field+`"`) {
				t.Errorf("%d %s; want 400 with field %s", status, body, tc.field)
			}
		})
	}
	for _, body := range []string{``, `[]`, `not json`, `[1,2]`} {
		if status, got, _ := f.do(t, "POST", "/api/v1/articles", auth, body); status != http.StatusBadRequest {
			t.Errorf("POST %q: %d %s; want 400", body, status, got)
		}
	}

	// Over the body limit: 413, nothing stored.
	huge := `{"id":"huge","title":"x","content_html":"` + strings.Repeat("a", 2<<20) + `"}`
	if status, body, _ := f.do(t, "POST", "/api/v1/articles", auth, huge); status != http.StatusRequestEntityTooLarge {
		t.Errorf("2 MiB body: %d %s; want 413", status, body)
	}
	if _, err := f.store.Article(context.Background(), "huge"); err == nil {
		t.Error("an oversized request stored its article")
	}

	// Read back, sanitized.
	status, body, _ = f.do(t, "GET", "/api/v1/articles/cms-2", auth, "")
	if status != http.StatusOK || strings.Contains(body, "script") || strings.Contains(body, "onclick") {
		t.Errorf("GET cms-2: %d %s", status, body)
	}
	status, body, _ = f.do(t, "GET", "/api/v1/articles?category=thoi-su&limit=5", auth, "")
	if status != http.StatusOK || !strings.Contains(body, "cms-1") || strings.Contains(body, "cms-2") {
		t.Errorf("list by category: %d %s", status, body)
	}
	if status, _, _ := f.do(t, "GET", "/api/v1/articles?limit=abc", auth, ""); status != http.StatusBadRequest {
		t.Errorf("limit=abc: %d, want 400", status)
	}
	if status, _, _ := f.do(t, "DELETE", "/api/v1/articles/cms-1", auth, ""); status != http.StatusNoContent {
		t.Errorf("DELETE: %d, want 204", status)
	}
	if status, _, _ := f.do(t, "GET", "/api/v1/articles/cms-1", auth, ""); status != http.StatusNotFound {
		t.Errorf("GET after DELETE: %d, want 404", status)
	}
}

func TestArticlePage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	now := f.now
	in := []article.Article{
		{ID: "a", GUID: "tag:a", Slug: "bai-viet", Title: "Bài <viết> & tin", ContentHTML: "<p>Nội dung</p>", Author: "Ngọc Nữ",
			PublishedAt: time.Date(2024, 3, 28, 8, 0, 0, 0, hcm), InputHash: "1"},
		{ID: "b", GUID: "tag:b", Slug: "hen-gio", Title: "Hẹn giờ", Summary: "x", PublishedAt: now.Add(time.Hour), InputHash: "2"},
	}
	if _, err := f.store.SaveArticles(ctx, now, in); err != nil {
		t.Fatal(err)
	}
	status, body, h := f.do(t, "GET", "/articles/bai-viet", "", "")
	if status != http.StatusOK || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("article page: %d %s", status, h.Get("Content-Type"))
	}
	for _, want := range []string{"<h1>Bài &lt;viết&gt; &amp; tin</h1>", "Thứ Năm, ngày 28 tháng 3 năm 2024", "Ngọc Nữ", "<p>Nội dung</p>", `lang="vi"`} {
		if !strings.Contains(body, want) {
			t.Errorf("article page lacks %q", want)
		}
	}
	if status, body, _ := f.do(t, "GET", "/articles/hen-gio", "", ""); status != http.StatusNotFound || strings.Contains(body, "Hẹn giờ") {
		t.Errorf("scheduled article page: %d; want 404 without its title", status)
	}
	f.now = now.Add(2 * time.Hour)
	if status, _, _ := f.do(t, "GET", "/articles/hen-gio", "", ""); status != http.StatusOK {
		t.Errorf("scheduled article after its time: %d, want 200", status)
	}
	if status, _, _ := f.do(t, "GET", "/articles/khong-co", "", ""); status != http.StatusNotFound {
		t.Errorf("missing article: %d, want 404", status)
	}
	if status, body, _ := f.do(t, "GET", "/readyz", "", ""); status != http.StatusOK {
		t.Errorf("/readyz: %d %s", status, body)
	}
}
