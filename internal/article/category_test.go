package article

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestNormalizeCategoriesFromConfig: an article's category named by the
// admin's slug or title (any case) is the admin's category, under its slug
// and title (text as the admin wrote it); others keep the title given.
func TestNormalizeCategoriesFromConfig(t *testing.T) {
	n := testNormalizerWith(t, NormalizerOptions{Categories: []Category{
		{Slug: "kt", Title: "Kinh tế"}, {Slug: "the-thao", Title: "Thể thao"}, {Slug: "xa-hoi"}, {Slug: "tc", Title: "Tài chính & <Ngân hàng>"},
	}})
	a, err := n.Normalize(Input{Title: "Bài", Summary: "x", Categories: []string{"kinh tế", "the-thao", "kt", "Dân vận", "xa-hoi", "du-lich", "tài chính & <ngân hàng>"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := []Category{{Slug: "kt", Title: "Kinh tế"}, {Slug: "the-thao", Title: "Thể thao"}, {Slug: "dan-van", Title: "Dân vận"}, {Slug: "xa-hoi", Title: "xa-hoi"}, {Slug: "du-lich", Title: "du-lich"}, {Slug: "tc", Title: "Tài chính & <Ngân hàng>"}}
	if diff := cmp.Diff(want, a.Categories); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}
}
