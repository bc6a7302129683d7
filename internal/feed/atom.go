package feed

import (
	"bytes"
	"fmt"
	"strconv"
	"time"

	"github.com/gorilla/feeds"
)

// gorilla/feeds' Feed → ToAtom path builds entry ids from the updated date
// (an edit on another day becomes a new entry) and has one link, one
// category and no published date. bantin embeds its Atom structs and adds
// what RFC 4287 readers expect.

type atomDocument struct {
	feeds.AtomFeed
	Lang      string           `xml:"xml:lang,attr,omitempty"`
	Generator *atomGenerator   `xml:"generator"`
	Links     []feeds.AtomLink `xml:"link"`
	Entries   []*atomEntry     `xml:"entry"`
}

// FeedXml lets gorilla/feeds' writer write the document.
func (d *atomDocument) FeedXml() interface{} { return d }

type atomGenerator struct {
	URI  string `xml:"uri,attr,omitempty"`
	Name string `xml:",chardata"`
}

type atomEntry struct {
	feeds.AtomEntry
	Categories []atomCategory `xml:"category"`
}

type atomCategory struct {
	Term   string `xml:"term,attr"`
	Scheme string `xml:"scheme,attr,omitempty"`
	Label  string `xml:"label,attr,omitempty"`
}

func (r *Renderer) atomDate(t time.Time) string {
	return t.In(r.opts.Site.Location).Format(time.RFC3339)
}

func (r *Renderer) renderAtom(d Document) ([]byte, error) {
	site := r.opts.Site
	self := r.url(d, d.Page, Atom)
	doc := &atomDocument{
		AtomFeed: feeds.AtomFeed{
			Xmlns:    "http://www.w3.org/2005/Atom",
			Title:    r.title(d),
			Id:       r.url(d, 1, Atom),
			Updated:  r.atomDate(Updated(d.Articles)),
			Subtitle: r.description(d),
			// A feed-level author covers entries without a byline, as
			// RFC 4287 requires.
			Author: &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{Name: site.Title, Uri: site.BaseURL + "/"}},
		},
		Lang:      site.Language,
		Generator: &atomGenerator{Name: "bantin"},
	}
	doc.Links = append(doc.Links,
		feeds.AtomLink{Href: site.BaseURL + "/", Rel: "alternate", Type: "text/html"},
		feeds.AtomLink{Href: self, Rel: "self", Type: "application/atom+xml"})
	for _, hub := range r.opts.Hubs {
		doc.Links = append(doc.Links, feeds.AtomLink{Href: hub, Rel: "hub"})
	}
	for _, l := range r.paging(d) {
		doc.Links = append(doc.Links, feeds.AtomLink{Href: l.href, Rel: l.rel, Type: "application/atom+xml"})
	}
	for _, a := range d.Articles {
		e := &atomEntry{AtomEntry: feeds.AtomEntry{
			Title:     a.Title,
			Id:        a.GUID,
			Updated:   r.atomDate(a.UpdatedAt),
			Published: r.atomDate(a.PublishedAt),
			Links:     []feeds.AtomLink{{Href: a.Link(site.BaseURL), Rel: "alternate", Type: "text/html"}},
		}}
		if a.Summary != "" {
			e.Summary = &feeds.AtomSummary{Content: a.Summary, Type: "text"}
		}
		if r.opts.FullContent && a.ContentHTML != "" {
			e.Content = &feeds.AtomContent{Content: a.ContentHTML, Type: "html"}
		}
		if a.Author != "" {
			e.Author = &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{Name: a.Author}}
		}
		for _, c := range a.Categories {
			c = r.category(c) // the label is the title; the term stays the slug
			e.Categories = append(e.Categories, atomCategory{Term: c.Slug, Scheme: site.BaseURL + "/feeds/", Label: c.Title})
		}
		if hasImage(a) {
			link := feeds.AtomLink{Href: a.Image.URL, Rel: "enclosure", Type: imageType(a.Image)}
			if a.Image.Length > 0 {
				link.Length = strconv.FormatInt(a.Image.Length, 10)
			}
			e.Links = append(e.Links, link)
		}
		doc.Entries = append(doc.Entries, e)
	}
	var buf bytes.Buffer
	if err := feeds.WriteXML(doc, &buf); err != nil {
		return nil, fmt.Errorf("render Atom %s: %w", Path(d.categorySlug(), d.Page, Atom), err)
	}
	return buf.Bytes(), nil
}
