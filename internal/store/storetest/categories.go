package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// testCategoryTitles: a title that is only the slug gives way to a real one
// from a later article or from the admin; a real title is kept against a
// later article's; the admin's title wins over an article's and is seen by
// another process.
func testCategoryTitles(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	titles := func(s store.Store) map[string]string {
		t.Helper()
		cats, err := s.Categories(ctx, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for _, c := range cats {
			m[c.Slug] = c.Title
		}
		return m
	}
	a := sample("c1", t0)
	a.Slug = "c1"
	a.GUID = "tag:example.vn,2024-03-28:c1"
	a.Categories = []article.Category{{Slug: "du-lich", Title: "du-lich"}, {Slug: "dan-van", Title: "Dân vận"}, {Slug: "kinh-te", Title: "kinh-te"}}
	save(t, s, t0, a)
	other := h.Reopen(t, s)
	changes := other.Changes(ctx)
	time.Sleep(time.Second) // its watcher takes a first look at the store
	// wait takes the change signals of one write, an echo included.
	wait := func(what string) {
		t.Helper()
		select {
		case <-changes:
		case <-time.After(5 * time.Second):
			t.Fatalf("another process was not told of %s within 5 s", what)
		}
		settle := time.After(500 * time.Millisecond)
		for {
			select {
			case <-changes:
			case <-settle:
				return
			}
		}
	}
	b := sample("c2", t0)
	b.Slug, b.GUID = "c2", "tag:example.vn,2024-03-28:c2"
	b.Categories = []article.Category{{Slug: "du-lich", Title: "Du lịch"}, {Slug: "dan-van", Title: "Dan van"}, {Slug: "kinh-te", Title: "kinh-te"}}
	save(t, s, t0, b)
	wait("a second article")
	want := map[string]string{"du-lich": "Du lịch", "dan-van": "Dân vận", "kinh-te": "kinh-te"}
	if diff := cmp.Diff(want, titles(s)); diff != "" {
		t.Errorf("titles after a slug-only one and a real one (-want +got):\n%s", diff)
	}

	if err := s.SetCategoryTitles(ctx, []article.Category{{Slug: "kinh-te", Title: "Kinh tế"}, {Slug: "dan-van", Title: "Công tác dân vận"}, {Slug: "the-thao", Title: "Thể thao"}, {Slug: "xa-hoi"}}); err != nil {
		t.Fatalf("SetCategoryTitles: %v", err)
	}
	wait("the admin's titles")
	want = map[string]string{"du-lich": "Du lịch", "dan-van": "Công tác dân vận", "kinh-te": "Kinh tế"}
	if diff := cmp.Diff(want, titles(other)); diff != "" {
		t.Errorf("titles after the admin's, read by another process (-want +got):\n%s", diff)
	}
	// An article naming the admin's category by its slug, or with its own
	// title, leaves the admin's title.
	c := sample("c3", t0)
	c.Slug, c.GUID = "c3", "tag:example.vn,2024-03-28:c3"
	c.Categories = []article.Category{{Slug: "the-thao", Title: "the-thao"}, {Slug: "kinh-te", Title: "Kinh te"}}
	save(t, other, t0, c)
	want["the-thao"] = "Thể thao"
	if diff := cmp.Diff(want, titles(s)); diff != "" {
		t.Errorf("titles after an article naming the admin's categories (-want +got):\n%s", diff)
	}
	got, err := s.Article(ctx, "c3")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]article.Category{{Slug: "the-thao", Title: "Thể thao"}, {Slug: "kinh-te", Title: "Kinh tế"}}, got.Categories); diff != "" {
		t.Errorf("the article's categories (-want +got):\n%s", diff)
	}

	cats, err := s.ArticleCategories(ctx, []string{"c1", "c3", "missing"})
	if err != nil {
		t.Fatalf("ArticleCategories: %v", err)
	}
	if diff := cmp.Diff(map[string][]string{"c1": {"du-lich", "dan-van", "kinh-te"}, "c3": {"the-thao", "kinh-te"}}, cats); diff != "" {
		t.Errorf("ArticleCategories (-want +got):\n%s", diff)
	}
}
