package postgres_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/article"
)

// KnownSources looks hashes up by the index even before the table has
// statistics: the planner would otherwise read the whole table for each
// batch of an import (seen growing with every batch of a first import).
func TestKnownSourcesDoesNotScanTheTable(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	dsn := newSchema(t)
	s := open(t, dsn)
	var hashes []string
	for b := range 4 {
		batch := make([]article.Article, 500)
		for i := range batch {
			id := fmt.Sprintf("a%d-%03d", b, i)
			batch[i] = article.Article{ID: id, GUID: "urn:" + id, Slug: id, Title: id, PublishedAt: t0,
				InputHash: "h-" + id, SourceHash: "s-" + id, ContentHTML: strings.Repeat("<p>x</p>", 50)}
			if i%2 == 0 {
				hashes = append(hashes, "s-"+id)
			}
		}
		if _, err := s.SaveArticles(ctx, t0, batch); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 250 {
		hashes = append(hashes, fmt.Sprintf("unknown-%d", i))
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
			WHERE schemaname = current_schema() AND relname = 'articles'`).Scan(&seq, &idx); err != nil {
			t.Fatal(err)
		}
		return seq, idx
	}
	s.Close()
	time.Sleep(200 * time.Millisecond)
	seq0, idx0 := scans()

	s = open(t, dsn)
	known, err := s.KnownSources(ctx, hashes)
	if err != nil {
		t.Fatal(err)
	}
	if len(known) != 1000 || known["s-a2-100"] != "a2-100" || known["unknown-1"] != "" {
		t.Fatalf("known sources: %d found (a2-100: %q), want 1000", len(known), known["s-a2-100"])
	}
	s.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		seq, idx := scans()
		if seq != seq0 {
			t.Fatalf("KnownSources scanned the articles table (%d scans before, %d after)", seq0, seq)
		}
		if idx != idx0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("KnownSources' scans never reached pg_stat_user_tables")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
