package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/text/unicode/norm"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/postgres"
	"github.com/bantin/bantin/internal/store/postgres/pgtest"
)

// parallelBatch is the chunk size of the parallel tests: small, so that
// colliding slugs and repeated ids fall in one chunk and across chunks.
const parallelBatch = 7

// hostileLines is a JSON Lines import made to trip an import that runs
// on several workers: one title many times (slugs -2, -3 … across chunk
// boundaries, in input order), the same id twice in one chunk and in
// different chunks with different content, the same line twice
// (unchanged by its bytes), rejected lines of every kind, a category list
// at the limit and past it, hostile HTML, and ids made from URLs and from
// titles with dates.
func hostileLines() []string {
	obj := func(fields map[string]any) string {
		b, err := json.Marshal(fields)
		if err != nil {
			panic(err)
		}
		return string(b)
	}
	var lines []string
	add := func(fields map[string]any) { lines = append(lines, obj(fields)) }
	for i := range 40 {
		// The same title, written four ways that give one slug.
		title := []string{"Tin nóng", "TIN NÓNG", "Tin  nóng!", norm.NFD.String("Tin nóng")}[i%4]
		add(map[string]any{"id": fmt.Sprintf("nong-%d", i), "title": title, "summary": fmt.Sprintf("Bản %d", i),
			"published_at": fmt.Sprintf("2024-03-%02dT08:00:00+07:00", 1+i%28)})
		switch i % 10 {
		case 3: // the same id again in the same chunk, changed
			add(map[string]any{"id": fmt.Sprintf("nong-%d", i), "title": "Tin nóng sửa", "summary": "Sửa ngay"})
		case 5: // an id of an earlier chunk, changed
			add(map[string]any{"id": fmt.Sprintf("nong-%d", i-5), "title": "Tin nóng", "summary": "Sửa sau"})
		case 7: // the exact line again
			lines = append(lines, lines[len(lines)-1])
		case 9: // rejected lines
			lines = append(lines,
				`{"title": "thiếu ngoặc"`,
				`{"id": "khong-tieu-de", "summary": "x"}`,
				`{"id": "js-url", "title": "Liên kết", "url": "javascript:alert(1)", "summary": "x"}`,
				`{"id": "tuong-lai", "title": "Xa quá", "published_at": "2204-01-01T00:00:00Z", "summary": "x"}`,
				`{"id": "ma\u0007ky", "title": "Mã có ký tự điều khiển", "summary": "x"}`,
				`{"id": "la", "title": "Khóa lạ", "summary": "x", "extra": 1}`,
				`[1, 2]`)
		}
	}
	many := func(n int) []string {
		var c []string
		for i := range n {
			c = append(c, fmt.Sprintf("Mục %d", i))
		}
		return c
	}
	add(map[string]any{"id": "du-muc", "title": "Đủ mục", "summary": "x", "categories": many(article.DefaultMaxCategories)})
	add(map[string]any{"id": "qua-muc", "title": "Quá mục", "summary": "x", "categories": many(article.DefaultMaxCategories + 1)})
	add(map[string]any{"id": "muc-lap", "title": "Mục lặp", "summary": "x", "categories": strings.Split(strings.Repeat("Thời sự,", 2000), ",")})
	add(map[string]any{"id": "doc-hai", "title": "Độc hại", "categories": []string{"Thời sự", "thoi-su", "<b>Kinh tế</b>"},
		"content_html": `<p onclick="x()">Một <script>alert(1)</script><a href="javascript:alert(2)">hai</a> <a href="/tin/3">ba</a></p></div><details open><img src="x" onerror="y()">`})
	add(map[string]any{"url": "https://baomau.vn/tin/khong-id.html", "title": "Không id", "summary": "x"})
	add(map[string]any{"title": "Không id cũng không URL", "published_at": "2024-03-01T08:00:00+07:00", "summary": "x"})
	add(map[string]any{"id": "ky-hieu", "title": "…!?", "summary": "Không chữ nào"})
	add(map[string]any{"id": "ky-hieu-2", "title": "—", "summary": "Không chữ nào nữa"})
	return lines
}

// importOutcome is what a user sees of an import: each line's outcome
// and the store it leaves.
type importOutcome struct {
	Results  []string
	Articles []string
}

type articleLister interface {
	Articles(ctx context.Context, q store.ArticleQuery) ([]article.Article, error)
}

// runImports imports lines, the same lines again, and the lines with
// every summary changed, with the given number of workers, into st.
func runImports(t *testing.T, st interface {
	ArticleStore
	articleLister
}, workers int, lines []string) []importOutcome {
	t.Helper()
	return runImportsWith(t, st, workers, lines, nil)
}

