package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
)

// TestImportSurvivesKill: an import killed with SIGKILL in the middle
// leaves a store that passes SQLite's integrity check, with every article
// whole or absent; the same import run again completes it.
func TestImportSurvivesKill(t *testing.T) {
	const n = 20000
	dir := subscribersDir(t)
	var b strings.Builder
	para := strings.Repeat("Ngày 19/3, đoàn cán bộ đã có buổi khảo sát và làm việc với bà con. ", 8)
	for i := range n {
		fmt.Fprintf(&b, `{"id": "a-%d", "title": "Bài số %d", "summary": "Tóm tắt %d.", "content_html": "<p>%s</p>", "categories": ["Thời sự"]}`+"\n", i, i, i, para)
	}
	if err := os.WriteFile(filepath.Join(dir, "many.jsonl"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), "ingest", "many.jsonl")
	cmd.Dir, cmd.Env = dir, cleanEnv()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(dir, "data", "bantin.db")
	waitFor(t, 30*time.Second, "the import to be under way", func() bool {
		info, err := os.Stat(dbPath + "-wal")
		return err == nil && info.Size() > 4<<20
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	ctx := context.Background()
	st, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Backup(ctx, filepath.Join(dir, "check.db")); err != nil { // runs PRAGMA integrity_check on a copy
		t.Fatalf("the store after the kill: %v", err)
	}
	stored, err := st.Articles(ctx, store.ArticleQuery{Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) == 0 || len(stored) >= n {
		t.Fatalf("%d articles after the kill; the kill came too early or too late to prove anything", len(stored))
	}
	for _, a := range stored {
		if a.Title == "" || !strings.Contains(a.ContentHTML, "khảo sát") || len(a.Categories) != 1 {
			t.Fatalf("a half-written article: %+v", a)
		}
	}
	st.Close()
	t.Logf("%d of %d articles stored when the import was killed", len(stored), n)
	out, _ := mustRun(t, dir, 0, "ingest", "many.jsonl")
	if want := fmt.Sprintf("%d created, 0 updated, %d unchanged, 0 rejected", n-len(stored), len(stored)); !strings.Contains(out, want) {
		t.Errorf("the import again: %s; want %s", out, want)
	}
}
