// Package feed writes the stored articles as RSS 2.0, Atom 1.0 and JSON
// Feed 1.1 documents, site-wide and per category, in pages, and serves them
// from memory: each document is rendered once per change and sent many
// times.
package feed

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/article"
)

// Kind is a feed format.
type Kind int

// The feed formats, by the file name they are served under.
const (
	RSS  Kind = iota // rss.xml
	Atom             // atom.xml
	JSON             // feed.json

	opmlKind // feeds.opml: cached like a feed, not one of Kinds
)

// Kinds lists every format in the order pages and OPML name them.
var Kinds = []Kind{RSS, Atom, JSON}

// Label is the kind's short name for metrics: rss, atom, json, opml.
func (k Kind) Label() string {
	switch k {
	case Atom:
		return "atom"
	case JSON:
		return "json"
	case opmlKind:
		return "opml"
	}
	return "rss"
}

// File is the file name of a kind of feed.
func (k Kind) File() string {
	switch k {
	case Atom:
		return "atom.xml"
	case JSON:
		return "feed.json"
	}
	return "rss.xml"
}

// ContentType is the media type a kind of feed is served with.
func (k Kind) ContentType() string {
	switch k {
	case Atom:
		return "application/atom+xml; charset=utf-8"
	case JSON:
		return "application/feed+json; charset=utf-8"
	case opmlKind:
		return "text/x-opml; charset=utf-8"
	}
	return "application/rss+xml; charset=utf-8"
}

// Name is how a person calls the format.
func (k Kind) Name() string {
	switch k {
	case Atom:
		return "Atom"
	case JSON:
		return "JSON Feed"
	}
	return "RSS"
}

// KindOf returns the kind served under a file name.
func KindOf(file string) (Kind, bool) {
	for _, k := range Kinds {
		if k.File() == file {
			return k, true
		}
	}
	return 0, false
}

// Site is what feeds say about the publication.
type Site struct {
	Title       string
	Description string
	BaseURL     string // absolute, without a trailing slash
	Language    string
	Location    *time.Location
}

// Options configures a Renderer.
type Options struct {
	Site Site
	// FullContent puts the article HTML in every entry, else the summary.
	FullContent bool
	// Hubs are WebSub hubs announced in every feed.
	Hubs []string
	// Categories are the admin's titles and descriptions of categories, by
	// slug (the config's categories); others keep the title articles gave.
	Categories map[string]CategoryInfo
}

// CategoryInfo is what the config says of a category.
type CategoryInfo struct {
	Title, Description string
}

// category applies the config's title to a stored category: the admin's
// word wins over the title an article gave, in a feed's title and in each
// entry's categories alike.
func (r *Renderer) category(c article.Category) article.Category {
	if info, ok := r.opts.Categories[c.Slug]; ok && info.Title != "" {
		c.Title = info.Title
	}
	return c
}

// Renderer writes feed documents. It holds no state beyond its options and
// is safe for concurrent use.
type Renderer struct {
	opts Options
	host string
}

// NewRenderer builds a Renderer.
func NewRenderer(opts Options) *Renderer {
	opts.Site.BaseURL = strings.TrimRight(opts.Site.BaseURL, "/")
	host := opts.Site.BaseURL
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	if i := strings.IndexAny(host, ":/"); i >= 0 {
		host = host[:i]
	}
	return &Renderer{opts: opts, host: host}
}

// Document is one page of one feed: what a renderer turns into bytes.
type Document struct {
	Kind     Kind
	Category *article.Category // nil for the site-wide feed
	Page     int               // 1-based
	Pages    int               // at least 1
	Articles []article.Article // newest first
}

// Path is the URL path of a feed page: /feeds/rss.xml,
// /feeds/{category}/atom.xml, /feeds/page/2/feed.json.
func Path(category string, page int, kind Kind) string {
	var b strings.Builder
	b.WriteString("/feeds/")
	if category != "" {
		b.WriteString(category)
		b.WriteByte('/')
	}
	if page > 1 {
		b.WriteString("page/")
		b.WriteString(strconv.Itoa(page))
		b.WriteByte('/')
	}
	b.WriteString(kind.File())
	return b.String()
}

func (d Document) categorySlug() string {
	if d.Category == nil {
		return ""
	}
	return d.Category.Slug
}

// url is the absolute URL of another page of the same feed.
func (r *Renderer) url(d Document, page int, kind Kind) string {
	return r.opts.Site.BaseURL + Path(d.categorySlug(), page, kind)
}

// title is the feed's title: the site's, and the category's after it.
func (r *Renderer) title(d Document) string {
	if d.Category == nil {
		return r.opts.Site.Title
	}
	return r.opts.Site.Title + " — " + d.Category.Title
}

func (r *Renderer) description(d Document) string {
	if d.Category != nil {
		if info := r.opts.Categories[d.Category.Slug]; info.Description != "" {
			return info.Description
		}
	}
	if r.opts.Site.Description != "" {
		return r.opts.Site.Description
	}
	return r.title(d)
}

// Updated is the latest change among a document's articles: what
// Last-Modified and the feed's own updated date say. A feed with no
// articles is dated 2000-01-01, so that it renders the same bytes every
// time and validators find the date plausible.
func Updated(articles []article.Article) time.Time {
	var latest time.Time
	for _, a := range articles {
		for _, t := range []time.Time{a.UpdatedAt, a.PublishedAt, a.StoredAt} {
			if t.After(latest) {
				latest = t
			}
		}
	}
	if latest.IsZero() {
		return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	return latest.Truncate(time.Second)
}

// pagingLink is one RFC 5005 link of a paged feed.
type pagingLink struct {
	rel, href string
}

// paging returns the first/previous/next/last links of d (RFC 5005 §3),
// none for a feed of one page.
func (r *Renderer) paging(d Document) []pagingLink {
	if d.Pages <= 1 {
		return nil
	}
	links := []pagingLink{{"first", r.url(d, 1, d.Kind)}}
	if d.Page > 1 {
		links = append(links, pagingLink{"previous", r.url(d, d.Page-1, d.Kind)})
	}
	if d.Page < d.Pages {
		links = append(links, pagingLink{"next", r.url(d, d.Page+1, d.Kind)})
	}
	return append(links, pagingLink{"last", r.url(d, d.Pages, d.Kind)})
}

// Render writes d in its format.
func (r *Renderer) Render(d Document) ([]byte, error) {
	if d.Page < 1 || d.Pages < 1 || d.Page > d.Pages {
		return nil, fmt.Errorf("render %s: page %d of %d", Path(d.categorySlug(), d.Page, d.Kind), d.Page, d.Pages)
	}
	switch d.Kind {
	case Atom:
		return r.renderAtom(d)
	case JSON:
		return r.renderJSON(d)
	}
	return r.renderRSS(d)
}

// imageType is the media type of an image: as given, else guessed from
// the file name, else JPEG, the most common type on news sites.
func imageType(img *article.Image) string {
	if img.Type != "" {
		return img.Type
	}
	path := strings.ToLower(img.URL)
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	switch {
	case strings.HasSuffix(path, ".png"):
		return "image/png"
	case strings.HasSuffix(path, ".gif"):
		return "image/gif"
	case strings.HasSuffix(path, ".webp"):
		return "image/webp"
	case strings.HasSuffix(path, ".avif"):
		return "image/avif"
	case strings.HasSuffix(path, ".svg"):
		return "image/svg+xml"
	}
	return "image/jpeg"
}

// hasImage reports an image that can be linked: a caption alone (from a
// printed page) is no enclosure.
func hasImage(a article.Article) bool { return a.Image != nil && a.Image.URL != "" }
