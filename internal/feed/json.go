package feed

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gorilla/feeds"
)

// gorilla/feeds' JSON structs write "banner_" and "size" where JSON Feed
// 1.1 says "banner_image" and "size_in_bytes", and leave "items" out of an
// empty feed. bantin embeds them and overrides those fields.

type jsonDocument struct {
	feeds.JSONFeed
	Items []*jsonItem `json:"items"`
}

type jsonItem struct {
	feeds.JSONItem
	Attachments []jsonAttachment `json:"attachments,omitempty"`
}

type jsonAttachment struct {
	URL         string `json:"url"`
	MIMEType    string `json:"mime_type"`
	Title       string `json:"title,omitempty"`
	SizeInBytes int64  `json:"size_in_bytes,omitempty"`
}

func (r *Renderer) jsonDate(t time.Time) *time.Time {
	local := t.In(r.opts.Site.Location).Truncate(time.Second)
	return &local
}

func (r *Renderer) renderJSON(d Document) ([]byte, error) {
	site := r.opts.Site
	doc := &jsonDocument{
		JSONFeed: feeds.JSONFeed{
			Version:     "https://jsonfeed.org/version/1.1",
			Title:       r.title(d),
			Language:    site.Language,
			HomePageUrl: site.BaseURL + "/",
			FeedUrl:     r.url(d, d.Page, JSON),
			Description: r.description(d),
		},
		Items: []*jsonItem{},
	}
	if d.Page < d.Pages {
		doc.NextUrl = r.url(d, d.Page+1, JSON)
	}
	for _, hub := range r.opts.Hubs {
		doc.Hubs = append(doc.Hubs, &feeds.JSONHub{Type: "WebSub", Url: hub})
	}
	for _, a := range d.Articles {
		item := &jsonItem{JSONItem: feeds.JSONItem{
			Id:            a.GUID,
			Url:           a.Link(site.BaseURL),
			Title:         a.Title,
			Summary:       a.Summary,
			PublishedDate: r.jsonDate(a.PublishedAt),
			ModifiedDate:  r.jsonDate(a.UpdatedAt),
		}}
		if r.opts.FullContent && a.ContentHTML != "" {
			item.ContentHTML = a.ContentHTML
		} else {
			// Every item needs content: the summary stands in.
			item.ContentText = a.Summary
		}
		if a.Author != "" {
			item.Authors = []*feeds.JSONAuthor{{Name: a.Author}}
		}
		for _, c := range a.Categories {
			item.Tags = append(item.Tags, r.category(c).Title)
		}
		if hasImage(a) {
			item.Image = a.Image.URL
			item.Attachments = []jsonAttachment{{URL: a.Image.URL, MIMEType: imageType(a.Image), Title: a.Image.Caption, SizeInBytes: a.Image.Length}}
		}
		doc.Items = append(doc.Items, item)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // the document is JSON, not a script in a page
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("render JSON Feed %s: %w", Path(d.categorySlug(), d.Page, JSON), err)
	}
	return buf.Bytes(), nil
}
