package ingest

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mmcdole/gofeed"
	"golang.org/x/net/html"

	"github.com/bantin/bantin/internal/article"
)

// EntryInput maps one entry of an upstream feed to an article input.
// source is the source's name (it prefixes the id, so two sources never
// share one); base is the URL the feed was fetched from, against which
// relative links resolve when the feed names no base of its own; loc is
// site.timezone, for dates written without a zone.
func EntryInput(source string, base *url.URL, feed *gofeed.Feed, item *gofeed.Item, loc *time.Location) article.Input {
	feedBase := base
	if feed != nil && feed.Link != "" {
		if u, err := resolve(base, feed.Link); err == nil {
			feedBase = u
		}
	}
	title := strings.TrimSpace(item.Title)
	in := article.Input{Title: entryTitle(title)}
	if link := entryLink(item); link != "" {
		if u, err := resolve(feedBase, link); err == nil && isWebURL(u) {
			in.URL = u.String()
		}
	}

	// The best content the entry has: content:encoded, Atom content and
	// JSON content_html all arrive as Content; the description is then
	// the summary, else it is the content.
	content, description := strings.TrimSpace(item.Content), strings.TrimSpace(item.Description)
	switch {
	case content != "":
		in.ContentHTML, in.Summary = content, description
	default:
		in.ContentHTML = description
	}
	if in.URL == "" && feedBase != nil {
		// Without a link of its own, the entry's relative links are the
		// feed's: bantin would otherwise resolve them against its own site.
		in.ContentHTML = absolutize(in.ContentHTML, feedBase)
	}

	// An entry with only an updated date is published then at first
	// sight; the poller keeps that first date afterwards.
	date := item.Published
	parsed := item.PublishedParsed
	if strings.TrimSpace(date) == "" {
		date, parsed = item.Updated, item.UpdatedParsed
	}
	in.PublishedAt = entryDate(date, parsed, loc)
	if item.Updated != "" {
		in.UpdatedAt = entryDate(item.Updated, item.UpdatedParsed, loc)
	}

	in.Author = entryAuthors(feed, item)
	for _, c := range item.Categories {
		if c = strings.TrimSpace(c); c != "" && !slices.Contains(in.Categories, c) {
			in.Categories = append(in.Categories, c)
		}
	}
	if img := entryImage(item); img != nil {
		if u, err := resolve(feedBase, img.URL); err == nil && isWebURL(u) {
			img.URL = u.String()
			in.Image = img
		}
	}

	// The id: the source's name and the entry's own id, else its link,
	// else its title and date as given (what identifies it upstream).
	key := strings.TrimSpace(item.GUID)
	if key == "" {
		key = in.URL
	}
	if key == "" {
		key = article.HashID(title, date) // the title as written, as before
	}
	in.ID = source + ":" + key
	return in
}

// absolutize resolves the relative href and src attributes of an HTML
// fragment against base; the rest passes through as written.
func absolutize(fragment string, base *url.URL) string {
	if !strings.Contains(fragment, "href") && !strings.Contains(fragment, "src") {
		return fragment
	}
	var b strings.Builder
	z := html.NewTokenizer(strings.NewReader(fragment))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return b.String()
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			b.Write(z.Raw())
			continue
		}
		tok := z.Token()
		for i, a := range tok.Attr {
			if a.Namespace == "" && (a.Key == "href" || a.Key == "src") {
				if u, err := resolve(base, a.Val); err == nil {
					tok.Attr[i].Val = u.String()
				}
			}
		}
		b.WriteString(tok.String())
	}
}

