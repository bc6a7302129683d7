package feed

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// ErrNotFound is a feed that does not exist: an unknown category, a page
// past the last.
var ErrNotFound = errors.New("no such feed")

// Source is what the feed service reads from the store.
type Source interface {
	Articles(ctx context.Context, q store.ArticleQuery) ([]article.Article, error)
	CountArticles(ctx context.Context, q store.ArticleQuery) (int, error)
	Categories(ctx context.Context, now time.Time) ([]article.Category, error)
	NextScheduled(ctx context.Context, now time.Time) (time.Time, bool, error)
	Changes(ctx context.Context) <-chan struct{}
}

// Rendered is one feed document ready to send: its bytes, compressed and
// not, with the validators that go with them.
type Rendered struct {
	Body         []byte
	Gzip         []byte
	ETag         string // strong: a hash of Body
	GzipETag     string // strong: a hash of Gzip
	LastModified time.Time
	ContentType  string
	Self         string // absolute URL

	// The response headers, built once: a GET of a cached feed copies a
	// map instead of formatting dates and joining links each time.
	IdentityHeader    http.Header
	GzipHeader        http.Header
	NotModifiedHeader http.Header

	// BodyFile and GzipFile hold Body and Gzip again in sealed memory
	// files, for sendfile, on a document the cache keeps (see
	// lru.withFiles); nil for small documents, off Linux, or when the
	// cache has as many as it may hold. They are closed when the document
	// leaves the cache, possibly while a response is being sent: a reader
	// uses them only through SyscallConn, whose Control keeps the
	// descriptor valid during the call and fails once it is closed, and
	// then sends the bytes instead.
	BodyFile *os.File
	GzipFile *os.File
}

// Service renders feed documents on first request after a change and
// keeps them, up to a number of bytes (limits.feed_cache): a GET of an
// unchanged feed costs no rendering and no query. A change drops them all
// and renders nothing by itself beyond the three site-wide feeds: the cost
// of a change is what readers ask for afterwards, not the number of feeds.
type Service struct {
	// look holds what a reload may change: the renderer (site, hubs,
	// categories, full content) and the entries per page.
	look   atomic.Pointer[look]
	source Source
	now    func() time.Time
	logger *slog.Logger
	// observeRender is told each rendering's time, observeCache each
	// request's cache hit or miss (metrics); nil for none.
	observeRender func(time.Duration)
	observeCache  func(Kind, bool)
	// homeCategories is how many category feeds HomeScopes names.
	homeCategories int
	// life is the context Run was given: renders are detached from the
	// request that started them, but not from the daemon's shutdown.
	life atomic.Pointer[context.Context]

	docs         *lru
	cache        atomic.Pointer[generation]
	invalidateMu sync.Mutex // one Invalidate at a time: epochs and generations in step
	mu           sync.Mutex // guards listeners and lastModified
	listeners    []chan struct{}
	lastModified map[key]lastModified
}

// generation is what holds between two changes: the renders under way and
// what is known of the categories. A change replaces it whole (and clears
// docs), so a render that started before the change is never kept after
// it.
type generation struct {
	epoch   uint64 // of docs, when this generation began
	mu      sync.Mutex
	renders map[key]*flight // under way: later requests for the key wait
	// categories are the stored ones by slug, read once per generation: a
	// category feed looks its own up here, not by reading them all again.
	catsMu sync.Mutex
	cats   map[string]article.Category
	// scopes are the feeds there are, found once per generation: the home
	// page and the hub ask on every request and every change.
	scopesMu sync.Mutex
	scopes   []Scope
	read     atomic.Bool // a document of this generation was asked for
}

func newGeneration(epoch uint64) *generation {
	return &generation{epoch: epoch, renders: map[key]*flight{}}
}

type key struct {
	category string
	page     int
	kind     Kind
}

// flight is one render under way, shared by every request for its key.
type flight struct {
	done chan struct{}
	doc  *Rendered
	err  error
}

