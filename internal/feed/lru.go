package feed

import (
	"container/list"
	"os"
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

// minMemfileBytes is the smallest body given a memory file (see
// Rendered.BodyFile): below it sendfile saves less than its system calls
// cost.
const minMemfileBytes = 32 << 10

// MaxMemoryFiles is the most memory files the feed cache holds open,
// whatever limits.feed_cache is, so that the descriptors they take are a
// known share of the open files however many documents the cache keeps.
// 256 files hold the identity and gzip copies of at least 128 documents:
// the first pages of every feed of a site with 40 sections, in 3 formats.
const MaxMemoryFiles = 256

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
	files   int         // memory files open, at most MaxMemoryFiles
	// newFile makes a memory file; nil for none (tests). fileFailed is
	// told when it fails; nil for no one.
	newFile    func(name string, b []byte) (*os.File, error)
	fileFailed func(error)
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
	c := &lru{limit: limit, items: map[key]*list.Element{}, observe: observe, newFile: newMemfile}
	c.report()
	return c
}

// size is what a document is counted as: the arrays its bodies hold, not
// only the bytes sent, and the pages of its memory files.
func size(doc *Rendered) int64 {
	n := int64(cap(doc.Body)+cap(doc.Gzip)+len(doc.Self)) + entryOverhead
	if doc.BodyFile != nil {
		n += pages(len(doc.Body))
	}
	if doc.GzipFile != nil {
		n += pages(len(doc.Gzip))
	}
	return n
}

// pages is n bytes rounded up to whole 4 KB pages, as a memory file takes
// them.
func pages(n int) int64 { return (int64(n) + 4095) &^ 4095 }

// fileCount is how many memory files doc holds.
func fileCount(doc *Rendered) int {
	n := 0
	if doc.BodyFile != nil {
		n++
	}
	if doc.GzipFile != nil {
		n++
	}
	return n
}

// closeFiles closes doc's memory files. A response sending one at that
// moment finishes (Control holds the descriptor) or sends the bytes.
func closeFiles(doc *Rendered) {
	if doc.BodyFile != nil {
		doc.BodyFile.Close()
	}
	if doc.GzipFile != nil {
		doc.GzipFile.Close()
	}
}

// withFiles returns a copy of doc with memory files for its large bodies,
// or doc itself when it gets none. A copy, so that the document given to
// add, which its requests hold, is never changed under them and one
// document added under two keys does not share files between them.
func (c *lru) withFiles(doc *Rendered) *Rendered {
	if c.newFile == nil || len(doc.Body) < minMemfileBytes && len(doc.Gzip) < minMemfileBytes {
		return doc
	}
	kept := *doc
	kept.BodyFile, kept.GzipFile = nil, nil
	var err error
	if len(doc.Body) >= minMemfileBytes {
		kept.BodyFile, err = c.newFile("bantin-feed", doc.Body)
	}
	if err == nil && len(doc.Gzip) >= minMemfileBytes {
		kept.GzipFile, err = c.newFile("bantin-feed.gz", doc.Gzip)
	}
	if err != nil {
		closeFiles(&kept)
		if c.fileFailed != nil {
			c.fileFailed(err)
		}
		return doc
	}
	return &kept
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
// document larger than the whole limit is not kept. What is kept is a copy
// with memory files when it is large enough and there is room for them
// (see withFiles); the files are made before the lock is taken, as they
// copy the bodies.
func (c *lru) add(epoch uint64, k key, doc *Rendered) {
	kept := c.withFiles(doc)
	c.mu.Lock()
	defer c.mu.Unlock()
	if kept != doc && (c.files+fileCount(kept) > MaxMemoryFiles || size(kept) > c.limit) {
		closeFiles(kept)
		kept = doc
	}
	doc = kept
	n := size(doc)
	if epoch != c.epoch || n > c.limit {
		closeFiles(doc)
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
	c.files += fileCount(doc)
	c.report()
}

func (c *lru) remove(el *list.Element) {
	it := el.Value.(*lruItem)
	c.list(it.k).Remove(el)
	delete(c.items, it.k)
	c.bytes -= it.size
	c.files -= fileCount(it.doc)
	closeFiles(it.doc)
}

// clear drops every document and starts a new epoch, which it returns.
func (c *lru) clear() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, el := range c.items {
		closeFiles(el.Value.(*lruItem).doc)
	}
	c.files = 0
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

// heldFiles returns how many memory files are open.
func (c *lru) heldFiles() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.files
}

func (c *lru) report() {
	if c.observe != nil {
		c.observe(c.bytes)
	}
}
