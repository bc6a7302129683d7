package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
)

var hcm = mustLocation("Asia/Ho_Chi_Minh")

func mustLocation(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

// testClock is the fixed "now" of the import tests: after every fixture's
// date, before the scheduled one.
var testClock = time.Date(2024, 12, 22, 7, 0, 0, 0, hcm)

func openStore(t testing.TB) *sqlite.Store { return sqlitetest.Open(t) }

func newTestImporter(t testing.TB, st ArticleStore, now func() time.Time) *Importer {
	t.Helper()
	n, err := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ParseDate})
	if err != nil {
		t.Fatal(err)
	}
	return NewImporter(ImporterOptions{Normalizer: n, Store: st, Location: hcm, Now: now, BatchSize: 2})
}

// goldenArticle is a stored article as the golden files show it.
type goldenArticle struct {
	ID          string   `json:"id"`
	GUID        string   `json:"guid"`
	Slug        string   `json:"slug"`
	Title       string   `json:"title"`
	URL         string   `json:"url,omitempty"`
	Author      string   `json:"author,omitempty"`
	Categories  []string `json:"categories,omitempty"`
	Summary     string   `json:"summary,omitempty"`
	ContentHTML string   `json:"content_html,omitempty"`
	Image       any      `json:"image,omitempty"`
	PublishedAt string   `json:"published_at"`
	UpdatedAt   string   `json:"updated_at"`
	Scheduled   bool     `json:"scheduled,omitempty"`
}

type goldenImport struct {
	Results  []string        `json:"results"`
	Articles []goldenArticle `json:"articles"`
}