// ServiceOptions configures a Service.
type ServiceOptions struct {
	Renderer *Renderer
	Source   Source
	Items    int // entries per page (feeds.items)
	Now      func() time.Time
	Logger   *slog.Logger
	// ObserveRender is told how long each rendering took (a cache miss);
	// nil for none.
	ObserveRender func(time.Duration)
	// ObserveCache is told, for each document asked for, its kind and
	// whether it came from the cache (metrics); nil for none.
	ObserveCache func(kind Kind, hit bool)
	// CacheBytes bounds the memory of rendered documents, both encodings
	// counted (limits.feed_cache); 0 for DefaultCacheBytes.
	CacheBytes int64
	// ObserveCacheBytes is told the bytes the cache holds after each
	// change to it (metrics); nil for none.
	ObserveCacheBytes func(int64)
	// HomeCategories is how many category feeds HomeScopes names
	// (limits.home_categories); 0 for 30.
	HomeCategories int
}

// NewService builds a Service. Call Run to keep it fresh.
func NewService(opts ServiceOptions) *Service {
	s := &Service{source: opts.Source, now: opts.Now, logger: opts.Logger, observeRender: opts.ObserveRender, observeCache: opts.ObserveCache,
		homeCategories: opts.HomeCategories, docs: newLRU(opts.CacheBytes, opts.ObserveCacheBytes)}
	if s.homeCategories <= 0 {
		s.homeCategories = 30
	}
	s.look.Store(newLook(opts.Renderer, opts.Items))
	var warned atomic.Bool
	s.docs.fileFailed = func(err error) {
		if warned.CompareAndSwap(false, true) { // once: the next would say the same
			s.logger.Warn("feeds: a memory file could not be made, documents without one are sent by copying", "err", err)
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.cache.Store(newGeneration(s.docs.clear()))
	s.lastModified = map[key]lastModified{}
	return s
}

// look is a Service's presentation: how documents are written and how many
// entries a page holds.
type look struct {
	renderer *Renderer
	items    int
}

func newLook(r *Renderer, items int) *look {
	if items <= 0 {
		items = 50
	}
	return &look{renderer: r, items: items}
}

func (s *Service) rend() *Renderer { return s.look.Load().renderer }

func (s *Service) perPage() int { return s.look.Load().items }

// Reconfigure puts a new presentation in place (a reloaded config: feed
// settings, categories) and drops every rendered document, so that the
// next request, and WebSub, get the feeds written the new way.
func (s *Service) Reconfigure(r *Renderer, items int) {
	s.look.Store(newLook(r, items))
	s.Invalidate()
}

// Invalidate drops every rendered document and tells the listeners.
func (s *Service) Invalidate() {
	s.invalidateMu.Lock()
	s.cache.Store(newGeneration(s.docs.clear()))
	s.invalidateMu.Unlock()
	s.mu.Lock()
	for _, ch := range s.listeners {
		select {
		case ch <- struct{}{}:
		default: // a signal is pending already
		}
	}
	s.mu.Unlock()
}

// Listen returns a channel that receives a signal, coalesced, whenever the
// feeds may have changed: after a change to the store and when a scheduled
// article comes due. The WebSub hub distributes on it.
func (s *Service) Listen() <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	s.listeners = append(s.listeners, ch)
	s.mu.Unlock()
	return ch
}

// Run keeps the cache fresh until ctx ends: it drops it on every change to
// the store (this process's or another's) and when the next scheduled
// article comes due.
func (s *Service) Run(ctx context.Context) {
	s.life.Store(&ctx)
	changes := s.source.Changes(ctx)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				return
			}
			s.refresh(ctx)
		case <-timer.C:
			s.refresh(ctx)
		}
		// Sleep until the next scheduled article, or an hour at most so a
		// clock step is noticed.
		wait := time.Hour
		now := s.now()
		if next, ok, err := s.source.NextScheduled(ctx, now); err != nil {
			if ctx.Err() != nil {
				return
			}
			s.logger.Warn("feeds: next scheduled article", "err", err)
			wait = time.Second
		} else if ok && next.Sub(now) < wait {
			wait = next.Sub(now)
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(max(wait, time.Millisecond))
	}
}

