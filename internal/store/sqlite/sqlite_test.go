package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store { return sqlitetest.OpenPath(t, path) }

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) store.Store {
			return open(t, filepath.Join(t.TempDir(), "bantin.db"))
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			return open(t, s.(*sqlite.Store).Path())
		},
	})
}

func TestPingReportsPendingMigrations(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nested", "dir", "bantin.db"))
	if err != nil {
		t.Fatalf("Open must create missing folders: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping on an unmigrated store: no error")
	}
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("Migrate: applied %v, err %v", applied, err)
	}
	if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second Migrate: applied %v, err %v; want nothing", again, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after Migrate: %v", err)
	}
}

// TestBackupWhileWriting: a backup taken while another handle (another
// process) writes articles is a whole, checked database with every
// article committed before it; an existing file is never overwritten.
func TestBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "bantin.db")
	s := sqlitetest.OpenPath(t, path)
	writer := sqlitetest.OpenPath(t, path)
	stop := make(chan struct{})
	done := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			a := article.Article{ID: fmt.Sprintf("a-%d", n), GUID: fmt.Sprintf("g-%d", n), Slug: fmt.Sprintf("bai-%d", n),
				Title: "Bài", Summary: "Tóm tắt", ContentHTML: "<p>x</p>", InputHash: fmt.Sprint(n)}
			if _, err := writer.SaveArticles(ctx, time.Now(), []article.Article{a}); err != nil {
				t.Error(err)
			}
			n++
		}
	}()
	time.Sleep(50 * time.Millisecond)
	copyPath := filepath.Join(dir, "copy.db")
	if err := s.Backup(ctx, copyPath); err != nil {
		t.Fatal(err)
	}
	close(stop)
	written := <-done
	backup := sqlitetest.OpenPath(t, copyPath)
	n, err := backup.CountArticles(ctx, store.ArticleQuery{Now: time.Now()})
	if err != nil || n == 0 || n > written {
		t.Errorf("the copy holds %d articles (%v) of %d written", n, err, written)
	}
	if err := s.Backup(ctx, copyPath); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Errorf("a backup over an existing file: %v", err)
	}
}

// TestArticleConnectionSeesOtherWriters: the import's lookups and saves
// run on a connection of their own that keeps its cache between batches;
// they must still see what the store's other connections and another
// process (bantin ingest beside serve) commit in between.
func TestArticleConnectionSeesOtherWriters(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "bantin.db")
	a, b := open(t, path), open(t, path)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	art := func(id, summary string) article.Article {
		return article.Article{ID: id, GUID: "tag:x," + id, Slug: id, Title: "T " + id, Summary: summary,
			InputHash: "h-" + summary, SourceHash: "s-" + summary, PublishedAt: now}
	}
	saveOne := func(s *sqlite.Store, x article.Article) store.Outcome {
		t.Helper()
		saved, err := s.SaveArticles(ctx, now, []article.Article{x})
		if err != nil {
			t.Fatal(err)
		}
		return saved[0].Outcome
	}
	hash := func(s *sqlite.Store, id string) string {
		t.Helper()
		m, err := s.ArticleHashes(ctx, []string{id})
		if err != nil {
			t.Fatal(err)
		}
		return m[id]
	}
	if got := saveOne(a, art("mot", "1")); got != store.Created {
		t.Fatalf("first save: %v", got)
	}
	if got := hash(a, "mot"); got != "h-1" {
		t.Fatalf("hash after the save: %q", got)
	}
	// Another process changes the article, then deletes it.
	if got := saveOne(b, art("mot", "2")); got != store.Updated {
		t.Fatalf("save by the other process: %v", got)
	}
	if got := hash(a, "mot"); got != "h-2" {
		t.Fatalf("hash after the other process's update: %q, want h-2", got)
	}
	if m, err := a.KnownSources(ctx, []string{"s-1", "s-2"}); err != nil || m["s-2"] != "mot" || m["s-1"] != "" {
		t.Fatalf("known sources after the other process's update: %v, %v", m, err)
	}
	if err := b.DeleteArticle(ctx, "mot"); err != nil {
		t.Fatal(err)
	}
	if got := hash(a, "mot"); got != "" {
		t.Fatalf("hash after the other process deleted it: %q, want none", got)
	}
	if got := saveOne(a, art("mot", "2")); got != store.Created {
		t.Fatalf("save after the other process deleted it: %v, want created", got)
	}
	// This store's own pool too (DeleteArticle runs there).
	if err := a.DeleteArticle(ctx, "mot"); err != nil {
		t.Fatal(err)
	}
	if got := hash(a, "mot"); got != "" {
		t.Fatalf("hash after this store deleted it: %q, want none", got)
	}
}

// TestSaveArticlesStopsWhenCancelled: a batch being saved when its context
// is cancelled stops and stores nothing (its statements run without the
// context's cancellation; the loop and the transaction watch it).
func TestSaveArticlesStopsWhenCancelled(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "bantin.db"))
	batch := make([]article.Article, 20000)
	for i := range batch {
		batch[i] = article.Article{ID: fmt.Sprintf("a-%d", i), GUID: fmt.Sprintf("g-%d", i), Slug: fmt.Sprintf("bai-%d", i),
			Title: "Bài", Summary: "Tóm tắt", ContentHTML: "<p>x</p>", InputHash: fmt.Sprint(i),
			Categories: []article.Category{{Slug: "thoi-su", Title: "Thời sự"}}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if saved, err := s.SaveArticles(ctx, time.Now(), batch); err == nil {
		t.Fatalf("SaveArticles cancelled after 20 ms: saved %d, no error", len(saved))
	}
	n, err := s.CountArticles(context.Background(), store.ArticleQuery{IncludeScheduled: true})
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d articles stored by a cancelled batch, want 0", n)
	}
}
