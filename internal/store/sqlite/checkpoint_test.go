package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
)

// TestSavedArticlesReachTheFile: the pages of a save are copied from the
// WAL into the database file soon after it commits, by the store's
// checkpointer, though the WAL is far from the size at which SQLite's
// automatic checkpoint would copy them.
func TestSavedArticlesReachTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bantin.db")
	s := open(t, path)
	size := func() int64 {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	batch := make([]article.Article, 300) // about 1.2 MB of articles
	for i := range batch {
		batch[i] = article.Article{ID: fmt.Sprintf("a-%d", i), GUID: fmt.Sprintf("g-%d", i), Slug: fmt.Sprintf("bai-%d", i),
			Title: "Bài", Summary: "Tóm tắt", ContentHTML: "<p>" + strings.Repeat("Tin tức trong ngày. ", 200) + "</p>",
			InputHash: fmt.Sprint(i), Categories: []article.Category{{Slug: "thoi-su", Title: "Thời sự"}}}
	}
	if _, err := s.SaveArticles(context.Background(), time.Now(), batch); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); size() < before+1<<20; {
		if time.Now().After(deadline) {
			t.Fatalf("the database file is %d bytes 10 s after the save (%d before): the saved pages were left in the WAL", size(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