// refresh drops the cache and, when the feeds are being read, renders the
// site-wide ones at once, so that readers and WebSub find them ready. A
// bulk import with nobody reading renders nothing between its batches.
func (s *Service) refresh(ctx context.Context) {
	read := s.cache.Load().read.Load()
	s.Invalidate()
	if read {
		s.warm(ctx)
	}
}

// warm renders the site-wide feeds, one per core.
func (s *Service) warm(ctx context.Context) {
	var wg sync.WaitGroup
	for _, kind := range Kinds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.get(ctx, "", 1, kind); err != nil && ctx.Err() == nil {
				s.logger.Warn("feeds: render after a change", "kind", kind.Name(), "err", err)
			}
		}()
	}
	wg.Wait()
}

// Get returns a feed page: category "" is the site-wide feed, page 1 the
// newest entries.
func (s *Service) Get(ctx context.Context, category string, page int, kind Kind) (*Rendered, error) {
	s.markRead()
	return s.get(ctx, category, page, kind)
}

// markRead notes that a document of this generation was asked for.
func (s *Service) markRead() {
	// Loaded first: a store on every request would move the cache line
	// between the cores serving them.
	if gen := s.cache.Load(); !gen.read.Load() {
		gen.read.Store(true)
	}
}

// Cached returns the feed page the cache holds, as Get would, and false
// when it holds none: it never renders, so a server can answer its hits
// on a short path and leave the rest (renders, errors) to Get.
func (s *Service) Cached(category string, page int, kind Kind) (*Rendered, bool) {
	s.markRead()
	k := key{category, page, kind}
	doc, ok := s.docs.get(k)
	if ok {
		s.observe(k, true)
	}
	return doc, ok
}

// get is Get without marking the feeds as read (for warming them).
func (s *Service) get(ctx context.Context, category string, page int, kind Kind) (*Rendered, error) {
	k := key{category, page, kind}
	return s.cached(k, func() (*Rendered, error) {
		// Other requests wait on this render: one client going away must
		// not fail them all. The daemon stopping does (SIGTERM).
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if life := s.life.Load(); life != nil {
			if err := (*life).Err(); err != nil {
				return nil, fmt.Errorf("render %s: %w", Path(k.category, k.page, k.kind), err)
			}
			defer context.AfterFunc(*life, cancel)()
		}
		return s.render(ctx, k)
	})
}

// keepLastModifiedMoving makes Last-Modified advance whenever a document's
// bytes change, even when the change (a deletion) leaves its newest article
// older than before: a client that sends only If-Modified-Since must not
// get a 304 for a feed that changed.
func (s *Service) keepLastModifiedMoving(k key, doc *Rendered) *Rendered {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev, ok := s.lastModified[k]
	switch {
	case ok && prev.etag == doc.ETag && !doc.LastModified.Equal(prev.at):
		// The same bytes keep the date they were first sent with.
		doc = s.rend().withLastModified(doc, prev.at)
	case ok && prev.etag != doc.ETag && !doc.LastModified.After(prev.at):
		doc = s.rend().withLastModified(doc, s.now().Truncate(time.Second))
		if !doc.LastModified.After(prev.at) {
			doc = s.rend().withLastModified(doc, prev.at.Add(time.Second))
		}
	}
	s.lastModified[k] = lastModified{etag: doc.ETag, at: doc.LastModified}
	return doc
}

type lastModified struct {
	etag string
	at   time.Time
}

