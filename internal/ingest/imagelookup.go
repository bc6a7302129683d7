package ingest

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/netguard"
)

// RSS requires the length of an enclosure, and a feed reader shows it
// before downloading; most articles give an image's URL without it. An
// ImageLookup asks the image's server with a HEAD request, at import,
// when that is cheap: never on the way of a reader's request, a short
// timeout, a few requests at a time, an answer kept by URL, a host that
// did not answer left alone for a while, and nothing that fails an
// import. What it cannot learn stays unknown (RSS then says length="0",
// as the RSS Best Practices Profile asks; Atom and JSON Feed leave it out).

// Defaults of an ImageLookup.
const (
	imageLookupTimeout     = 2 * time.Second
	imageLookupConcurrency = 4
	imageLookupCacheSize   = 4096
	// imageHostPause is how long a host that timed out or refused the
	// connection is not asked again: an import of many articles from one
	// unreachable server costs one timeout, not one per article.
	imageHostPause = 10 * time.Minute
)

// ImageLookupOptions configures an ImageLookup.
type ImageLookupOptions struct {
	// Timeout bounds one request, redirects included; 2 s when 0.
	Timeout time.Duration
	// Concurrency is the most requests in flight at once, all imports
	// together; 4 when 0.
	Concurrency int
	// AllowPrivate lets requests reach loopback, private and link-local
	// addresses (end-to-end tests only): off, a URL in an
	// article cannot make bantin probe the network it runs in.
	AllowPrivate bool
	// Now is the clock for pausing hosts; time.Now when nil.
	Now func() time.Time
}

// imageInfo is what a HEAD told about one image URL; ok is false when it
// told nothing usable (kept too, so the URL is not asked again).
type imageInfo struct {
	length int64
	typ    string
	ok     bool
}

// ImageLookup learns the length and type of images by URL. It is safe for
// concurrent use; one serves every import of a process.
type ImageLookup struct {
	client *http.Client
	slots  chan struct{}
	now    func() time.Time

	mu     sync.Mutex
	cache  map[string]imageInfo
	order  []string // cache keys, oldest first, for eviction
	paused map[string]time.Time
}

// NewImageLookup builds an ImageLookup from its options.
func NewImageLookup(opts ImageLookupOptions) *ImageLookup {
	if opts.Timeout <= 0 {
		opts.Timeout = imageLookupTimeout
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = imageLookupConcurrency
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	dialer := &net.Dialer{Timeout: opts.Timeout}
	if !opts.AllowPrivate {
		dialer.Control = netguard.Control("image lookup", "the image is listed without a length")
	}
	transport := &http.Transport{
		// No proxy: the address checked is the one dialled.
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
		MaxIdleConnsPerHost:   opts.Concurrency,
		IdleConnTimeout:       30 * time.Second,
	}
	return &ImageLookup{
		client: &http.Client{
			Transport: transport,
			Timeout:   opts.Timeout,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("more than 3 redirects")
				}
				return nil
			},
		},
		slots:  make(chan struct{}, opts.Concurrency),
		now:    opts.Now,
		cache:  map[string]imageInfo{},
		paused: map[string]time.Time{},
	}
}

// Fill sets the length (and the type, when none is given) of the images
// of articles that come without a length, asking several at once. It
// never fails: what it cannot learn stays as it was.
func (l *ImageLookup) Fill(ctx context.Context, articles []article.Article) {
	if l == nil {
		return
	}
	// One request per URL, however many articles share the image.
	byURL := map[string][]*article.Image{}
	for i := range articles {
		img := articles[i].Image
		if img == nil || img.URL == "" || img.Length > 0 {
			continue
		}
		byURL[img.URL] = append(byURL[img.URL], img)
	}
	var wg sync.WaitGroup
	for raw, images := range byURL {
		wg.Add(1)
		go func() {
			defer wg.Done()
			info := l.lookup(ctx, raw)
			if !info.ok {
				return
			}
			for _, img := range images {
				img.Length = info.length
				if img.Type == "" {
					img.Type = info.typ
				}
			}
		}()
	}
	wg.Wait()
}

// lookup answers for one URL from the cache, else with a HEAD request.
func (l *ImageLookup) lookup(ctx context.Context, raw string) imageInfo {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return imageInfo{}
	}
	host := u.Host
	select {
	case l.slots <- struct{}{}:
	case <-ctx.Done():
		return imageInfo{}
	}
	// Checked once a slot is free: the lookups that waited for it behind
	// one that timed out must see the host paused.
	l.mu.Lock()
	info, cached := l.cache[raw]
	until, paused := l.paused[host]
	l.mu.Unlock()
	if cached || paused && l.now().Before(until) {
		<-l.slots
		return info
	}
	info, err = l.head(ctx, raw)
	<-l.slots

	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil && ctx.Err() == nil && unreachable(err) {
		l.pause(host)
		return imageInfo{}
	}
	if err != nil && ctx.Err() != nil {
		return imageInfo{} // the import stopped: nothing learnt about the URL
	}
	if _, ok := l.cache[raw]; !ok {
		if len(l.order) >= imageLookupCacheSize {
			delete(l.cache, l.order[0])
			l.order = l.order[1:]
		}
		l.order = append(l.order, raw)
	}
	l.cache[raw] = info
	return info
}

// pause leaves host alone for imageHostPause. The hosts paused are
// bounded like the cache: past imageLookupCacheSize, those whose pause is
// over go, and if none has, all do (which costs a timeout, not memory).
// l.mu is held.
func (l *ImageLookup) pause(host string) {
	now := l.now()
	if len(l.paused) >= imageLookupCacheSize {
		for h, until := range l.paused {
			if !now.Before(until) {
				delete(l.paused, h)
			}
		}
		if len(l.paused) >= imageLookupCacheSize {
			clear(l.paused)
		}
	}
	l.paused[host] = now.Add(imageHostPause)
}

// head asks for one image's headers. An answer counts when it is a 200
// with a Content-Length and an image type (or none): a 200 page of HTML
// at an image's URL says nothing about the image.
func (l *ImageLookup) head(ctx context.Context, raw string) (imageInfo, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, raw, nil)
	if err != nil {
		return imageInfo{}, nil
	}
	req.Header.Set("User-Agent", "bantin (image size lookup)")
	resp, err := l.client.Do(req)
	if err != nil {
		return imageInfo{}, fmt.Errorf("HEAD %s: %w", raw, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ContentLength <= 0 {
		return imageInfo{}, nil
	}
	typ := ""
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !strings.HasPrefix(mt, "image/") {
			return imageInfo{}, nil
		}
		typ = mt
	}
	return imageInfo{length: resp.ContentLength, typ: typ, ok: true}, nil
}

// unreachable reports an error of the connection (refused, timed out,
// no such host) rather than of one URL: the host is paused.
func unreachable(err error) bool {
	var netErr net.Error
	var opErr *net.OpError
	var dnsErr *net.DNSError
	return errors.As(err, &opErr) || errors.As(err, &dnsErr) || (errors.As(err, &netErr) && netErr.Timeout())
}
