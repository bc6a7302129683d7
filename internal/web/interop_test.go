package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// TestAutodiscoveryTypesLiteral checks the raw bytes of the home and article
// pages: feed finders that match bytes, not a parsed DOM, look for
// type="application/rss+xml", never the "&#43;" html/template writes.
func TestAutodiscoveryTypesLiteral(t *testing.T) {
	f := newFeedFixture(t, 10)
	f.post(t, `{"id":"a","title":"Tin một","summary":"x","published_at":"2024-03-28T08:00:00+07:00","categories":["Thời sự"]}`)
	waitUntil(t, 5e9, "the article in the feed", func() bool {
		_, b := f.get(t, "GET", "/feeds/rss.xml", nil)
		return strings.Contains(string(b), "Tin một")
	})
	for _, path := range []string{"/", "/articles/tin-mot"} {
		resp, b := f.get(t, "GET", path, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
		body := string(b)
		for _, bad := range []string{"&#43;xml", "&#43;json"} {
			if strings.Contains(body, bad) {
				t.Errorf("GET %s writes a feed type with %s", path, bad)
			}
		}
		for _, want := range []string{
			`<link rel="alternate" type="application/rss+xml" title="Báo Mẫu (RSS)" href="https://baomau.vn/feeds/rss.xml">`,
			`<link rel="alternate" type="application/atom+xml" title="Báo Mẫu (Atom)" href="https://baomau.vn/feeds/atom.xml">`,
			`<link rel="alternate" type="application/feed+json" title="Báo Mẫu (JSON Feed)" href="https://baomau.vn/feeds/feed.json">`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("GET %s lacks %s", path, want)
			}
		}
	}
}
