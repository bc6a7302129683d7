package feed

import (
	"fmt"
	"strings"
	"testing"
)

func testDoc(n int) *Rendered {
	return &Rendered{Body: []byte(strings.Repeat("x", n)), Gzip: []byte(strings.Repeat("z", n/4)), Self: "https://baomau.vn/feeds/rss.xml"}
}

// TestLRUStaysUnderLimitsFeedCache: however many documents are added, the
// bytes held (both encodings) never pass limits.feed_cache; the least
// recently used go first, archive pages before first pages.
func TestLRUStaysUnderLimitsFeedCache(t *testing.T) {
	doc := testDoc(10_000)
	per := size(doc)
	limit := 5 * per
	var seen []int64
	c := newLRU(limit, func(b int64) { seen = append(seen, b) })
	epoch := c.clear()
	for i := range 100 {
		c.add(epoch, key{page: i + 2}, doc)
	}
	for _, b := range seen {
		if b > limit {
			t.Fatalf("held %d bytes; limit %d", b, limit)
		}
	}
	if b, n := c.held(); n != 5 || b != limit {
		t.Errorf("held %d documents, %d bytes; want 5, %d", n, b, limit)
	}
	// The five kept are the last five added.
	for i := 95; i < 100; i++ {
		if _, ok := c.get(key{page: i + 2}); !ok {
			t.Errorf("page %d, among the last added, was dropped", i+2)
		}
	}

	// Least recently used goes first: pages 97..101 kept, 97 read again,
	// so adding one drops 98.
	c.get(key{page: 97})
	c.add(epoch, key{page: 500}, doc)
	if _, ok := c.get(key{page: 98}); ok {
		t.Error("page 98, the least recently used, was kept")
	}
	if _, ok := c.get(key{page: 97}); !ok {
		t.Error("page 97, read just before, was dropped")
	}

	// First pages stay while archive pages can make room, even older ones.
	c.clear()
	epoch = c.clear()
	c.add(epoch, key{category: "a", page: 1}, doc)
	c.add(epoch, key{category: "b", page: 1}, doc)
	for i := range 50 {
		c.add(epoch, key{page: i + 2}, doc)
	}
	for _, cat := range []string{"a", "b"} {
		if _, ok := c.get(key{category: cat, page: 1}); !ok {
			t.Errorf("first page of %s dropped for archive pages", cat)
		}
	}
	// With only first pages left, the least recently used of them goes.
	for i := range 10 {
		c.add(epoch, key{category: fmt.Sprint("c", i), page: 1}, doc)
	}
	if b, n := c.held(); n != 5 || b > limit {
		t.Errorf("held %d documents, %d bytes; want 5, at most %d", n, b, limit)
	}
	if _, ok := c.get(key{category: "a", page: 1}); ok {
		t.Error("the oldest first page kept over newer ones")
	}
}

// TestLRUKeepsNothingStale: a document rendered before a clear (a change)
// is not kept after it, and one larger than the limit is not kept at all.
func TestLRUKeepsNothingStale(t *testing.T) {
	doc := testDoc(1000)
	c := newLRU(10*size(doc), nil)
	before := c.clear()
	c.clear()
	c.add(before, key{page: 1}, doc)
	if _, ok := c.get(key{page: 1}); ok {
		t.Error("a document of the previous epoch was kept")
	}
	now := c.clear()
	c.add(now, key{page: 1}, testDoc(100_000))
	if b, n := c.held(); n != 0 || b != 0 {
		t.Errorf("a document over the limit was kept: %d documents, %d bytes", n, b)
	}
}