// cached returns the document of k, rendering it with render once however
// many requests ask at the same moment, and keeping it while room allows.
func (s *Service) cached(k key, render func() (*Rendered, error)) (*Rendered, error) {
	if doc, ok := s.docs.get(k); ok {
		s.observe(k, true)
		return doc, nil
	}
	gen := s.cache.Load()
	gen.mu.Lock()
	f, waiting := gen.renders[k]
	if !waiting {
		// A render that ended since the look above has kept its document
		// before leaving renders.
		if doc, ok := s.docs.get(k); ok {
			gen.mu.Unlock()
			s.observe(k, true)
			return doc, nil
		}
		f = &flight{done: make(chan struct{})}
		gen.renders[k] = f
	}
	gen.mu.Unlock()
	if waiting {
		<-f.done
		if f.err == nil {
			s.observe(k, true)
		}
		return f.doc, f.err
	}
	// Whatever happens to this render (a panic the server recovers from
	// included), the requests waiting on it are let go, with an error
	// unless it ends.
	f.err = fmt.Errorf("render %s: did not finish", Path(k.category, k.page, k.kind))
	defer func() {
		gen.mu.Lock()
		delete(gen.renders, k)
		gen.mu.Unlock()
		close(f.done)
	}()
	start := time.Now()
	f.doc, f.err = render()
	if f.err == nil {
		f.doc = s.keepLastModifiedMoving(k, f.doc)
		s.logger.Debug("feed rendered", "url", f.doc.Self, "duration", time.Since(start))
		// A failed render is not kept: a store error is tried again by the
		// next request, and a feed that does not exist takes no memory
		// however many different wrong URLs are asked for.
		s.docs.add(gen.epoch, k, f.doc)
		s.observe(k, false)
	}
	return f.doc, f.err
}

func (s *Service) observe(k key, hit bool) {
	if s.observeCache != nil {
		s.observeCache(k.kind, hit)
	}
}

func (s *Service) render(ctx context.Context, k key) (*Rendered, error) {
	if s.observeRender != nil {
		defer func(start time.Time) { s.observeRender(time.Since(start)) }(time.Now())
	}
	now := s.now()
	q := store.ArticleQuery{Category: k.category, Now: now}
	doc := Document{Kind: k.kind, Page: k.page}
	if k.category != "" {
		cats, err := s.categories(ctx)
		if err != nil {
			return nil, err
		}
		c, ok := cats[k.category]
		if !ok {
			return nil, fmt.Errorf("category %q: %w", k.category, ErrNotFound)
		}
		c = s.rend().category(c)
		doc.Category = &c
	}
	total, err := s.source.CountArticles(ctx, q)
	if err != nil {
		return nil, err
	}
	doc.Pages = max(1, (total+s.perPage()-1)/s.perPage())
	if k.page < 1 || k.page > doc.Pages {
		return nil, fmt.Errorf("page %d of %d: %w", k.page, doc.Pages, ErrNotFound)
	}
	q.Limit, q.Offset = s.perPage(), (k.page-1)*s.perPage()
	if doc.Articles, err = s.source.Articles(ctx, q); err != nil {
		return nil, err
	}
	body, err := s.rend().Render(doc)
	if err != nil {
		return nil, err
	}
	return s.rend().newRendered(body, k.kind, Updated(doc.Articles), s.rend().url(doc, k.page, k.kind))
}

// gzipWriters are reused: a compressor at BestCompression allocates
// about a megabyte, which a crawl of the archive would pay per page.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestCompression) // a valid level: no error
	return zw
}}

func (r *Renderer) newRendered(body []byte, kind Kind, updated time.Time, self string) (*Rendered, error) {
	var gz bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&gz)
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("gzip %s: %w", self, err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip %s: %w", self, err)
	}
	// A buffer grown by doubling can hold twice its bytes: the cache counts
	// the memory held, so what it keeps is cut to size.
	body, zipped := fit(body), fit(gz.Bytes())
	doc := &Rendered{
		Body: body, Gzip: zipped,
		ETag: etag(body), GzipETag: etag(zipped),
		ContentType: kind.ContentType(), Self: self,
	}
	return r.withLastModified(doc, updated), nil
}

// fit returns b in an array of its own length when its array is more than
// an eighth larger.
func fit(b []byte) []byte {
	if cap(b)-len(b) > len(b)/8 {
		return bytes.Clone(b)
	}
	return b
}

