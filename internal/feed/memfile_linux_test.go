package feed

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// memfds counts this process's open memory files, as /proc shows them.
func memfds(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	n := 0
	for _, e := range entries {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(target, "/memfd:bantin-feed") {
			n++
		}
	}
	return n
}

// largeDoc is a document whose two bodies both get memory files: random
// bytes, which gzip cannot shrink below minMemfileBytes.
func largeDoc(seed uint64) *Rendered {
	body := make([]byte, 40<<10)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range body {
		body[i] = byte(r.Uint32())
	}
	return &Rendered{Body: body, Gzip: bytes.Clone(body), Self: "https://baomau.vn/feeds/rss.xml"}
}

// TestLRUClosesMemoryFiles: pushing documents past limits.feed_cache keeps
// the open memory files to those of the documents held, each holding its
// document's bytes; a clear closes them all; and however large the limit,
// no more than MaxMemoryFiles are open.
func TestLRUClosesMemoryFiles(t *testing.T) {
	base := memfds(t)
	probe := newLRU(1<<30, nil)
	kept := probe.withFiles(largeDoc(0))
	if kept.BodyFile == nil || kept.GzipFile == nil {
		t.Fatal("a 40 KB document got no memory files")
	}
	closeFiles(kept)
	per := size(kept)

	c := newLRU(5*per, nil)
	epoch := c.clear()
	docs := make([]*Rendered, 4)
	for i := range docs {
		docs[i] = largeDoc(uint64(i))
	}
	for i := range 60 {
		c.add(epoch, key{page: i + 2}, docs[i%len(docs)])
		if n := memfds(t) - base; n != c.heldFiles() || n > 10 {
			t.Fatalf("after %d documents: %d memory files open, the cache counts %d, holds %d documents; want 2 per document, 5 at most", i+1, n, c.heldFiles(), len(c.items))
		}
	}
	for i := 55; i < 60; i++ {
		doc, ok := c.get(key{page: i + 2})
		if !ok || doc.BodyFile == nil {
			t.Fatalf("page %d, among the last five, not kept with its files", i+2)
		}
		for _, f := range []struct {
			file *os.File
			want []byte
		}{{doc.BodyFile, doc.Body}, {doc.GzipFile, doc.Gzip}} {
			got, err := io.ReadAll(io.NewSectionReader(f.file, 0, 1<<30))
			if err != nil || !bytes.Equal(got, f.want) {
				t.Errorf("page %d: memory file holds %d bytes (%v), not its document's %d", i+2, len(got), err, len(f.want))
			}
		}
	}
	// A document added after a clear that began before it is not kept,
	// nor are its files.
	c.clear()
	c.add(epoch, key{page: 2}, docs[0])
	if n := memfds(t) - base; n != 0 || c.heldFiles() != 0 {
		t.Errorf("after clear: %d memory files open (cache counts %d); want 0", n, c.heldFiles())
	}

	// A limit with room for far more documents than MaxMemoryFiles allows.
	c = newLRU(1<<30, nil)
	epoch = c.clear()
	for i := range MaxMemoryFiles/2 + 20 {
		c.add(epoch, key{category: "c", page: i + 1}, docs[i%len(docs)])
	}
	if n := memfds(t) - base; n > MaxMemoryFiles || c.heldFiles() != n {
		t.Errorf("%d memory files open (cache counts %d); want at most %d", n, c.heldFiles(), MaxMemoryFiles)
	}
	if _, n := c.held(); n != MaxMemoryFiles/2+20 {
		t.Errorf("%d documents held; want all %d, the last without files", n, MaxMemoryFiles/2+20)
	}
	c.clear()
	if n := memfds(t) - base; n != 0 {
		t.Errorf("after clear: %d memory files open", n)
	}
}
