package feed

import (
	"encoding/xml"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
)

// TestOPMLCategoryOutlines: each outline has title, text, xmlUrl and
// htmlUrl, and a category's outline carries the category's own
// description from the config, not the site's.
func TestOPMLCategoryOutlines(t *testing.T) {
	b, err := testRenderer(true).RenderOPML([]Scope{{}, {Category: &article.Category{Slug: "kinh-te", Title: "kinh-te"}}}, time.Date(2024, 12, 22, 7, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Outlines []struct {
			Title       string `xml:"title,attr"`
			Text        string `xml:"text,attr"`
			XMLURL      string `xml:"xmlUrl,attr"`
			HTMLURL     string `xml:"htmlUrl,attr"`
			Description string `xml:"description,attr"`
		} `xml:"body>outline"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.Outlines) != 2 {
		t.Fatalf("OPML: %v, %d outlines\n%s", err, len(doc.Outlines), b)
	}
	for i, want := range []string{"Tin tức mỗi ngày", "Giá cả, thị trường"} {
		o := doc.Outlines[i]
		if o.Description != want || o.Title == "" || o.Text == "" || o.XMLURL == "" || o.HTMLURL == "" {
			t.Errorf("outline %d: %+v; want title, text, xmlUrl, htmlUrl and description %q", i, o, want)
		}
	}
}
