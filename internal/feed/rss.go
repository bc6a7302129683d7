package feed

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/feeds"
)

// gorilla/feeds' own Feed → ToRss path writes documents validators reject
// (a name in <author>, one category, no atom:link, enclosures dropped
// without a length). Its RSS structs are sound, so bantin embeds them and
// adds what is missing.

type rssDocument struct {
	XMLName   xml.Name `xml:"rss"`
	Version   string   `xml:"version,attr"`
	ContentNS string   `xml:"xmlns:content,attr"`
	DCNS      string   `xml:"xmlns:dc,attr"`
	AtomNS    string   `xml:"xmlns:atom,attr"`
	Channel   *rssChannel
}

// FeedXml lets gorilla/feeds' writer write the document.
func (d *rssDocument) FeedXml() interface{} { return d }

type rssChannel struct {
	Title       rssText `xml:"title"`
	Description rssText `xml:"description"`
	feeds.RssFeed
	AtomLinks []atomNSLink `xml:"atom:link"`
	Items     []*rssItem   `xml:"item"`
}

// rssText is plain text in an RSS element. RSS leaves open whether such
// text is HTML, so the RSS Best Practices (and the W3C validator) want "&",
// "<" and ">" written as hexadecimal character references, which no reader
// mistakes for markup.
type rssText struct {
	Text string `xml:",innerxml"`
}

func plain(s string) rssText {
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&#x26;")
		case '<':
			b.WriteString("&#x3C;")
		case '>':
			b.WriteString("&#x3E;")
		default:
			b.WriteRune(r)
		}
	}
	return rssText{Text: b.String()}
}

type atomNSLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
}

type rssItem struct {
	Title       rssText `xml:"title"`
	Description rssText `xml:"description"`
	feeds.RssItem
	// RSS <author> wants an email address; a byline is dc:creator.
	Creator    *rssText      `xml:"dc:creator"`
	Categories []rssCategory `xml:"category"`
}

type rssCategory struct {
	Domain string `xml:"domain,attr,omitempty"`
	Name   string `xml:",innerxml"`
}

// rssDate writes RFC 1123 with a numeric zone (+0700, never +07), as RSS
// readers parse it.
func (r *Renderer) rssDate(t time.Time) string {
	return t.In(r.opts.Site.Location).Format(time.RFC1123Z)
}

func (r *Renderer) renderRSS(d Document) ([]byte, error) {
	site := r.opts.Site
	ch := &rssChannel{Title: plain(r.title(d)), Description: plain(r.description(d)), RssFeed: feeds.RssFeed{
		Link:          site.BaseURL + "/",
		Language:      site.Language,
		LastBuildDate: r.rssDate(Updated(d.Articles)),
		Generator:     "bantin",
		Docs:          "https://www.rssboard.org/rss-specification",
	}}
	ch.AtomLinks = append(ch.AtomLinks, atomNSLink{Href: r.url(d, d.Page, RSS), Rel: "self", Type: "application/rss+xml"})
	for _, hub := range r.opts.Hubs {
		ch.AtomLinks = append(ch.AtomLinks, atomNSLink{Href: hub, Rel: "hub"})
	}
	for _, l := range r.paging(d) {
		ch.AtomLinks = append(ch.AtomLinks, atomNSLink{Href: l.href, Rel: l.rel, Type: "application/rss+xml"})
	}
	for _, a := range d.Articles {
		// An item's description is HTML to readers (and validators): the
		// plain-text summary is escaped as HTML first.
		item := &rssItem{Title: plain(a.Title), Description: plain(html.EscapeString(a.Summary)), RssItem: feeds.RssItem{
			Link:    a.Link(site.BaseURL),
			Guid:    &feeds.RssGuid{Id: a.GUID, IsPermaLink: "false"},
			PubDate: r.rssDate(a.PublishedAt),
		}}
		if a.Author != "" {
			creator := plain(a.Author)
			item.Creator = &creator
		}
		if r.opts.FullContent && a.ContentHTML != "" {
			item.Content = &feeds.RssContent{Content: a.ContentHTML}
		}
		for _, c := range a.Categories {
			c = r.category(c)
			item.Categories = append(item.Categories, rssCategory{Domain: site.BaseURL + Path(c.Slug, 1, RSS), Name: plain(c.Title).Text})
		}
		if hasImage(a) {
			// RSS 2.0 requires a length. Import looks it up (a HEAD to
			// the image); when it stays unknown, 0 is what the RSS Best
			// Practices Profile asks for, and the W3C validator accepts.
			item.Enclosure = &feeds.RssEnclosure{Url: a.Image.URL, Length: strconv.FormatInt(a.Image.Length, 10), Type: imageType(a.Image)}
		}
		ch.Items = append(ch.Items, item)
	}
	doc := &rssDocument{
		Version:   "2.0",
		ContentNS: "http://purl.org/rss/1.0/modules/content/",
		DCNS:      "http://purl.org/dc/elements/1.1/",
		AtomNS:    "http://www.w3.org/2005/Atom",
		Channel:   ch,
	}
	var buf bytes.Buffer
	if err := feeds.WriteXML(doc, &buf); err != nil {
		return nil, fmt.Errorf("render RSS %s: %w", Path(d.categorySlug(), d.Page, RSS), err)
	}
	return buf.Bytes(), nil
}
