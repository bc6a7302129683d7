package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store/postgres"
)

// The import's lookups and SaveArticles' look-up of the keys a batch takes
// go by the indexes even before the table has statistics: the planner
// would otherwise read the whole table, comparing every row with every
// key of the batch (seen growing with every batch of a first import, 44%
// of the server's CPU at 100,000 articles).
func TestLookupsDoNotScanTheTable(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	newArticle := func(id string) article.Article {
		return article.Article{ID: id, GUID: "urn:" + id, Slug: id, Title: id, PublishedAt: t0,
			InputHash: "h-" + id, SourceHash: "s-" + id, ContentHTML: strings.Repeat("<p>x</p>", 50),
			Categories: []article.Category{{Slug: "thoi-su", Title: "Thời sự"}, {Slug: "the-thao", Title: "Thể thao"}}}
	}
	for _, tc := range []struct {
		name   string
		table  string // the table looked up
		lookup func(ctx context.Context, s *postgres.Store) error
	}{
		{"KnownSources", "articles", func(ctx context.Context, s *postgres.Store) error {
			var hashes []string
			for i := range 500 {
				hashes = append(hashes, fmt.Sprintf("s-a2-%03d", i), fmt.Sprintf("unknown-%d", i))
			}
			known, err := s.KnownSources(ctx, hashes)
			if err != nil {
				return err
			}
			if len(known) != 500 || known["s-a2-100"] != "a2-100" || known["unknown-1"] != "" {
				return fmt.Errorf("known sources: %d found (a2-100: %q), want 500", len(known), known["s-a2-100"])
			}
			return nil
		}},
		{"ArticleHashes", "articles", func(ctx context.Context, s *postgres.Store) error {
			var ids []string
			for i := range 500 {
				ids = append(ids, fmt.Sprintf("a3-%03d", i), fmt.Sprintf("unknown-%d", i))
			}
			hashes, err := s.ArticleHashes(ctx, ids)
			if err != nil {
				return err
			}
			if len(hashes) != 500 || hashes["a3-100"] != "h-a3-100" || hashes["unknown-1"] != "" {
				return fmt.Errorf("article hashes: %d found (a3-100: %q), want 500", len(hashes), hashes["a3-100"])
			}
			return nil
		}},
		{"ArticleCategories", "article_categories", func(ctx context.Context, s *postgres.Store) error {
			ids := []string{"a1-007", "unknown"}
			for i := range 500 {
				ids = append(ids, fmt.Sprintf("a1-%03d", i))
			}
			cats, err := s.ArticleCategories(ctx, ids)
			if err != nil {
				return err
			}
			if len(cats) != 500 || !slices.Equal(cats["a1-007"], []string{"thoi-su", "the-thao"}) || cats["unknown"] != nil {
				return fmt.Errorf("article categories: %d found (a1-007: %q), want 500", len(cats), cats["a1-007"])
			}
			return nil
		}},
		{"SaveArticles", "articles", func(ctx context.Context, s *postgres.Store) error {
			// A group of the import: 2,000 new articles.
			batch := make([]article.Article, 2000)
			for i := range batch {
				batch[i] = newArticle(fmt.Sprintf("b-%04d", i))
			}
			saved, err := s.SaveArticles(ctx, t0, batch)
			if err != nil {
				return err
			}
			if len(saved) != 2000 || saved[1999].Slug != "b-1999" {
				return fmt.Errorf("saved %d, the last as %+v; want 2000", len(saved), saved[len(saved)-1])
			}
			return nil
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := newSchema(t)
			s := open(t, dsn)
			for b := range 4 {
				batch := make([]article.Article, 500)
				for i := range batch {
					batch[i] = newArticle(fmt.Sprintf("a%d-%03d", b, i))
				}
				if _, err := s.SaveArticles(ctx, t0, batch); err != nil {
					t.Fatal(err)
				}
			}

			conn, err := pgx.Connect(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close(ctx)
			scans := func() (seq, idx int64) {
				t.Helper()
				// Each session's counts reach the view when it ends or idles.
				if err := conn.QueryRow(ctx, `SELECT seq_scan, COALESCE(idx_scan, 0) FROM pg_stat_user_tables
					WHERE schemaname = current_schema() AND relname = $1`, tc.table).Scan(&seq, &idx); err != nil {
					t.Fatal(err)
				}
				return seq, idx
			}
			s.Close()
			time.Sleep(200 * time.Millisecond)
			seq0, idx0 := scans()

			s = open(t, dsn)
			if err := tc.lookup(ctx, s); err != nil {
				t.Fatal(err)
			}
			s.Close()
			deadline := time.Now().Add(15 * time.Second)
			for {
				seq, idx := scans()
				if seq != seq0 {
					t.Fatalf("%s scanned the %s table (%d scans before, %d after)", tc.name, tc.table, seq0, seq)
				}
				if idx != idx0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s's scans never reached pg_stat_user_tables", tc.name)
				}
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}