// runImportsWith is runImports with set applied to the importer.
func runImportsWith(t *testing.T, st interface {
	ArticleStore
	articleLister
}, workers int, lines []string, set func(*Importer)) []importOutcome {
	t.Helper()
	ctx := context.Background()
	now := func() time.Time { return testClock }
	n, err := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ParseDate})
	if err != nil {
		t.Fatal(err)
	}
	im := NewImporter(ImporterOptions{Normalizer: n, Store: st, Location: hcm, Now: now, Workers: workers, BatchSize: parallelBatch})
	if set != nil {
		set(im)
	}
	edited := make([]string, len(lines))
	for i, l := range lines {
		edited[i] = strings.ReplaceAll(l, `"summary":"`, `"summary":"Sửa lần ba: `)
	}
	var outcomes []importOutcome
	for run, body := range [][]string{lines, lines, edited} {
		path := filepath.Join(t.TempDir(), "hostile.jsonl")
		if err := os.WriteFile(path, []byte(strings.Join(body, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		var o importOutcome
		_, err := im.Run(ctx, Paths([]string{path}, nil, ""), func(r Result) {
			line := fmt.Sprintf("line %d: %s %s %v", r.Origin.Line, r.ID, r.Slug, r.Outcome)
			if r.Err != nil {
				line = fmt.Sprintf("line %d: rejected: %v", r.Origin.Line, r.Err)
			}
			o.Results = append(o.Results, line)
		})
		if err != nil {
			t.Fatalf("run %d: %v", run+1, err)
		}
		list, err := st.Articles(ctx, store.ArticleQuery{IncludeScheduled: true})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			var cats []string
			for _, c := range a.Categories {
				cats = append(cats, c.Slug+"="+c.Title)
			}
			o.Articles = append(o.Articles, fmt.Sprintf("%s slug=%s guid=%s title=%q summary=%q content=%q categories=%v published=%s updated=%s",
				a.ID, a.Slug, a.GUID, a.Title, a.Summary, a.ContentHTML, cats, a.PublishedAt.UTC().Format(time.RFC3339), a.UpdatedAt.UTC().Format(time.RFC3339)))
		}
		outcomes = append(outcomes, o)
	}
	return outcomes
}

// checkParallelEqualsSerial imports the hostile lines with one worker and
// with four into stores from open, and wants the same outcomes and
// stores, and slugs suffixed in input order.
func checkParallelEqualsSerial(t *testing.T, open func(t *testing.T) interface {
	ArticleStore
	articleLister
}) {
	lines := hostileLines()
	serial := runImports(t, open(t), 1, lines)
	parallel := runImports(t, open(t), 4, lines)
	for run := range serial {
		if diff := cmp.Diff(serial[run], parallel[run]); diff != "" {
			t.Errorf("import %d: 4 workers differ from 1 (-serial +parallel):\n%s", run+1, diff)
		}
	}

	// What the serial import must be: every line answered, the repeated
	// title's slugs numbered in input order, the rejections kept.
	first := serial[0]
	if len(first.Results) != len(lines) {
		t.Fatalf("%d results for %d lines", len(first.Results), len(lines))
	}
	var slugs []string
	for _, r := range first.Results {
		if strings.Contains(r, ": nong-") && strings.HasSuffix(r, " created") {
			slugs = append(slugs, strings.Fields(r)[3])
		}
	}
	for i, slug := range slugs {
		want := "tin-nong"
		if i > 0 {
			want = fmt.Sprintf("tin-nong-%d", i+1)
		}
		if slug != want {
			t.Fatalf("created slugs %v: #%d is %q, want %q", slugs, i+1, slug, want)
		}
	}
	if len(slugs) != 40 {
		t.Errorf("%d articles titled Tin nóng created, want 40", len(slugs))
	}
	count := func(o importOutcome, what string) int {
		n := 0
		for _, r := range o.Results {
			if strings.Contains(r, what) {
				n++
			}
		}
		return n
	}
	if got := count(first, "rejected"); got != 4*7+1 {
		t.Errorf("first import: %d rejected, want %d", got, 4*7+1)
	}
	// The same file again: unchanged, but for the 8 ids given twice with
	// different content, whose first version is saved again and then the
	// last, which the store ends with as before.
	if got, want := count(serial[1], " unchanged"), len(lines)-(4*7+1)-2*8; got != want {
		t.Errorf("second import: %d unchanged, want %d", got, want)
	}
	if diff := cmp.Diff(serial[0].Articles, serial[1].Articles); diff != "" {
		t.Errorf("the same file again changed the store (-first +second):\n%s", diff)
	}
	if got := count(serial[2], " updated"); got == 0 {
		t.Errorf("third import (summaries edited): nothing updated")
	}
	for _, a := range serial[2].Articles {
		for _, bad := range []string{"<script", "javascript:", "onclick", "onerror"} {
			if strings.Contains(a, bad) {
				t.Errorf("stored article keeps %q: %s", bad, a)
			}
		}
	}
}

// TestImportParallelEqualsSerialSQLite: several workers give the store
// one worker gives, on SQLite.
func TestImportParallelEqualsSerialSQLite(t *testing.T) {
	checkParallelEqualsSerial(t, func(t *testing.T) interface {
		ArticleStore
		articleLister
	} {
		return openStore(t)
	})
}

// TestImportParallelEqualsSerialPostgres: the same on PostgreSQL, whose
// batched insert takes the new articles of a chunk in one round trip.
func TestImportParallelEqualsSerialPostgres(t *testing.T) {
	pgtest.DSN(t)
	checkParallelEqualsSerial(t, func(t *testing.T) interface {
		ArticleStore
		articleLister
	} {
		ctx := context.Background()
		st, err := postgres.Open(ctx, pgtest.Schema(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		if _, err := st.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		return st
	})
}
