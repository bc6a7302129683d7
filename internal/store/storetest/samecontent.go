package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// testSameContent: an article saved again from other input (another
// InputHash) that makes the same article — its JSON printed by `bantin
// articles show --json` and ingested back — is Unchanged and keeps its
// updated date; a changed category, image or date is an update.
func testSameContent(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	first := sample("cms-1", t0)
	save(t, s, t0, first)
	stored, err := s.Article(ctx, "cms-1")
	if err != nil {
		t.Fatal(err)
	}

	again := stored
	again.InputHash, again.SourceHash = "hash-of-the-json", "source-of-the-json"
	later := t0.Add(time.Hour)
	if saved := save(t, s, later, again); saved[0].Outcome != store.Unchanged {
		t.Errorf("same article from other input: %v, want unchanged", saved[0].Outcome)
	}
	// Dates not given count as the same.
	undated := again
	undated.PublishedAt, undated.UpdatedAt = time.Time{}, time.Time{}
	if saved := save(t, s, later, undated); saved[0].Outcome != store.Unchanged {
		t.Errorf("same article without dates: %v, want unchanged", saved[0].Outcome)
	}
	if got, _ := s.Article(ctx, "cms-1"); !got.UpdatedAt.Equal(stored.UpdatedAt) {
		t.Errorf("updated date moved to %v, want %v", got.UpdatedAt, stored.UpdatedAt)
	}

	for name, edit := range map[string]func(*article.Article){
		"categories": func(a *article.Article) { a.Categories = a.Categories[:1] },
		"category order": func(a *article.Article) {
			a.Categories = []article.Category{a.Categories[1], a.Categories[0]}
		},
		"image length": func(a *article.Article) { img := *a.Image; img.Length++; a.Image = &img },
		"no image":     func(a *article.Article) { a.Image = nil },
		"published":    func(a *article.Article) { a.PublishedAt = a.PublishedAt.Add(time.Minute) },
		"summary":      func(a *article.Article) { a.Summary += "." },
	} {
		t.Run(name, func(t *testing.T) {
			s := h.New(t)
			save(t, s, t0, first)
			changed := stored
			changed.InputHash = "hash-" + name
			edit(&changed)
			if saved := save(t, s, later, changed); saved[0].Outcome != store.Updated {
				t.Errorf("%s changed: %v, want updated", name, saved[0].Outcome)
			}
		})
	}
}
