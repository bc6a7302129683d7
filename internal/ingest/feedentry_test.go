package ingest

import (
	"bytes"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/bantin/bantin/internal/article"
)

// FuzzEntryInput: any feed gofeed can read maps to inputs whose ids name
// their source, whose links are absolute http(s) URLs, and which the
// normalizer either takes or refuses with a reason; nothing panics.
func FuzzEntryInput(f *testing.F) {
	for _, name := range []string{"wordpress.rss", "blogger.atom", "partner.json", "messy-latin1.rss"} {
		b, err := os.ReadFile(filepath.Join("testdata", "feeds", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	n, err := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ParseDate})
	if err != nil {
		f.Fatal(err)
	}
	base, _ := url.Parse("https://nguon.example/feed/")
	loc := hcm
	f.Fuzz(func(t *testing.T, doc []byte) {
		feed, err := gofeed.NewParser().Parse(bytes.NewReader(doc))
		if err != nil {
			return
		}
		for _, item := range feed.Items {
			if item == nil {
				continue
			}
			in := EntryInput("nguon", base, feed, item, loc)
			if !strings.HasPrefix(in.ID, "nguon:") {
				t.Fatalf("id %q does not name its source", in.ID)
			}
			if in.URL != "" && !strings.HasPrefix(in.URL, "http://") && !strings.HasPrefix(in.URL, "https://") {
				t.Fatalf("link %q is not an absolute http(s) URL", in.URL)
			}
			if in.PublishedAt != "" {
				if _, err := time.Parse(time.RFC3339, in.PublishedAt); err != nil {
					t.Fatalf("date %q is not RFC 3339", in.PublishedAt)
				}
			}
			if _, err := n.Normalize(in, time.Date(2024, 3, 28, 0, 0, 0, 0, time.UTC)); err != nil {
				var fe *article.FieldError
				if !errors.As(err, &fe) {
					t.Fatalf("refused without naming a field: %v", err)
				}
			}
		}
	})
}