// TestImportGolden runs each fixture through the whole import (parse,
// normalize, store in SQLite) and compares what is stored with a golden
// file. Run with -update to rewrite them, then review the diff by eye.
func TestImportGolden(t *testing.T) {
	fixtures, err := filepath.Glob("testdata/import/*")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range fixtures {
		if strings.HasSuffix(path, ".golden.json") {
			continue
		}
		t.Run(filepath.Base(path), func(t *testing.T) {
			st := openStore(t)
			im := newTestImporter(t, st, func() time.Time { return testClock })
			var got goldenImport
			_, err := im.Run(context.Background(), Paths([]string{path}, nil, ""), func(r Result) {
				line := r.Origin.String() + " " + r.Outcome.String() + " " + r.ID
				if r.Err != nil {
					line = r.Origin.String() + " rejected: " + r.Err.Error()
				}
				got.Results = append(got.Results, line)
			})
			if err != nil {
				t.Fatal(err)
			}
			list, err := st.Articles(context.Background(), store.ArticleQuery{IncludeScheduled: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range list {
				g := goldenArticle{ID: a.ID, GUID: a.GUID, Slug: a.Slug, Title: a.Title, URL: a.URL, Author: a.Author,
					Summary: a.Summary, ContentHTML: a.ContentHTML,
					PublishedAt: a.PublishedAt.In(hcm).Format(time.RFC3339), UpdatedAt: a.UpdatedAt.In(hcm).Format(time.RFC3339),
					Scheduled: a.ScheduledAt(testClock)}
				for _, c := range a.Categories {
					g.Categories = append(g.Categories, c.Slug+" "+c.Title)
				}
				if img := a.Image; img != nil {
					g.Image = map[string]any{"url": img.URL, "caption": img.Caption, "type": img.Type, "length": img.Length}
				}
				got.Articles = append(got.Articles, g)
			}
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			enc.SetIndent("", "  ")
			if err := enc.Encode(got); err != nil {
				t.Fatal(err)
			}
			golden := path + ".golden.json"
			if *update {
				if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -run TestImportGolden -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", golden, diff)
			}
			assertSafe(t, list)
		})
	}
}

// assertSafe checks what the golden files also show, so that an -update
// can never bless unsafe output.
func assertSafe(t *testing.T, list []article.Article) {
	t.Helper()
	for _, a := range list {
		for name, field := range map[string]string{"title": a.Title, "author": a.Author, "summary": a.Summary, "content": a.ContentHTML} {
			if article.RemoveXMLInvalid(field) != field {
				t.Errorf("article %s: %s has characters XML forbids: %q", a.ID, name, field)
			}
			if name == "title" {
				// A title is plain text, kept as given: every output
				// escapes it (the feed and page tests show that).
				continue
			}
			lower := strings.ToLower(field)
			for _, bad := range []string{"<script", "javascript:", "onerror", "onclick", "onload", "<style", "<iframe"} {
				if strings.Contains(lower, bad) {
					t.Errorf("article %s: %s contains %q: %q", a.ID, name, bad, field)
				}
			}
			if strings.ContainsAny(a.Title, "\r\n") {
				t.Errorf("article %s: title has a line break: %q", a.ID, a.Title)
			}
		}
	}
}

func TestImportSkipsUnchangedAndUpdatesEdits(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := testClock
	im := newTestImporter(t, st, func() time.Time { return now })
	dir := t.TempDir()
	file := filepath.Join(dir, "a.jsonl")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func() Summary {
		t.Helper()
		s, err := im.Run(ctx, Paths([]string{file}, nil, ""), nil)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	write(`{"id":"x","title":"Bản tin","summary":"một"}` + "\n" + `{"id":"y","title":"Bản tin","summary":"hai"}` + "\n")
	if got := run(); got != (Summary{Created: 2}) {
		t.Fatalf("first import: %+v", got)
	}
	first, _ := st.Article(ctx, "x")

	now = now.Add(time.Hour)
	if got := run(); got != (Summary{Unchanged: 2}) {
		t.Fatalf("same file again: %+v, want 2 unchanged", got)
	}
	write(`{"id":"x","title":"Bản tin đã sửa","summary":"một"}` + "\n" + `{"id":"y","title":"Bản tin","summary":"hai"}` + "\n")
	if got := run(); got != (Summary{Updated: 1, Unchanged: 1}) {
		t.Fatalf("one edit: %+v", got)
	}
	edited, _ := st.Article(ctx, "x")
	if edited.Slug != first.Slug || edited.GUID != first.GUID || edited.Title != "Bản tin đã sửa" {
		t.Errorf("edit must keep slug and GUID and take the new title: got %q %q %q", edited.Slug, edited.GUID, edited.Title)
	}
	if !edited.UpdatedAt.Equal(now) || !edited.PublishedAt.Equal(first.PublishedAt) {
		t.Errorf("edit: updated %v (want %v), published %v (want unchanged %v)", edited.UpdatedAt, now, edited.PublishedAt, first.PublishedAt)
	}
	y, _ := st.Article(ctx, "y")
	if y.Slug == first.Slug {
		t.Errorf("two articles share the slug %q", y.Slug)
	}
}

// countingStore counts the articles that reach SaveArticles.
type countingStore struct {
	ArticleStore
	saved int
}

func (c *countingStore) SaveArticles(ctx context.Context, now time.Time, as []article.Article) ([]store.Saved, error) {
	c.saved += len(as)
	return c.ArticleStore.SaveArticles(ctx, now, as)
}

func TestImportUnchangedNeverReachesTheWriter(t *testing.T) {
	st := &countingStore{ArticleStore: openStore(t)}
	im := newTestImporter(t, st, func() time.Time { return testClock })
	paths := []string{"testdata/import/batch.jsonl", "testdata/import/trang-dan-van.txt"}
	if _, err := im.Run(context.Background(), Paths(paths, nil, ""), nil); err != nil {
		t.Fatal(err)
	}
	before := st.saved
	s, err := im.Run(context.Background(), Paths(paths, nil, ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	if st.saved != before || s.Unchanged != 3 {
		t.Errorf("second import sent %d articles to the store and counted %d unchanged; want 0 and 3", st.saved-before, s.Unchanged)
	}
}

func TestImportStdinFormats(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        Summary
	}{
		{"jsonl", `{"title":"Một","summary":"a"}` + "\n" + `{"title":"Hai","summary":"b"}` + "\n", Summary{Created: 2}},
		{"pretty object", "{\n  \"title\": \"Một\",\n  \"summary\": \"a\"\n}\n", Summary{Created: 1}},
		{"array", `[{"title":"Một","summary":"a"},{"title":"Hai","summary":"b"},{"summary":"c"}]`, Summary{Created: 2, Rejected: 1}},
		{"markdown", "---\ntitle: Một\n---\nNội dung **đậm**.\n", Summary{Created: 1}},
		{"page", "28/3/2024\n\nTiêu đề trang\n\n(Báo) - Nội dung chính của bài viết đủ dài để làm đoạn mở đầu cho trang này, như các trang tin vẫn in ra hằng ngày.\n", Summary{Created: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			im := newTestImporter(t, openStore(t), func() time.Time { return testClock })
			got, err := im.Run(context.Background(), Paths([]string{"-"}, strings.NewReader(tc.input), ""), nil)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("summary %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestImportCategoryFlagAndFolders(t *testing.T) {
	st := openStore(t)
	im := newTestImporter(t, st, func() time.Time { return testClock })
	var origins []string
	s, err := im.Run(context.Background(), Paths([]string{"testdata/import", "testdata/missing.json", "testdata/import/.hidden.json"}, nil, "Tin nổi bật"),
		func(r Result) {
			if r.Err != nil {
				origins = append(origins, r.Origin.String())
			}
		})
	if err != nil {
		t.Fatal(err)
	}
	if s.Created == 0 || !contains(origins, "testdata/missing.json") {
		t.Errorf("folder import: %+v, rejected %v; want articles created and the missing file reported", s, origins)
	}
	list, _ := st.Articles(context.Background(), store.ArticleQuery{Category: "tin-noi-bat", IncludeScheduled: true})
	if len(list) != s.Created {
		t.Errorf("--category: %d articles in tin-noi-bat, want all %d created", len(list), s.Created)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// failingStore fails every save, as a full disk would.
type failingStore struct{ ArticleStore }

func (failingStore) SaveArticles(context.Context, time.Time, []article.Article) ([]store.Saved, error) {
	return nil, errors.New("disk full")
}

func TestImportStopsOnStoreFailure(t *testing.T) {
	im := newTestImporter(t, failingStore{openStore(t)}, func() time.Time { return testClock })
	_, err := im.Run(context.Background(), Paths([]string{"testdata/import/batch.jsonl"}, nil, ""), nil)
	if err == nil || !strings.Contains(err.Error(), "disk full") || !strings.Contains(err.Error(), "batch.jsonl:1") {
		t.Errorf("error %v; want the store's error with the place the batch starts", err)
	}
}

// TestImportLastVersionWins: a batch that holds two versions of one
// article, the second equal to what is stored, ends with the second.
func TestImportLastVersionWins(t *testing.T) {
	ctx := context.Background()
	for _, batchSize := range []int{1, 500} { // across chunks and within one
		st := openStore(t)
		n, _ := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ParseDate})
		im := NewImporter(ImporterOptions{Normalizer: n, Store: st, Location: hcm, Now: time.Now, BatchSize: batchSize})
		dir := t.TempDir()
		b := `{"id":"dup","title":"Phiên bản B","summary":"b"}`
		a := `{"id":"dup","title":"Phiên bản A","summary":"a"}`
		write := func(name, body string) string {
			p := filepath.Join(dir, name)
			if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}
		if _, err := im.Run(ctx, Paths([]string{write("b.jsonl", b+"\n")}, nil, ""), nil); err != nil {
			t.Fatal(err)
		}
		for _, order := range [][]string{{a, b}, {b, a}, {a, b}} {
			body := strings.Join(order, "\n") + "\n"
			if _, err := im.Run(ctx, Paths([]string{write("ab.jsonl", body)}, nil, ""), nil); err != nil {
				t.Fatal(err)
			}
			got, err := st.Article(ctx, "dup")
			if err != nil {
				t.Fatal(err)
			}
			want := "Phiên bản B"
			if order[1] == a {
				want = "Phiên bản A"
			}
			if got.Title != want {
				t.Errorf("batch size %d, batch %v: stored title %q, want the last version %q", batchSize, order, got.Title, want)
			}
		}
	}
}

// hashFailingStore fails the read every worker makes first.
type hashFailingStore struct{ ArticleStore }

func (hashFailingStore) KnownSources(context.Context, []string) (map[string]string, error) {
	return nil, errors.New("database is locked")
}

// TestImportWorkerFailure: when every worker fails, Run reports the cause
// and returns only after the reader has stopped (the race detector checks).
func TestImportWorkerFailure(t *testing.T) {
	n, _ := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ParseDate})
	im := NewImporter(ImporterOptions{Normalizer: n, Store: hashFailingStore{openStore(t)}, Location: hcm, Workers: 2, BatchSize: 1})
	produce := func(ctx context.Context, emit func(record) error) error {
		for i := 0; ; i++ {
			if err := emit(record{format: FormatJSONL, data: []byte(`{"title":"x","summary":"y"}`), origin: Origin{Path: "-", Line: i + 1}}); err != nil {
				return err
			}
		}
	}
	_, err := im.Run(context.Background(), produce, nil)
	if err == nil || !strings.Contains(err.Error(), "database is locked") {
		t.Errorf("error %v; want the store's error", err)
	}
}
