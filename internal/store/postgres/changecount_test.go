package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// TestArticleChangesCounted: a batch saved by COPY moves the change counter
// once, not once an article (migration 00013); an update and a delete still
// move it and signal another handle, a delete of a missing article does
// not; the GUID, slug and source hash compare byte by byte.
func TestArticleChangesCounted(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	dsn := newSchema(t)
	a, b := open(t, dsn), open(t, dsn)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	counter := func() int64 {
		t.Helper()
		var v int64
		if err := conn.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM article_changes`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	changes := b.Changes(ctx)
	step := func(name string, moves int64, do func() error) {
		t.Helper()
		before := counter()
		if err := do(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := counter() - before; got != moves {
			t.Errorf("%s moved the change counter by %d, want %d", name, got, moves)
		}
		if moves == 0 {
			return
		}
		select {
		case <-changes:
		case <-time.After(2 * time.Second):
			t.Fatalf("%s: no change signal on the other handle within 2 s", name)
		}
	}

	batch := make([]article.Article, 100)
	for i := range batch {
		id := fmt.Sprintf("a-%03d", i)
		batch[i] = article.Article{ID: id, GUID: "urn:" + id, Slug: id, Title: id, PublishedAt: t0, InputHash: "h-" + id, SourceHash: "s-" + id}
	}
	step("a batch of 100 new articles", 1, func() error {
		_, err := a.SaveArticles(ctx, t0, batch)
		return err
	})
	changed := batch[7]
	changed.Title, changed.InputHash = "Tin mới", "h-new"
	step("an update", 1, func() error {
		saved, err := a.SaveArticles(ctx, t0, []article.Article{changed})
		if err == nil && saved[0].Outcome != store.Updated {
			err = fmt.Errorf("outcome %v, want updated", saved[0].Outcome)
		}
		return err
	})
	step("a delete", 1, func() error { return a.DeleteArticle(ctx, "a-008") })
	step("a delete of a missing article", 0, func() error {
		if err := a.DeleteArticle(ctx, "a-008"); !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("got %v, want ErrNotFound", err)
		}
		return nil
	})

	rows, err := conn.Query(ctx, `SELECT column_name, COALESCE(collation_name, '') FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name = 'articles' AND column_name IN ('id', 'guid', 'slug', 'source_hash')`)
	if err != nil {
		t.Fatal(err)
	}
	collations, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Column, Collation string }])
	if err != nil {
		t.Fatal(err)
	}
	if len(collations) != 4 {
		t.Fatalf("collations of %d columns, want 4", len(collations))
	}
	for _, c := range collations {
		if c.Collation != "C" {
			t.Errorf("articles.%s has collation %q, want C", c.Column, c.Collation)
		}
	}
}
