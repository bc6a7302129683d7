package feed

import (
	"container/list"
	"sync"
)

// DefaultCacheBytes is the memory for rendered documents when none is
// configured (limits.feed_cache).
const DefaultCacheBytes = 64 << 20

// entryOverhead is what one kept document costs beside its two bodies: the
// struct, its three header maps, the URL and validators, the list element
// and the map slot. An estimate on the generous side, so that many small
// documents cannot overrun the limit.
const entryOverhead = 2 << 10

// lru keeps rendered documents up to a number of bytes, both encodings
// counted, and drops the least recently used first. First pages are kept
// apart from archive pages (page 2 on), and archive pages go first: a
// reader crawling the archive costs renders, and never pushes out the
// first pages that every feed reader polls.
type lru struct {
	mu      sync.Mutex
	limit   int64
	bytes   int64
	epoch   uint64    // moves at each clear; see add
	front   list.List // first pages and the OPML, most recent first
	archive list.List // pages 2 on, most recent first
	items   map[key]*list.Element
	observe func(int64) // told the bytes held after each change; may be nil
}

type lruItem struct {
	k    key
	doc  *Rendered
	size int64
}

func newLRU(limit int64, observe func(int64)) *lru {
	if limit <= 0 {
		limit = DefaultCacheBytes
	}
	c := &lru{limit: limit, items: map[key]*list.Element{}, observe: observe}
	c.report()
	return c
}

// size is what a document is counted as: the arrays its bodies hold, not
// only the bytes sent.
func size(doc *Rendered) int64 {
	return int64(cap(doc.Body)+cap(doc.Gzip)+len(doc.Self)) + entryOverhead
}

func (c *lru) list(k key) *list.List {
	if k.page > 1 {
		return &c.archive
	}
	return &c.front
}

// get returns the document kept for k, and marks it used.
func (c *lru) get(k key) (*Rendered, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	c.list(k).MoveToFront(el)
	return el.Value.(*lruItem).doc, true
}

// add keeps doc for k if epoch is still the current one (no clear since
// the render began: a document rendered before a change is never kept
// after it), dropping the least recently used documents to make room. A
// document larger than the whole limit is not kept.
func (c *lru) add(epoch uint64, k key, doc *Rendered) {
	n := size(doc)
	c.mu.Lock()
	defer c.mu.Unlock()
	if epoch != c.epoch || n > c.limit {
		return
	}
	if el, ok := c.items[k]; ok {
		c.remove(el)
	}
	for c.bytes+n > c.limit {
		victim := c.archive.Back()
		if victim == nil {
			victim = c.front.Back()
		}
		c.remove(victim)
	}
	c.items[k] = c.list(k).PushFront(&lruItem{k: k, doc: doc, size: n})
	c.bytes += n
	c.report()
}

func (c *lru) remove(el *list.Element) {
	it := el.Value.(*lruItem)
	c.list(it.k).Remove(el)
	delete(c.items, it.k)
	c.bytes -= it.size
}

// clear drops every document and starts a new epoch, which it returns.
func (c *lru) clear() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.front.Init()
	c.archive.Init()
	c.items = map[key]*list.Element{} // a fresh map: a cleared one keeps its buckets
	c.bytes = 0
	c.epoch++
	c.report()
	return c.epoch
}

// held returns the bytes held and how many documents.
func (c *lru) held() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, len(c.items)
}

func (c *lru) report() {
	if c.observe != nil {
		c.observe(c.bytes)
	}
}