// withLastModified returns a copy of doc dated lastModified, with the
// response headers built for that date.
func (r *Renderer) withLastModified(d *Rendered, lastModified time.Time) *Rendered {
	doc := *d
	doc.LastModified = lastModified.UTC()
	self := doc.Self
	links := []string{"<" + self + `>; rel="self"`}
	for _, hub := range r.opts.Hubs {
		links = append(links, "<"+hub+`>; rel="hub"`)
	}
	common := http.Header{
		"Content-Type":  {doc.ContentType},
		"Cache-Control": {"public, no-cache"}, // keep a copy, ask each time: a 304 costs little
		"Vary":          {"Accept-Encoding"},
		"Last-Modified": {doc.LastModified.Format(http.TimeFormat)},
		"Link":          {strings.Join(links, ", ")},
	}
	doc.IdentityHeader = common.Clone()
	doc.IdentityHeader["Etag"] = []string{doc.ETag}
	doc.IdentityHeader["Content-Length"] = []string{strconv.Itoa(len(doc.Body))}
	doc.GzipHeader = common.Clone()
	doc.GzipHeader["Etag"] = []string{doc.GzipETag}
	doc.GzipHeader["Content-Encoding"] = []string{"gzip"}
	doc.GzipHeader["Content-Length"] = []string{strconv.Itoa(len(doc.Gzip))}
	// A 304 carries what RFC 9110 §15.4.5 asks for and no more (Date is
	// added by net/http, ETag per request): fewer bytes on the most
	// frequent answer of a busy feed.
	doc.NotModifiedHeader = http.Header{"Cache-Control": common["Cache-Control"], "Vary": common["Vary"]}
	return &doc
}

func etag(b []byte) string {
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// Scope is one feed: the site-wide one or a category's, with its pages.
type Scope struct {
	Category *article.Category
	Pages    int
	Articles int // published now
}

// Scopes lists every feed there is now, site-wide first.
func (s *Service) Scopes(ctx context.Context) ([]Scope, error) {
	gen := s.cache.Load()
	gen.scopesMu.Lock()
	defer gen.scopesMu.Unlock()
	if gen.scopes == nil {
		scopes, err := s.findScopes(ctx)
		if err != nil {
			return nil, err
		}
		gen.scopes = scopes
	}
	return slices.Clone(gen.scopes), nil
}

// HomeScopes lists the feeds the home page links: the site-wide one, then
// the busiest categories (the most articles; a tie goes to the slug first
// in order), at most limits.home_categories of them. A category made up by
// one article's long list of categories holds one article, so it comes
// after every real section. The OPML still lists them all.
func (s *Service) HomeScopes(ctx context.Context) ([]Scope, error) {
	scopes, err := s.Scopes(ctx)
	if err != nil {
		return nil, err
	}
	cats := scopes[1:]
	slices.SortStableFunc(cats, func(a, b Scope) int { return b.Articles - a.Articles })
	cats = cats[:min(len(cats), s.homeCategories)]
	slices.SortFunc(cats, func(a, b Scope) int { return strings.Compare(a.Category.Slug, b.Category.Slug) })
	return scopes[:1+len(cats)], nil
}

// categories returns the stored categories by slug, read once per
// generation.
func (s *Service) categories(ctx context.Context) (map[string]article.Category, error) {
	gen := s.cache.Load()
	gen.catsMu.Lock()
	defer gen.catsMu.Unlock()
	if gen.cats == nil {
		list, err := s.source.Categories(ctx, s.now())
		if err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
		cats := make(map[string]article.Category, len(list))
		for _, c := range list {
			cats[c.Slug] = c
		}
		gen.cats = cats
	}
	return gen.cats, nil
}

func (s *Service) findScopes(ctx context.Context) ([]Scope, error) {
	now := s.now()
	cats, err := s.categories(ctx)
	if err != nil {
		return nil, err
	}
	scopes := []Scope{{}}
	for _, slug := range slices.Sorted(maps.Keys(cats)) {
		if slug == "page" { // taken by paging; see article.CategorySlug
			continue
		}
		c := s.rend().category(cats[slug])
		scopes = append(scopes, Scope{Category: &c})
	}
	for i := range scopes {
		// One count per feed: a shutdown must not wait for thousands.
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("count articles: %w", err)
		}
		q := store.ArticleQuery{Now: now}
		if c := scopes[i].Category; c != nil {
			q.Category = c.Slug
		}
		n, err := s.source.CountArticles(ctx, q)
		if err != nil {
			return nil, err
		}
		scopes[i].Articles = n
		scopes[i].Pages = max(1, (n+s.perPage()-1)/s.perPage())
	}
	return scopes, nil
}
