package article

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

func TestNormalizeRefusesMoreThanLimitsCategories(t *testing.T) {
	n := testNormalizer(t)
	if n.MaxCategories() != DefaultMaxCategories {
		t.Fatalf("MaxCategories() = %d, want the default %d", n.MaxCategories(), DefaultMaxCategories)
	}
	names := func(count int) []string {
		var out []string
		for i := range count {
			out = append(out, fmt.Sprintf("Mục %d", i))
		}
		return out
	}

	// At the limit: stored whole.
	a, err := n.Normalize(Input{Title: "x", Summary: "x", Categories: names(DefaultMaxCategories)}, time.Now())
	if err != nil || len(a.Categories) != DefaultMaxCategories {
		t.Fatalf("%d categories: %d kept, error %v", DefaultMaxCategories, len(a.Categories), err)
	}
	// Names that slug alike count once: 60 spellings of 50 categories.
	alike := append(names(DefaultMaxCategories), "MỤC 1", "muc-2", "<b>Mục</b> 3", "Mục 4 ", "Mục-5", "mục 6", "Muc 7", "MUC 8", "Mục  9", "mục 10")
	if _, err := n.Normalize(Input{Title: "x", Summary: "x", Categories: alike}, time.Now()); err != nil {
		t.Errorf("%d names of %d categories: %v", len(alike), DefaultMaxCategories, err)
	}

	// One more: refused, naming the field and the limit.
	for _, count := range []int{DefaultMaxCategories + 1, 2000} {
		_, err = n.Normalize(Input{Title: "x", Summary: "x", Categories: names(count)}, time.Now())
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "categories" || !errors.Is(err, ErrInvalid) {
			t.Fatalf("%d categories: error %v, want a FieldError on categories", count, err)
		}
		if want := fmt.Sprintf("%d distinct categories; at most %d (limits.categories)", count, DefaultMaxCategories); fe.Reason != want {
			t.Errorf("reason %q, want %q", fe.Reason, want)
		}
	}

	// A configured limit.
	small := testNormalizerWith(t, NormalizerOptions{MaxCategories: 3})
	if _, err := small.Normalize(Input{Title: "x", Summary: "x", Categories: names(4)}, time.Now()); err == nil {
		t.Error("4 categories under limits.categories 3 were accepted")
	}
	if _, err := small.Normalize(Input{Title: "x", Summary: "x", Categories: names(3)}, time.Now()); err != nil {
		t.Errorf("3 categories under limits.categories 3: %v", err)
	}
}

func TestFirstCategoriesKeepsLimitsCategories(t *testing.T) {
	n := testNormalizerWith(t, NormalizerOptions{MaxCategories: 3})
	for _, tc := range []struct {
		name    string
		in      []string
		extra   string
		want    []string
		dropped int
	}{
		{"under", []string{"A", "B"}, "", []string{"A", "B"}, 0},
		{"at", []string{"A", "B", "C"}, "", []string{"A", "B", "C"}, 0},
		{"repeats count once", []string{"A", "a", "B", "b", "C", ""}, "", []string{"A", "a", "B", "b", "C", ""}, 0},
		{"over", []string{"A", "B", "C", "D", "E", "D"}, "", []string{"A", "B", "C"}, 2},
		{"room for the extra", []string{"A", "B", "C"}, "Nguồn", []string{"A", "B"}, 1},
		{"extra among them", []string{"A", "nguon", "B", "C"}, "Nguồn", []string{"A", "nguon", "B"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, dropped := n.FirstCategories(tc.in, tc.extra)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") || dropped != tc.dropped {
				t.Errorf("FirstCategories(%q, %q) = %q, %d dropped; want %q, %d", tc.in, tc.extra, got, dropped, tc.want, tc.dropped)
			}
			if _, err := n.Normalize(Input{Title: "x", Summary: "x", Categories: append(got, tc.extra)}, time.Now()); err != nil {
				t.Errorf("what it kept is refused: %v", err)
			}
		})
	}
}

