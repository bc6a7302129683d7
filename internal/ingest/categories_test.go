package ingest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestIngestCategoryAddsAndReingestKeeps: --category adds to a file's own
// categories; the same file again without --category keeps them and is
// unchanged; --category again adds a third; an edited file keeps every
// category it had; an upstream feed entry still replaces.
func TestIngestCategoryAddsAndReingestKeeps(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	now := testClock
	im := newTestImporter(t, st, func() time.Time { return now })
	file := filepath.Join(t.TempDir(), "a.json")
	write := func(body string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run := func(category string) Summary {
		t.Helper()
		s, err := im.Run(ctx, Paths([]string{file}, nil, category), func(r Result) {
			if r.Err != nil {
				t.Errorf("%s: %v", r.Origin, r.Err)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	slugs := func() []string {
		t.Helper()
		a, err := st.Article(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, c := range a.Categories {
			out = append(out, c.Slug+"="+c.Title)
		}
		return out
	}
	write(`{"id": "a", "title": "Bài một", "summary": "Tóm tắt", "categories": ["Dân vận"]}`)
	if got := run("Thời sự"); got != (Summary{Created: 1}) {
		t.Fatalf("first import: %+v", got)
	}
	if diff := cmp.Diff([]string{"dan-van=Dân vận", "thoi-su=Thời sự"}, slugs()); diff != "" {
		t.Errorf("--category adds to the file's categories (-want +got):\n%s", diff)
	}
	first, _ := st.Article(ctx, "a")

	now = now.Add(time.Hour)
	if got := run(""); got != (Summary{Unchanged: 1}) {
		t.Errorf("the same file without --category: %+v, want unchanged", got)
	}
	if got := run("thoi-su"); got != (Summary{Unchanged: 1}) {
		t.Errorf("the same file with the --category it has (as a slug): %+v, want unchanged", got)
	}
	if diff := cmp.Diff([]string{"dan-van=Dân vận", "thoi-su=Thời sự"}, slugs()); diff != "" {
		t.Errorf("a re-ingest without --category kept (-want +got):\n%s", diff)
	}
	if a, _ := st.Article(ctx, "a"); !a.UpdatedAt.Equal(first.UpdatedAt) {
		t.Errorf("an unchanged article's updated date moved: %v, was %v", a.UpdatedAt, first.UpdatedAt)
	}

	if got := run("Kinh tế"); got != (Summary{Updated: 1}) {
		t.Errorf("a new --category: %+v, want updated", got)
	}
	if diff := cmp.Diff([]string{"dan-van=Dân vận", "thoi-su=Thời sự", "kinh-te=Kinh tế"}, slugs()); diff != "" {
		t.Errorf("a second --category adds (-want +got):\n%s", diff)
	}
	if got := run(""); got != (Summary{Unchanged: 1}) {
		t.Errorf("again without --category: %+v, want unchanged", got)
	}

	write(`{"id": "a", "title": "Bài một (sửa)", "summary": "Tóm tắt", "categories": ["Xã hội"]}`)
	if got := run(""); got != (Summary{Updated: 1}) {
		t.Errorf("an edited file: %+v, want updated", got)
	}
	if diff := cmp.Diff([]string{"xa-hoi=Xã hội", "dan-van=Dân vận", "thoi-su=Thời sự", "kinh-te=Kinh tế"}, slugs()); diff != "" {
		t.Errorf("an edited file adds its categories and keeps the others (-want +got):\n%s", diff)
	}
}
