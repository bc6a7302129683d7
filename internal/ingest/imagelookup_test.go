package ingest

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// imageServer answers HEAD and GET for images of a known size, counting
// the HEADs; /slow.jpg answers after the lookup's timeout, /page.jpg is
// HTML, /missing.jpg a 404.
func imageServer(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var heads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			heads.Add(1)
		}
		switch {
		case strings.HasSuffix(r.URL.Path, "/slow.jpg"):
			time.Sleep(1500 * time.Millisecond)
		case strings.HasSuffix(r.URL.Path, "/page.jpg"):
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Content-Length", "900")
			return
		case strings.HasSuffix(r.URL.Path, "/missing.jpg"):
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "image/webp")
		w.Header().Set("Content-Length", "48213")
		if r.Method == http.MethodGet {
			_, _ = w.Write(make([]byte, 48213))
		}
	}))
	t.Cleanup(srv.Close)
	return srv, &heads
}

// TestImageLookupFillsLengthImageLookup2s: images given without a length
// get the one a HEAD request to the image server answers (and its type
// when none is given), once per URL; a length given is kept; a server
// that answers late, an HTML page or a 404 leave the length unknown
// without failing the import, and a loopback server is not asked at all
// unless private addresses are allowed.
func TestImageLookupFillsLengthImageLookup2s(t *testing.T) {
	srv, heads := imageServer(t)
	// The slow image on a host of its own: one that times out is paused.
	slow, slowHeads := imageServer(t)
	dir := t.TempDir()
	var lines []string
	for i, img := range []string{
		`{"url": "` + srv.URL + `/a.jpg"}`,
		`{"url": "` + srv.URL + `/a.jpg"}`, // the same image: asked once
		`{"url": "` + srv.URL + `/b.jpg", "type": "image/jpeg"}`,
		`{"url": "` + srv.URL + `/c.jpg", "length": 77}`,
		`{"url": "` + slow.URL + `/slow.jpg"}`,
		`{"url": "` + srv.URL + `/page.jpg"}`,
		`{"url": "` + srv.URL + `/missing.jpg"}`,
	} {
		lines = append(lines, fmt.Sprintf(`{"id": "a%d", "title": "Bài %d", "summary": "x", "image": %s}`, i, i, img))
	}
	path := filepath.Join(dir, "batch.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	run := func(allowPrivate bool) map[string]*article.Image {
		st := openStore(t)
		im := newTestImporter(t, st, func() time.Time { return testClock })
		im.images = NewImageLookup(ImageLookupOptions{Timeout: 500 * time.Millisecond, AllowPrivate: allowPrivate})
		start := time.Now()
		sum, err := im.Run(context.Background(), Paths([]string{path}, nil, ""), nil)
		if err != nil || sum.Created != len(lines) {
			t.Fatalf("import: %+v, %v; want %d created", sum, err, len(lines))
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("the import took %v with lookups of at most 500 ms", d)
		}
		list, err := st.Articles(context.Background(), store.ArticleQuery{IncludeScheduled: true})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]*article.Image{}
		for _, a := range list {
			got[a.ID] = a.Image
		}
		return got
	}

	got := run(true)
	for id, want := range map[string]article.Image{
		"a0": {Length: 48213, Type: "image/webp"},
		"a1": {Length: 48213, Type: "image/webp"},
		"a2": {Length: 48213, Type: "image/jpeg"}, // the given type wins
		"a3": {Length: 77},
		"a4": {}, "a5": {}, "a6": {},
	} {
		img := got[id]
		if img == nil || img.Length != want.Length || img.Type != want.Type {
			t.Errorf("%s: image %+v, want length %d and type %q", id, img, want.Length, want.Type)
		}
	}
	// a0/a1 once, b, page, missing; the given length none.
	if n, s := heads.Load(), slowHeads.Load(); n != 4 || s != 1 {
		t.Errorf("%d and %d HEAD requests, want 4 and 1 (one per URL without a length)", n, s)
	}

	heads.Store(0)
	got = run(false)
	if img := got["a0"]; img == nil || img.Length != 0 {
		t.Errorf("a loopback image server was asked though private addresses are not allowed: %+v", img)
	}
	if n := heads.Load(); n != 0 {
		t.Errorf("%d HEAD requests to a loopback address, want none", n)
	}
}

// TestImageLookupPausesSilentHostImageLookup2s: an image server that
// takes connections and never answers costs one timeout, not one per
// article: the lookups waiting behind the first ones find the host
// paused.
func TestImageLookupPausesSilentHostImageLookup2s(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close() // never accepted: connections wait in the backlog
	var list []article.Article
	for i := range 100 {
		list = append(list, article.Article{ID: fmt.Sprint(i), Image: &article.Image{
			URL: fmt.Sprintf("http://%s/anh/%d.jpg", ln.Addr(), i)}})
	}
	l := NewImageLookup(ImageLookupOptions{Timeout: 300 * time.Millisecond, AllowPrivate: true})
	start := time.Now()
	l.Fill(context.Background(), list)
	// One round of 4 timeouts is 300 ms; one per article would be 7.5 s.
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("100 images on a silent server took %v; want about one timeout", d)
	}
	for _, a := range list {
		if a.Image.Length != 0 {
			t.Fatalf("image %s: length %d from a server that never answered", a.ID, a.Image.Length)
		}
	}
}

// TestImageLookupMemoryBoundedImageLookupCache4096: however many hosts an
// import names, the lookup keeps at most imageLookupCacheSize answers and
// paused hosts.
func TestImageLookupMemoryBoundedImageLookupCache4096(t *testing.T) {
	l := NewImageLookup(ImageLookupOptions{})
	for i := range 3 * imageLookupCacheSize {
		l.mu.Lock()
		l.pause(fmt.Sprintf("h%d.example:80", i))
		l.mu.Unlock()
	}
	if n := len(l.paused); n > imageLookupCacheSize {
		t.Errorf("%d hosts paused, want at most %d", n, imageLookupCacheSize)
	}
}