func testNormalizerWith(t *testing.T, opts NormalizerOptions) *Normalizer {
	t.Helper()
	base := testNormalizer(t)
	opts.BaseURL, opts.Location, opts.ParseTime = base.base.String(), base.location, base.parseTime
	n, err := NewNormalizer(opts)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNormalizeRefusesControlCharactersInID(t *testing.T) {
	n := testNormalizer(t)
	for _, id := range []string{"a\rb", "a\nb", "a\tb", "a\x01b", "a\x7fb", "a\u0085b", "a\u009bb", "tin-\u202Efdp.exe", "a\u2066b", "a\u200fb", "a\u061cb"} {
		_, err := n.Normalize(Input{ID: id, Title: "x", Summary: "x"}, time.Now())
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != "id" || !strings.Contains(fe.Reason, "control character") {
			t.Errorf("id %q: error %v, want a FieldError on id naming the control character", id, err)
		}
	}
	// White space around an id is trimmed as before; letters of every
	// script and inner spaces are fine.
	for _, id := range []string{" tin-1\n", "Tin tức 2024", "bài-viết/123", "中文"} {
		if _, err := n.Normalize(Input{ID: id, Title: "x", Summary: "x"}, time.Now()); err != nil {
			t.Errorf("id %q: %v", id, err)
		}
	}
	// An id whose control character the cleaning would remove is not the
	// clean id's unchanged input.
	_, clean := n.Key(Input{ID: "ab", Title: "x", Summary: "x"})
	if _, dirty := n.Key(Input{ID: "a\x01b", Title: "x", Summary: "x"}); dirty == clean {
		t.Error("ids a\\x01b and ab give one input hash")
	}
}

func TestSanitizedHTMLIsBalanced(t *testing.T) {
	n := testNormalizer(t)
	for _, tc := range []struct{ in, want string }{
		{"</div></div><table><tr><td>x", "<table><tbody><tr><td>x</td></tr></tbody></table>"},
		{"<details open><summary>Xem</summary><p>nội dung", "<details open=\"\"><summary>Xem</summary><p>nội dung</p></details>"},
		{"<p>một<p>hai</b></i></span>", "<p>một</p><p>hai</p>"},
		{"<ul><li>a<li>b</ul></blockquote>", "<ul><li>a</li><li>b</li></ul>"},
		{"<b><i>chéo</b></i>", "<b><i>chéo</i></b>"},
		{"<div/>sau", "<div>sau</div>"},
		// Well-formed HTML comes out as bluemonday writes it.
		{`<p>Ảnh <img src="https://baomau.vn/a.jpg" alt="a"><br>tiếp</p>`, `<p>Ảnh <img src="https://baomau.vn/a.jpg" alt="a"><br>tiếp</p>`},
		{"<p>a &lt;/div&gt; &amp; b</p>", "<p>a &lt;/div&gt; &amp; b</p>"},
		{"chữ thường", "chữ thường"},
	} {
		a, err := n.Normalize(Input{Title: "x", ContentHTML: tc.in}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if a.ContentHTML != tc.want {
			t.Errorf("content %q\n got %q\nwant %q", tc.in, a.ContentHTML, tc.want)
		}
		if err := checkBalanced(a.ContentHTML); err != nil {
			t.Errorf("content %q: %v in %q", tc.in, err, a.ContentHTML)
		}
	}
}

// checkBalanced reports a tag of s closed out of order, closed without
// being open, or left open.
func checkBalanced(s string) error {
	z := html.NewTokenizer(strings.NewReader(s))
	var open []string
	for {
		switch z.Next() {
		case html.ErrorToken:
			if len(open) > 0 {
				return fmt.Errorf("unclosed %v", open)
			}
			return nil
		case html.StartTagToken:
			name, _ := z.TagName()
			if !voidElements[string(name)] {
				open = append(open, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if len(open) == 0 || open[len(open)-1] != string(name) {
				return fmt.Errorf("stray </%s> (open: %v)", name, open)
			}
			open = open[:len(open)-1]
		}
	}
}
