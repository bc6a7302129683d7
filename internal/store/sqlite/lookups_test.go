package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/article"
)

// TestLookupsDoNotWaitForSaves: the import's lookups answer while a save
// holds the articles connection in a transaction, with what was committed
// before it. On the articles connection they waited for the commit (here
// the deadline).
func TestLookupsDoNotWaitForSaves(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "bantin.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	stored := article.Article{ID: "a-1", GUID: "g-1", Slug: "bai-1", Title: "Bài 1", InputHash: "h-1", SourceHash: "s-1"}
	if _, err := s.SaveArticles(ctx, time.Now(), []article.Article{stored}); err != nil {
		t.Fatal(err)
	}

	tx, err := s.articles.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO articles (id, guid, slug, title, published_at, updated_at, stored_at, input_hash, source_hash)
		VALUES ('a-2', 'g-2', 'bai-2', 'Bài 2', 0, 0, 0, 'h-2', 's-2')`); err != nil {
		t.Fatal(err)
	}

	wait, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	known, err := s.KnownSources(wait, []string{"s-1", "s-2"})
	if err != nil {
		t.Fatalf("KnownSources during a save: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"s-1": "a-1"}, known); diff != "" {
		t.Errorf("KnownSources during a save (-want +got):\n%s", diff)
	}
	hashes, err := s.ArticleHashes(wait, []string{"a-1", "a-2"})
	if err != nil {
		t.Fatalf("ArticleHashes during a save: %v", err)
	}
	if diff := cmp.Diff(map[string]string{"a-1": "h-1"}, hashes); diff != "" {
		t.Errorf("ArticleHashes during a save (-want +got):\n%s", diff)
	}
}
