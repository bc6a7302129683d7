package feed

import (
	"bytes"
	"context"
	"encoding/xml"
	"fmt"
	"time"

	"github.com/bantin/bantin/internal/store"
)

type opmlDocument struct {
	XMLName xml.Name    `xml:"opml"`
	Version string      `xml:"version,attr"`
	Head    opmlHead    `xml:"head"`
	Body    []opmlEntry `xml:"body>outline"`
}

type opmlHead struct {
	Title       string `xml:"title"`
	DateCreated string `xml:"dateCreated,omitempty"`
	OwnerName   string `xml:"ownerName,omitempty"`
	Docs        string `xml:"docs"`
}

type opmlEntry struct {
	Text        string `xml:"text,attr"`
	Title       string `xml:"title,attr"`
	Type        string `xml:"type,attr"`
	Version     string `xml:"version,attr,omitempty"`
	XMLURL      string `xml:"xmlUrl,attr"`
	HTMLURL     string `xml:"htmlUrl,attr"`
	Language    string `xml:"language,attr,omitempty"`
	Description string `xml:"description,attr,omitempty"`
}

// RenderOPML lists every feed as an OPML 2.0 subscription list. Each feed
// is named once, as RSS: a reader importing the list subscribes to each
// feed once, not three times in three formats (the Atom and JSON Feed
// documents are linked from every page's autodiscovery links).
func (r *Renderer) RenderOPML(scopes []Scope, updated time.Time) ([]byte, error) {
	site := r.opts.Site
	doc := opmlDocument{Version: "2.0", Head: opmlHead{
		Title:       site.Title,
		DateCreated: updated.In(site.Location).Format(time.RFC1123Z),
		OwnerName:   site.Title,
		Docs:        "http://opml.org/spec2.opml",
	}}
	for _, sc := range scopes {
		d := Document{Kind: RSS, Category: sc.Category}
		doc.Body = append(doc.Body, opmlEntry{
			Text: r.title(d), Title: r.title(d), Type: "rss", Version: "RSS2",
			XMLURL: r.url(d, 1, RSS), HTMLURL: site.BaseURL + "/", Language: site.Language,
			Description: r.description(d),
		})
	}
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	enc := xml.NewEncoder(&buf)
	enc.Indent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render OPML: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// OPML returns the subscription list of every feed, cached like a feed.
func (s *Service) OPML(ctx context.Context) (*Rendered, error) {
	return s.cached(key{kind: opmlKind}, func() (*Rendered, error) {
		scopes, err := s.Scopes(ctx)
		if err != nil {
			return nil, err
		}
		latest, err := s.source.Articles(ctx, store.ArticleQuery{Now: s.now(), Limit: 1})
		if err != nil {
			return nil, err
		}
		body, err := s.rend().RenderOPML(scopes, Updated(latest))
		if err != nil {
			return nil, err
		}
		doc, err := s.rend().newRendered(body, opmlKind, Updated(latest), s.rend().opts.Site.BaseURL+"/feeds.opml")
		return doc, err
	})
}
