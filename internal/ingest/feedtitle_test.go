package ingest

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/bantin/bantin/internal/article"
)

// TestFeedEntryTitles: a title from an upstream feed that is HTML (Atom
// type="html", an RSS title escaped twice) is reduced to its text; a text
// title keeps what looks like a tag ("a <b> c").
func TestFeedEntryTitles(t *testing.T) {
	doc := `<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Nguồn</title><id>urn:x</id><updated>2024-03-28T08:00:00+07:00</updated>
<entry><id>urn:1</id><title type="html">&lt;em&gt;Giá&lt;/em&gt; lúa &amp;lt; 80</title><updated>2024-03-28T08:00:00+07:00</updated><summary>x</summary></entry>
<entry><id>urn:2</id><title type="text">Năm ‹kỷ lục&gt; a &lt;b&gt; c</title><updated>2024-03-28T08:00:00+07:00</updated><summary>x</summary></entry>
</feed>`
	rss := `<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Nguồn</title><link>https://nguon.example/</link><description>x</description>
<item><guid>r1</guid><title>Giá &amp;amp; lúa</title><description>x</description></item>
<item><guid>r2</guid><title>x &lt; y &gt; z</title><description>x</description></item>
</channel></rss>`
	feed, err := gofeed.NewParser().Parse(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	rssFeed, err := gofeed.NewParser().Parse(strings.NewReader(rss))
	if err != nil {
		t.Fatal(err)
	}
	feed.Items = append(feed.Items, rssFeed.Items...)
	n, err := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ParseDate})
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse("https://nguon.example/feed/")
	// An RSS title escaped twice is read once more; one with "<" and ">"
	// but no markup is text.
	want := []string{"Giá lúa < 80", "Năm ‹kỷ lục> a <b> c", "Giá & lúa", "x < y > z"}
	for i, item := range feed.Items {
		a, err := n.Normalize(EntryInput("nguon", base, feed, item, hcm), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if a.Title != want[i] {
			t.Errorf("entry %d: title %q, want %q", i, a.Title, want[i])
		}
	}
}
