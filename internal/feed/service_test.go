package feed

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
)

func newTestService(t *testing.T) (*Service, *sqlite.Store) {
	t.Helper()
	st := sqlitetest.Open(t)
	return NewService(ServiceOptions{Renderer: testRenderer(true), Source: st, Items: 10}), st
}

func save(t *testing.T, st *sqlite.Store, id string, published time.Time) {
	t.Helper()
	_, err := st.SaveArticles(context.Background(), published, []article.Article{{ID: id, GUID: "tag:x:" + id, Slug: id,
		Title: "Bài " + id, Summary: "x", PublishedAt: published, InputHash: id}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLastModifiedNeverGoesBack: deleting the newest article makes the
// feed's newest date older, but the feed changed: Last-Modified moves on,
// so If-Modified-Since alone cannot get a stale 304.
func TestLastModifiedNeverGoesBack(t *testing.T) {
	svc, st := newTestService(t)
	old := time.Date(2024, 12, 18, 8, 0, 0, 0, hcm)
	save(t, st, "old", old)
	save(t, st, "new", old.Add(48*time.Hour))
	ctx := context.Background()
	before, err := svc.Get(ctx, "", 1, RSS)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteArticle(ctx, "new"); err != nil {
		t.Fatal(err)
	}
	svc.Invalidate()
	after, err := svc.Get(ctx, "", 1, RSS)
	if err != nil {
		t.Fatal(err)
	}
	if after.ETag == before.ETag || !after.LastModified.After(before.LastModified) {
		t.Errorf("after a deletion: ETag %s → %s, Last-Modified %v → %v; want both to change, the date forward",
			before.ETag, after.ETag, before.LastModified, after.LastModified)
	}
	if after.IdentityHeader.Get("Last-Modified") != after.LastModified.Format("Mon, 02 Jan 2006 15:04:05 GMT") {
		t.Errorf("header %q does not follow the moved date %v", after.IdentityHeader.Get("Last-Modified"), after.LastModified)
	}
	// Unchanged bytes keep their date.
	svc.Invalidate()
	again, _ := svc.Get(ctx, "", 1, RSS)
	if !again.LastModified.Equal(after.LastModified) {
		t.Errorf("an unchanged feed moved its Last-Modified: %v → %v", after.LastModified, again.LastModified)
	}
}

// TestMissingFeedsTakeNoMemory: wrong URLs, however many, leave nothing in
// the cache.
func TestMissingFeedsTakeNoMemory(t *testing.T) {
	svc, st := newTestService(t)
	save(t, st, "a", time.Date(2024, 12, 18, 8, 0, 0, 0, hcm))
	ctx := context.Background()
	for i := range 100 {
		if _, err := svc.Get(ctx, fmt.Sprintf("khong-co-%d", i), 1, RSS); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown category: %v", err)
		}
		if _, err := svc.Get(ctx, "", i+2, Atom); !errors.Is(err, ErrNotFound) {
			t.Fatalf("page past the last: %v", err)
		}
	}
	if bytes, n := svc.docs.held(); n != 0 || bytes != 0 {
		t.Errorf("%d cache entries (%d bytes) for feeds that do not exist", n, bytes)
	}
	gen := svc.cache.Load()
	gen.mu.Lock()
	defer gen.mu.Unlock()
	if len(gen.renders) != 0 {
		t.Errorf("%d renders left under way for feeds that do not exist", len(gen.renders))
	}
}

// TestCancelledRequestDoesNotFailOthers: the render runs for every waiter,
// not under the first requester's context.
func TestCancelledRequestDoesNotFailOthers(t *testing.T) {
	svc, st := newTestService(t)
	save(t, st, "a", time.Date(2024, 12, 18, 8, 0, 0, 0, hcm))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	doc, err := svc.Get(ctx, "", 1, RSS)
	if err != nil || doc == nil {
		t.Errorf("a render started by a request that went away: %v", err)
	}
}

// TestConfiguredCategory: the config's title and description of a category
// name its feed, over the title articles gave it.
func TestConfiguredCategory(t *testing.T) {
	_, st := newTestService(t)
	_, err := st.SaveArticles(context.Background(), time.Now(), []article.Article{{ID: "a", GUID: "tag:x:a", Slug: "a",
		Title: "Bài", Summary: "x", Categories: []article.Category{{Slug: "thoi-su", Title: "thời sự"}},
		PublishedAt: time.Date(2024, 12, 18, 8, 0, 0, 0, hcm), InputHash: "a"}})
	if err != nil {
		t.Fatal(err)
	}
	r := NewRenderer(Options{Site: Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		Categories: map[string]CategoryInfo{"thoi-su": {Title: "Thời sự", Description: "Tin thời sự trong ngày"}}})
	svc := NewService(ServiceOptions{Renderer: r, Source: st})
	doc, err := svc.Get(context.Background(), "thoi-su", 1, Atom)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>Báo Mẫu — Thời sự</title>", "<subtitle>Tin thời sự trong ngày</subtitle>"} {
		if !strings.Contains(string(doc.Body), want) {
			t.Errorf("category feed lacks %s", want)
		}
	}
	scopes, _ := svc.Scopes(context.Background())
	if len(scopes) != 2 || scopes[1].Category.Title != "Thời sự" {
		t.Errorf("scopes %+v; want the configured title", scopes)
	}
}

// TestWarmOnlyWhenRead: after a change, the site-wide feeds are rendered
// at once if someone reads the feeds, and not during an unread bulk import.
func TestWarmOnlyWhenRead(t *testing.T) {
	svc, st := newTestService(t)
	save(t, st, "a", time.Date(2024, 12, 18, 8, 0, 0, 0, hcm))
	ctx := context.Background()
	entries := func() int {
		_, n := svc.docs.held()
		return n
	}
	svc.refresh(ctx)
	if n := entries(); n != 0 {
		t.Errorf("nobody read the feeds, yet %d were rendered after a change", n)
	}
	if _, err := svc.Get(ctx, "", 1, RSS); err != nil {
		t.Fatal(err)
	}
	svc.refresh(ctx)
	if n := entries(); n != len(Kinds) {
		t.Errorf("%d documents ready after a change to feeds being read; want the %d site-wide ones", n, len(Kinds))
	}
	svc.refresh(ctx) // warming alone is no reading
	if n := entries(); n != 0 {
		t.Errorf("warming counted as reading: %d documents rendered", n)
	}
}

// countingSource counts the reads of every category.
type countingSource struct {
	Source
	categoryReads atomic.Int64
}

func (c *countingSource) Categories(ctx context.Context, now time.Time) ([]article.Category, error) {
	c.categoryReads.Add(1)
	return c.Source.Categories(ctx, now)
}

func saveWithCategories(t *testing.T, st *sqlite.Store, id string, published time.Time, n int) {
	t.Helper()
	cats := make([]article.Category, n)
	for i := range cats {
		cats[i] = article.Category{Slug: fmt.Sprintf("muc-%04d", i), Title: fmt.Sprintf("Mục %d", i)}
	}
	_, err := st.SaveArticles(context.Background(), published, []article.Article{{ID: id, GUID: "tag:x:" + id, Slug: id,
		Title: "Bài " + id, Summary: "x", Categories: cats, PublishedAt: published, InputHash: id}})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCategoryFeedsReadCategoriesOnce: rendering every category feed reads
// the category list once per change, not once per feed (which made a
// change cost N² with N categories).
func TestCategoryFeedsReadCategoriesOnce(t *testing.T) {
	st := sqlitetest.Open(t)
	src := &countingSource{Source: st}
	svc := NewService(ServiceOptions{Renderer: testRenderer(true), Source: src, Items: 10})
	saveWithCategories(t, st, "a", time.Date(2024, 12, 18, 8, 0, 0, 0, hcm), 100)
	ctx := context.Background()
	scopes, err := svc.Scopes(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scopes[1:] {
		if _, err := svc.Get(ctx, sc.Category.Slug, 1, RSS); err != nil {
			t.Fatal(err)
		}
	}
	if n := src.categoryReads.Load(); n != 1 {
		t.Errorf("100 category feeds read the category list %d times; want once", n)
	}
}

// TestHomeScopesLimitsHomeCategories: the home page names the site-wide
// feed and the busiest limits.home_categories categories, not one link per
// category an article made up.
func TestHomeScopesLimitsHomeCategories(t *testing.T) {
	st := sqlitetest.Open(t)
	svc := NewService(ServiceOptions{Renderer: testRenderer(true), Source: st, Items: 10, HomeCategories: 3})
	day := time.Date(2024, 12, 18, 8, 0, 0, 0, hcm)
	saveWithCategories(t, st, "spam", day, 100) // muc-0000 … muc-0099, one article each
	for i, slug := range []string{"thoi-su", "the-thao", "thoi-su", "kinh-te", "thoi-su", "the-thao", "kinh-te", "van-hoa"} {
		_, err := st.SaveArticles(context.Background(), day, []article.Article{{ID: fmt.Sprint("b", i), GUID: fmt.Sprint("tag:x:b", i),
			Slug: fmt.Sprint("b", i), Title: "Bài", Summary: "x", Categories: []article.Category{{Slug: slug, Title: slug}},
			PublishedAt: day.Add(time.Duration(i) * time.Hour), InputHash: fmt.Sprint("b", i)}})
		if err != nil {
			t.Fatal(err)
		}
	}
	scopes, err := svc.HomeScopes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, sc := range scopes {
		if sc.Category == nil {
			got = append(got, "")
			continue
		}
		got = append(got, sc.Category.Slug)
	}
	want := []string{"", "kinh-te", "the-thao", "thoi-su"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("home feeds %q; want %q", got, want)
	}
	all, _ := svc.Scopes(context.Background())
	if len(all) != 1+100+4 {
		t.Errorf("Scopes (the OPML) lists %d feeds; want all %d", len(all), 1+100+4)
	}
}

// TestRenderStopsWithRun: a render detached from its request still ends
// when the daemon stops (Run's context), so SIGTERM is not held up by
// renders.
func TestRenderStopsWithRun(t *testing.T) {
	svc, st := newTestService(t)
	saveWithCategories(t, st, "a", time.Date(2024, 12, 18, 8, 0, 0, 0, hcm), 50)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	for svc.life.Load() == nil {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	svc.Invalidate()
	if _, err := svc.Get(context.Background(), "muc-0001", 1, RSS); !errors.Is(err, context.Canceled) {
		t.Errorf("a render after the daemon stopped: %v; want context.Canceled", err)
	}
	if _, err := svc.Scopes(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Scopes after the daemon stopped: %v; want context.Canceled", err)
	}
}

// TestConcurrentRequestsShareOneRender: requests for one document at the
// same moment wait on one render, and all get it.
func TestConcurrentRequestsShareOneRender(t *testing.T) {
	st := sqlitetest.Open(t)
	var renders atomic.Int64
	svc := NewService(ServiceOptions{Renderer: testRenderer(true), Source: st, Items: 10,
		ObserveRender: func(time.Duration) { renders.Add(1) }})
	save(t, st, "a", time.Date(2024, 12, 18, 8, 0, 0, 0, hcm))
	var wg sync.WaitGroup
	docs := make([]*Rendered, 50)
	for i := range docs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			doc, err := svc.Get(context.Background(), "", 1, Atom)
			if err != nil {
				t.Error(err)
			}
			docs[i] = doc
		}()
	}
	wg.Wait()
	for i, d := range docs {
		if d == nil || d.ETag != docs[0].ETag {
			t.Fatalf("request %d got %v; want the shared document", i, d)
		}
	}
	if n := renders.Load(); n != 1 {
		t.Errorf("50 requests at once rendered %d times; want 1", n)
	}
}
