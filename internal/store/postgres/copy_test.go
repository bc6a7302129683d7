package postgres_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// hostileArticles are new articles whose text is hard on a bulk path:
// COPY's text-format escapes (backslashes, tabs, newlines, \N), quotes,
// Vietnamese and emoji, HTML long enough for TOAST and HTML between the
// sizes where a row is compressed, and two that want the same slug.
func hostileArticles(t0 time.Time) []article.Article {
	r := rand.New(rand.NewPCG(7, 7))
	var long strings.Builder // 300 KB that lz4 cannot shrink much
	for long.Len() < 300_000 {
		fmt.Fprintf(&long, "<p>%x Tiếng Việt có dấu: ắ ặ ẫ ỡ ự</p>\n", r.Uint64())
	}
	mid := "<p>" + strings.Repeat("Đà Nẵng ", 320) + "</p>" // ~2.5 KB
	texts := []string{
		`back\slash \\ \N \t \n \. end\`,
		"tab\there\nnew line\r\ncarriage\rreturn",
		`"quotes" 'single' ; -- comment /* */ $$dollar$$ E'\x41'`,
		"Hà Nội – Thành phố Hồ Chí Minh 🇻🇳 😀 \u200b zero-width",
		"\u00a0\u2028\u2029 separators \x7f del \x01 ctrl",
		"",
	}
	var list []article.Article
	for i, text := range texts {
		id := fmt.Sprintf("h%d", i)
		list = append(list, article.Article{
			ID: id, GUID: "urn:" + text + id, Slug: fmt.Sprintf("bai-%d", i),
			Title: text + " title", URL: "https://e.vn/" + id + "?q=" + text, Author: text,
			Summary: text + " summary", ContentHTML: "<p>" + text + "</p>",
			Image:       &article.Image{URL: "/anh/" + id + ".jpg", Caption: text, Type: "image/jpeg", Length: int64(i) * 1000},
			PublishedAt: t0.Add(time.Duration(i) * time.Minute), InputHash: "h-" + text + id, SourceHash: "s-" + id,
			Categories: []article.Category{{Slug: "kinh-te", Title: "Kinh tế"}, {Slug: fmt.Sprintf("c%d", i%2), Title: text}},
		})
	}
	list = append(list,
		article.Article{ID: "long", GUID: "urn:long", Slug: "dai", Title: "Dài", ContentHTML: long.String(),
			Summary: long.String()[:5000], PublishedAt: t0, InputHash: "h-long"},
		article.Article{ID: "mid", GUID: "urn:mid", Slug: "vua", Title: "Vừa", ContentHTML: mid,
			PublishedAt: t0, UpdatedAt: t0.Add(time.Hour), InputHash: "h-mid"},
		// The same slug as the first one: it takes "bai-0-2".
		article.Article{ID: "twin", GUID: "urn:twin", Slug: "bai-0", Title: "Sinh đôi", PublishedAt: t0, InputHash: "h-twin"},
	)
	return list
}

// A batch of new articles goes to the table by COPY; each row reads back
// as given, field by field, and as the same article saved by the old path
// (one INSERT each, which an article whose slug is taken still takes).
func TestSaveArticlesCopyStoresHostileTextExactly(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	now := t0.Add(time.Minute)
	batch := hostileArticles(t0)

	fast := open(t, newSchema(t))
	saved, err := fast.SaveArticles(ctx, now, batch)
	if err != nil {
		t.Fatal(err)
	}
	for i, sv := range saved {
		want := batch[i].Slug
		if batch[i].ID == "twin" {
			want = "bai-0-2"
		}
		if sv.Outcome != store.Created || sv.Slug != want {
			t.Errorf("saved[%d] = %+v, want created with slug %q", i, sv, want)
		}
	}

	// The old path: every slug is taken first, so each article goes in
	// by its own INSERT with "-2" added.
	slow := open(t, newSchema(t))
	var decoys []article.Article
	for _, a := range batch {
		if a.ID != "twin" {
			decoys = append(decoys, article.Article{ID: "decoy-" + a.ID, GUID: "urn:decoy-" + a.ID, Slug: a.Slug,
				Title: "x", PublishedAt: t0, InputHash: "x"})
		}
	}
	if _, err := slow.SaveArticles(ctx, now, decoys); err != nil {
		t.Fatal(err)
	}
	if _, err := slow.SaveArticles(ctx, now, batch); err != nil {
		t.Fatal(err)
	}

	// A category keeps the title it was first given.
	titles := map[string]string{}
	for _, a := range batch {
		for _, c := range a.Categories {
			if _, ok := titles[c.Slug]; !ok {
				titles[c.Slug] = c.Title
			}
		}
	}
	for i, a := range batch {
		want := store.Fill(a, now)
		want.Slug = saved[i].Slug
		want.Categories = nil
		for _, c := range a.Categories {
			want.Categories = append(want.Categories, article.Category{Slug: c.Slug, Title: titles[c.Slug]})
		}
		got, err := fast.Article(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("article %q by COPY:\n got %s\nwant %s", a.ID, brief(got), brief(want))
		}
		old, err := slow.Article(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(old.Slug, a.Slug+"-") {
			t.Errorf("article %q by the old path has slug %q, want %q with a suffix", a.ID, old.Slug, a.Slug)
		}
		old.Slug = got.Slug
		if !reflect.DeepEqual(got, old) {
			t.Errorf("article %q, COPY and the old path differ:\n COPY %s\n  old %s", a.ID, brief(got), brief(old))
		}
	}
}

// brief shows an article with its long fields cut, for failure messages.
func brief(a article.Article) string {
	cut := func(s string) string {
		if len(s) > 80 {
			return fmt.Sprintf("%q…(%d bytes)", s[:80], len(s))
		}
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("{%s guid=%s slug=%s title=%s url=%s author=%s summary=%s html=%s image=%+v cats=%v pub=%v upd=%v stored=%v in=%s src=%s}",
		a.ID, cut(a.GUID), a.Slug, cut(a.Title), cut(a.URL), cut(a.Author), cut(a.Summary), cut(a.ContentHTML),
		a.Image, a.Categories, a.PublishedAt, a.UpdatedAt, a.StoredAt, cut(a.InputHash), a.SourceHash)
}

// PostgreSQL text refuses NUL. A batch with one such article fails as a
// whole: none of it is stored, by COPY or otherwise, and the store takes
// the next batch.
func TestSaveArticlesWithNULStoresNothing(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	s := open(t, newSchema(t))
	batch := hostileArticles(t0)
	batch[3].ContentHTML = "<p>nul \x00 here</p>"
	if _, err := s.SaveArticles(ctx, t0, batch); err == nil {
		t.Fatal("a batch with NUL in an article's HTML was saved")
	}
	n, err := s.CountArticles(ctx, store.ArticleQuery{IncludeScheduled: true})
	if err != nil || n != 0 {
		t.Fatalf("after the failed batch: %d articles, %v; want 0", n, err)
	}
	cats, err := s.Categories(ctx, t0.Add(time.Hour))
	if err != nil || len(cats) != 0 {
		t.Fatalf("after the failed batch: categories %v, %v; want none", cats, err)
	}
	batch[3].ContentHTML = "<p>no nul</p>"
	if _, err := s.SaveArticles(ctx, t0, batch); err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountArticles(ctx, store.ArticleQuery{IncludeScheduled: true}); err != nil || n != len(batch) {
		t.Fatalf("after the good batch: %d articles, %v; want %d", n, err, len(batch))
	}
}