// isWebURL reports whether u is an absolute http(s) URL with a host.
func isWebURL(u *url.URL) bool {
	return (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// resolve reads ref relative to base (base may be nil).
func resolve(base *url.URL, ref string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(ref))
	if err != nil {
		return nil, err
	}
	if base != nil {
		u = base.ResolveReference(u)
	}
	return u, nil
}

// entryLink is the entry's link to its page.
func entryLink(item *gofeed.Item) string {
	if l := strings.TrimSpace(item.Link); l != "" {
		return l
	}
	for _, l := range item.Links {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// entryAuthors names the entry's authors, else the feed's.
func entryAuthors(feed *gofeed.Feed, item *gofeed.Item) string {
	people := item.Authors
	if len(people) == 0 && item.Author != nil {
		people = []*gofeed.Person{item.Author}
	}
	if len(people) == 0 && item.DublinCoreExt != nil {
		for _, c := range item.DublinCoreExt.Creator {
			people = append(people, &gofeed.Person{Name: c})
		}
	}
	if len(people) == 0 && feed != nil {
		people = feed.Authors
	}
	var names []string
	for _, p := range people {
		if p == nil {
			continue
		}
		name := strings.TrimSpace(p.Name)
		if name == "" {
			name = strings.TrimSpace(p.Email)
		}
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	return strings.Join(names, ", ")
}

// entryImage is the entry's image: media:content or media:thumbnail (they
// carry a caption), the entry's own (JSON image, itunes, what gofeed
// found), else an image enclosure.
func entryImage(item *gofeed.Item) *article.ImageInput {
	media := item.Extensions["media"]
	for _, name := range []string{"content", "thumbnail"} {
		for _, m := range media[name] {
			u := m.Attrs["url"]
			medium, typ := m.Attrs["medium"], m.Attrs["type"]
			if u != "" && (name == "thumbnail" || medium == "image" || strings.HasPrefix(typ, "image/") || (medium == "" && typ == "")) {
				caption := ""
				for _, d := range m.Children["description"] {
					caption = strings.TrimSpace(d.Value)
				}
				// media:content's fileSize, as an enclosure's length.
				return &article.ImageInput{URL: u, Caption: caption, Type: typ, Length: byteLength(m.Attrs["fileSize"])}
			}
		}
	}
	if item.Image != nil && strings.TrimSpace(item.Image.URL) != "" {
		img := &article.ImageInput{URL: item.Image.URL, Caption: strings.TrimSpace(item.Image.Title)}
		// gofeed makes the image of an image enclosure: its length and
		// type come along.
		for _, e := range item.Enclosures {
			if e != nil && e.URL == img.URL {
				img.Type, img.Length = e.Type, byteLength(e.Length)
				break
			}
		}
		return img
	}
	for _, e := range item.Enclosures {
		if e != nil && strings.HasPrefix(e.Type, "image/") && e.URL != "" {
			return &article.ImageInput{URL: e.URL, Type: e.Type, Length: byteLength(e.Length)}
		}
	}
	return nil
}

// markupInTitle finds what only HTML has: an end tag, a line break tag or
// a character reference.
var markupInTitle = regexp.MustCompile(`</[a-zA-Z][a-zA-Z0-9]*\s*>|(?i:<br\s*/?>)|&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z][a-zA-Z0-9]*);`)

// entryTitle is the plain text of an upstream entry's title. gofeed gives
// an Atom type="html" title as HTML, a type="text" one and a JSON Feed
// one as text, and RSS leaves it open (some feeds escape their markup
// twice); the type does not come through. A title with an end tag, a <br>
// or a character reference is HTML, reduced to its text ("<em>Giá</em>
// &lt; 80" is "Giá < 80"); any other is text as written, so "a <b> c" or
// "năm ‹kỷ lục>" keeps every character.
func entryTitle(s string) string {
	if markupInTitle.MatchString(s) {
		return article.HTMLToText(s)
	}
	return s
}

// byteLength reads a length in bytes as a feed gives it; 0 (unknown) for
// anything but a positive number.
func byteLength(s string) int64 {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// zoneAtEnd matches a date's trailing zone: Z, +07:00, -0500, or a name
// such as GMT or ICT.
var zoneAtEnd = regexp.MustCompile(`(?i)(\dZ|[+-]\d{2}:?\d{2}|\b[A-Z]{1,5})\s*$`)

// hasZone reports whether a date as written ends with a zone.
func hasZone(raw string) bool {
	m := zoneAtEnd.FindString(raw)
	if m == "" {
		return false
	}
	m = strings.ToUpper(strings.TrimSpace(m))
	return m != "AM" && m != "PM"
}

// entryDate writes an entry's date as bantin reads it. bantin's own parser
// reads a date without a zone in loc; a form only gofeed knows is taken
// from gofeed, which reads a missing zone as UTC: then the wall clock is
// put back in loc. An unreadable date is no date (the entry is dated when
// first seen).
func entryDate(raw string, parsed *time.Time, loc *time.Location) string {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return ""
	}
	if t, err := ParseDate(raw, loc); err == nil {
		return t.Format(time.RFC3339)
	}
	if parsed == nil {
		return ""
	}
	t := *parsed
	if !hasZone(raw) && t.Location() == time.UTC && loc != nil {
		t = time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), loc)
	}
	// A year RFC 3339 cannot write (gofeed reads some nonsense as year 0)
	// is no date: the entry is dated when first seen.
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return ""
	}
	return t.Format(time.RFC3339)
}
