package feed

import (
	"context"
	"errors"
	"fmt"
	"strings"
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
	gen := svc.cache.Load()
	gen.mu.RLock()
	defer gen.mu.RUnlock()
	if len(gen.entries) != 0 {
		t.Errorf("%d cache entries for feeds that do not exist", len(gen.entries))
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
		gen := svc.cache.Load()
		gen.mu.RLock()
		defer gen.mu.RUnlock()
		return len(gen.entries)
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
