package article

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/microcosm-cc/bluemonday"
	"github.com/yuin/goldmark"
	gmhtml "github.com/yuin/goldmark/renderer/html"
	"golang.org/x/text/unicode/norm"
)

// rulesVersion is part of every input hash: when the normalization rules
// change, bump it so that re-ingesting the same input applies the new rules.
const rulesVersion = "4"

// Limits on field sizes. They keep one hostile article from bloating every
// feed that carries it.
const (
	maxTitleRunes   = 500
	maxIDBytes      = 500
	maxSummaryRunes = 2000
	summaryFromBody = 300
	maxContentBytes = 2 << 20
	// DefaultMaxCategories is limits.categories' default.
	DefaultMaxCategories = 50
)

// Normalizer turns Inputs into Articles. It is safe for concurrent use.
type Normalizer struct {
	base      *url.URL
	location  *time.Location
	parseTime func(s string, loc *time.Location) (time.Time, error)
	policy    *bluemonday.Policy
	// safe are the forms policy leaves as they are (see safeForms).
	safe     *safeForms
	markdown goldmark.Markdown
	// maxCategories is the most distinct categories one article may have
	// (limits.categories): each is a feed and a line of the category list.
	maxCategories int
	// known are the admin's categories (the config's), by their slug and
	// by the slug of their title: see CategoryOf.
	known map[string]Category
	// keyBuffers recycles the buffers Key hashes.
	keyBuffers sync.Pool
}

// NormalizerOptions configures a Normalizer.
type NormalizerOptions struct {
	// BaseURL resolves relative links of articles that have no URL, and
	// relative article URLs themselves (site.base_url).
	BaseURL string
	// Location reads dates that carry no zone (site.timezone).
	Location *time.Location
	// ParseTime reads published_at and updated_at. Required.
	ParseTime func(s string, loc *time.Location) (time.Time, error)
	// MaxCategories is the most distinct categories (after slugging) an
	// article may have (limits.categories); DefaultMaxCategories when 0.
	MaxCategories int
	// Categories are the admin's (the config's categories): an article's
	// category named by one's slug or title is that one, under its slug
	// and title.
	Categories []Category
}

// NewNormalizer builds a Normalizer from its options.
func NewNormalizer(opts NormalizerOptions) (*Normalizer, error) {
	base, err := url.Parse(opts.BaseURL)
	if err != nil || !base.IsAbs() {
		return nil, fmt.Errorf("normalizer: base URL %q is not absolute", opts.BaseURL)
	}
	if opts.Location == nil {
		return nil, fmt.Errorf("normalizer: no location")
	}
	if opts.ParseTime == nil {
		return nil, fmt.Errorf("normalizer: no time parser")
	}
	if opts.MaxCategories < 0 {
		return nil, fmt.Errorf("normalizer: negative category limit %d", opts.MaxCategories)
	}
	if opts.MaxCategories == 0 {
		opts.MaxCategories = DefaultMaxCategories
	}

	// UGC is bluemonday's policy for user content: no script, style, event
	// handlers or javascript: URLs. News articles add figures.
	policy := bluemonday.UGCPolicy()
	policy.AllowElements("figure", "figcaption")
	policy.AllowURLSchemes("http", "https", "mailto")
	policy.AllowRelativeURLs(true)
	// UGC allows only a few characters in alt and title; a Vietnamese
	// caption has colons, quotes and question marks. Values are escaped.
	policy.AllowAttrs("alt", "title").OnElements("img")
	// The publisher's own links are not user comments: no rel=nofollow.
	policy.RequireNoFollowOnLinks(false)

	n := &Normalizer{
		keyBuffers: sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }},
		base:       base,
		location:   opts.Location,
		parseTime:  opts.ParseTime,
		policy:     policy,
		safe:       probeSafeForms(policy),
		markdown:   goldmark.New(goldmark.WithRendererOptions(gmhtml.WithUnsafe())),

		maxCategories: opts.MaxCategories,
	}
	n.known = n.knownCategories(opts.Categories)
	return n, nil
}

// Key computes, without any costly work, the id an input will be stored
// under and a hash of everything the stored article is made from. The same
// input gives the same hash, so an unchanged article can be skipped before
// it is sanitized.
func (n *Normalizer) Key(in Input) (id, hash string) {
	id = cleanText(in.ID)
	if id == "" {
		id = defaultID(in)
	}
	// Fields go length-prefixed into one pooled buffer, hashed once: no
	// allocation per field on the path every imported article takes.
	bufp := n.keyBuffers.Get().(*[]byte)
	buf := (*bufp)[:0]
	field := func(s string) {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	field(n.Fingerprint())
	field(id)
	// The id as given too: one with a control character in it is refused
	// by Normalize, and must not pass as the clean id's unchanged input.
	field(in.ID)
	field(in.Title)
	field(in.URL)
	field(in.PublishedAt)
	field(in.UpdatedAt)
	field(in.Author)
	buf = binary.AppendUvarint(buf, uint64(len(in.Categories)))
	for _, c := range in.Categories {
		field(c)
	}
	field(in.Summary)
	field(in.ContentHTML)
	field(in.ContentMarkdown)
	if in.Image != nil {
		field(in.Image.URL)
		field(in.Image.Caption)
		field(in.Image.Type)
		buf = binary.AppendVarint(buf, in.Image.Length)
	}
	sum := sha256.Sum256(buf)
	*bufp = buf
	n.keyBuffers.Put(bufp)
	return id, hex.EncodeToString(sum[:])
}

// Fingerprint names the rules and settings that shape a normalized
// article; any hash of input must include it, so that a change of rules or
// of site.base_url or site.timezone makes old input count as new.
func (n *Normalizer) Fingerprint() string {
	return rulesVersion + "\x00" + n.base.String() + "\x00" + n.location.String()
}

// HashID is the id of an article known by its title and its date as
// given, and nothing else.
func HashID(title, date string) string {
	sum := sha256.Sum256([]byte(strings.TrimSpace(title) + "\x00" + strings.TrimSpace(date)))
	return "sha256-" + hex.EncodeToString(sum[:16])
}

// defaultID is the id of an input that names none: its URL, else a hash of
// its title and date as given (or of its content when it has no date).
func defaultID(in Input) string {
	if u := strings.TrimSpace(in.URL); u != "" {
		return cleanText(u)
	}
	if d := strings.TrimSpace(in.PublishedAt); d != "" {
		return HashID(in.Title, d)
	}
	return HashID(in.Title, in.ContentHTML+"\x00"+in.ContentMarkdown+"\x00"+in.Summary)
}

// The dates an article may carry. Before 1970 is a placeholder (Go's zero
// time 0001-01-01, a CMS's empty date), not news; a date in the future
// schedules the article, and one more than 5 years away is a typo (2204
// for 2024) that would hide the article for good.
var minDate = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// checkDate refuses a date before 1970 or more than 5 years after now.
func checkDate(t, now time.Time) error {
	if t.Before(minDate) {
		return fmt.Errorf("%s is before 1970-01-01; give the article's real date, or leave it out to use the time it is stored", t.Format(time.RFC3339))
	}
	if t.After(now.AddDate(5, 0, 0)) {
		return fmt.Errorf("%s is more than 5 years ahead; a scheduled article is published within 5 years", t.Format(time.RFC3339))
	}
	return nil
}

// Normalize validates in and returns the article it describes. now is the
// time the article is being stored. The GUID and slug it sets are proposals:
// the store keeps them at first store and ignores them on updates.
func (n *Normalizer) Normalize(in Input, now time.Time) (Article, error) {
	id, hash := n.Key(in)
	return n.NormalizeKeyed(in, id, hash, now)
}

// NormalizeKeyed is Normalize for an input whose Key the caller has
// already taken (an import looks every input's key up in the store
// first), so the input is not hashed a second time.
func (n *Normalizer) NormalizeKeyed(in Input, id, hash string, now time.Time) (Article, error) {
	a := Article{ID: id, InputHash: hash}
	if len(id) > maxIDBytes {
		return Article{}, &FieldError{Field: "id", Reason: fmt.Sprintf("longer than %d bytes", maxIDBytes)}
	}
	if r, ok := controlIn(in.ID); ok {
		return Article{}, &FieldError{Field: "id", Reason: fmt.Sprintf("holds the control character %U; an id is one line of visible text", r)}
	}

	// A title is plain text, kept as given (rules version 4): "a <b> c"
	// or "năm ‹kỷ lục>" is shown as written, escaped by every output.
	// Sources whose titles are HTML reduce them to text before this.
	a.Title = TitleText(in.Title)
	if a.Title == "" {
		return Article{}, &FieldError{Field: "title", Reason: "missing; every article needs a title"}
	}
	if utf8.RuneCountInString(a.Title) > maxTitleRunes {
		return Article{}, &FieldError{Field: "title", Reason: fmt.Sprintf("longer than %d characters", maxTitleRunes)}
	}
	if strings.TrimSpace(in.ContentHTML) == "" && strings.TrimSpace(in.ContentMarkdown) == "" && strings.TrimSpace(in.Summary) == "" {
		return Article{}, &FieldError{Field: "content_html", Reason: "missing; give content_html, content_markdown or summary"}
	}
	if len(in.ContentHTML) > maxContentBytes || len(in.ContentMarkdown) > maxContentBytes {
		return Article{}, &FieldError{Field: "content_html", Reason: fmt.Sprintf("larger than %d bytes", maxContentBytes)}
	}

	base := n.base
	if raw := strings.TrimSpace(in.URL); raw != "" {
		u, err := n.absoluteURL(base, raw)
		if err != nil {
			return Article{}, &FieldError{Field: "url", Reason: err.Error()}
		}
		a.URL = u.String()
		base = u
	}

	// A date not given stays zero: the store fills it at first store and
	// keeps the stored one on updates.
	var err error
	if s := strings.TrimSpace(in.PublishedAt); s != "" {
		if a.PublishedAt, err = n.parseTime(s, n.location); err != nil {
			return Article{}, &FieldError{Field: "published_at", Reason: err.Error()}
		}
		a.PublishedAt = a.PublishedAt.Truncate(time.Microsecond)
		if err := checkDate(a.PublishedAt, now); err != nil {
			return Article{}, &FieldError{Field: "published_at", Reason: err.Error()}
		}
	}
	if s := strings.TrimSpace(in.UpdatedAt); s != "" {
		if a.UpdatedAt, err = n.parseTime(s, n.location); err != nil {
			return Article{}, &FieldError{Field: "updated_at", Reason: err.Error()}
		}
		a.UpdatedAt = a.UpdatedAt.Truncate(time.Microsecond)
		if err := checkDate(a.UpdatedAt, now); err != nil {
			return Article{}, &FieldError{Field: "updated_at", Reason: err.Error()}
		}
	}

	a.GUID = n.guid(id, now)
	a.Slug = Slugify(a.Title)
	if a.Slug == "" {
		a.Slug = "article-" + hash[:8]
	}

	a.Author = n.plainText(in.Author)
	seen := map[string]bool{}
	for _, c := range in.Categories {
		title, slug := n.category(c)
		if slug == "" || seen[slug] {
			continue
		}
		seen[slug] = true
		a.Categories = append(a.Categories, Category{Slug: slug, Title: title})
	}
	if len(a.Categories) > n.maxCategories {
		return Article{}, &FieldError{Field: "categories", Reason: fmt.Sprintf(
			"%d distinct categories; at most %d (limits.categories)", len(a.Categories), n.maxCategories)}
	}

	switch {
	case strings.TrimSpace(in.ContentHTML) != "":
		a.ContentHTML = n.sanitizeHTML(base, in.ContentHTML)
	case strings.TrimSpace(in.ContentMarkdown) != "":
		var buf bytes.Buffer
		if err := n.markdown.Convert([]byte(cleanText(in.ContentMarkdown)), &buf); err != nil {
			return Article{}, &FieldError{Field: "content_markdown", Reason: err.Error()}
		}
		a.ContentHTML = n.sanitizeHTML(base, buf.String())
	}

	a.Summary = n.plainText(in.Summary)
	if a.Summary == "" {
		// Each block of the body a sentence of its own (rules version 4).
		a.Summary = truncateWords(RemoveXMLInvalid(BodySummary(a.ContentHTML)), summaryFromBody)
	} else if utf8.RuneCountInString(a.Summary) > maxSummaryRunes {
		a.Summary = truncateWords(a.Summary, maxSummaryRunes)
	}

	if img := in.Image; img != nil {
		image := Image{Caption: oneLine(n.plainText(img.Caption)), Type: oneLine(cleanText(img.Type)), Length: img.Length}
		if raw := strings.TrimSpace(img.URL); raw != "" {
			u, err := n.absoluteURL(base, raw)
			if err != nil {
				return Article{}, &FieldError{Field: "image.url", Reason: err.Error()}
			}
			image.URL = u.String()
		}
		if image.Length < 0 {
			return Article{}, &FieldError{Field: "image.length", Reason: "negative"}
		}
		if image.URL != "" || image.Caption != "" {
			a.Image = &image
		}
	}
	return a, nil
}

// category reads one category name as Normalize does: its title, as text
// like a title (markup some CMSs put in it is dropped, rules version 2),
// and its slug ("" when it has none).
func (n *Normalizer) category(name string) (title, slug string) {
	title = oneLine(n.plainText(name))
	slug = CategorySlug(title)
	if c, ok := n.known[slug]; ok {
		return c.Title, c.Slug
	}
	return title, slug
}

// MaxCategories is the most distinct categories an article may have
// (limits.categories).
func (n *Normalizer) MaxCategories() int { return n.maxCategories }

// FirstCategories keeps the first names of categories up to the limit
// (limits.categories), counted by slug as Normalize counts them, leaving
// room for extra (a category every article of the import gets; "" for
// none). It returns categories itself when nothing is dropped, and how
// many distinct categories it dropped.
func (n *Normalizer) FirstCategories(categories []string, extra string) (kept []string, dropped int) {
	seen := map[string]bool{}
	if _, slug := n.category(extra); slug != "" {
		seen[slug] = true
	}
	for i, c := range categories {
		_, slug := n.category(c)
		if slug == "" || seen[slug] {
			continue
		}
		if len(seen) >= n.maxCategories {
			if kept == nil {
				kept = categories[:i:i]
			}
			dropped++
		}
		seen[slug] = true
		if len(seen) > n.maxCategories {
			continue
		}
		if kept != nil {
			kept = append(kept, c)
		}
	}
	if kept == nil {
		return categories, 0
	}
	return kept, dropped
}

// controlIn returns the first character of s, past its leading and
// trailing white space, that would break a line of a listing or turn its
// text around: C0 and C1 controls (tab, CR and LF included), DEL, and the
// bidirectional formatting characters such as U+202E.
func controlIn(s string) (rune, bool) {
	for _, r := range strings.TrimSpace(s) {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return r, true
		}
	}
	return 0, false
}

// CategorySlug is the URL slug of a category title. "page" is taken by
// feed paging (/feeds/page/2/rss.xml), so a category of that name gets
// "page-category" instead.
func CategorySlug(title string) string {
	slug := Slugify(title)
	if slug == "page" {
		return "page-category"
	}
	return slug
}

// guid is a tag URI (RFC 4151) naming the article for good: the site's
// host and the day it was first stored, so it never collides with another
// site's and never changes when the article's URL does.
func (n *Normalizer) guid(id string, now time.Time) string {
	// A tag URI's specific part may hold "/" and ":" as they are.
	specific := strings.ReplaceAll(url.PathEscape(id), "%2F", "/")
	return "tag:" + n.base.Hostname() + "," + now.In(n.location).Format("2006-01-02") + ":" + specific
}

// absoluteURL resolves raw against base and accepts only http and https.
func (n *Normalizer) absoluteURL(base *url.URL, raw string) (*url.URL, error) {
	u, err := url.Parse(cleanText(raw))
	if err != nil {
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	u = base.ResolveReference(u)
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("scheme %q is not http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("no host in %q", raw)
	}
	return u, nil
}

// plainText reduces possibly-HTML text to plain text on one logical block.
func (n *Normalizer) plainText(s string) string {
	if s == "" {
		return ""
	}
	// Entities such as &#x1; are decoded here, after the input was cleaned:
	// clean the result again.
	return RemoveXMLInvalid(HTMLToText(cleanText(s)))
}

// cleanText makes s valid UTF-8, removes what XML 1.0 forbids and returns
// it in NFC, trimmed. One pass over the text decides what, if anything,
// needs the slower treatment.
func cleanText(s string) string {
	xmlOK, nfcStable := scanText(s)
	if !xmlOK {
		s = RemoveXMLInvalid(s)
		_, nfcStable = scanText(s)
	}
	s = strings.TrimSpace(s)
	if nfcStable || norm.NFC.IsNormalString(s) {
		return s
	}
	return norm.NFC.String(s)
}

// scanText reports whether s is valid UTF-8 free of characters XML 1.0
// forbids, and whether every code point in it is one that is NFC whatever
// surrounds it (see isNFCStable). Most bytes of Vietnamese text are ASCII,
// which the loop passes at a byte a step.
func scanText(s string) (xmlOK, nfcStable bool) {
	nfcStable = true
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 && c != '\t' && c != '\n' && c != '\r' {
				return false, false
			}
			i++
			continue
		}
		// Vietnamese letters are two bytes (U+0080-U+02FF: lead C2-CB)
		// or three (U+1E00-U+1EFF: E1 B8-BB): valid and NFC-stable as
		// soon as their continuation bytes are, with no decoding.
		if c >= 0xC2 && c <= 0xCB && i+1 < len(s) && s[i+1]&0xC0 == 0x80 {
			i += 2
			continue
		}
		if c == 0xE1 && i+2 < len(s) && s[i+1] >= 0xB8 && s[i+1] <= 0xBB && s[i+2]&0xC0 == 0x80 {
			i += 3
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF {
			return false, false
		}
		if nfcStable && !isNFCStable(r) {
			nfcStable = false
		}
		i += size
	}
	return true, nfcStable
}

// isNFCStable reports code points that are NFC on their own and never
// combine with what precedes them (NFC_QC=Yes, canonical class 0): Latin
// letters with their precomposed Vietnamese forms and common punctuation.
// TestNFCStableRanges checks every one of them against x/text/unicode/norm.
func isNFCStable(r rune) bool {
	return r < 0x300 || r >= 0x1E00 && r <= 0x1EFF || r >= 0x2010 && r <= 0x2027
}

// RemoveXMLInvalid returns s as valid UTF-8 without the characters that
// XML 1.0 forbids: C0 controls other than tab, LF and CR, U+FFFE and
// U+FFFF. A feed that carries one of them is not well-formed.
func RemoveXMLInvalid(s string) string {
	if ok, _ := scanText(s); ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == utf8.RuneError && size == 1:
			// invalid byte: dropped
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r':
		case r == 0xFFFE || r == 0xFFFF:
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// oneLine collapses every run of white space, line breaks included, to one
// space: a title or name is a single line in every format.
func oneLine(s string) string { return collapseSpace(s) }

func collapseSpace(s string) string {
	if isCollapsed(s) {
		return s
	}
	return strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " ")
}

// isCollapsed reports text that collapseSpace would leave as it is: no
// white space at the ends, no run of it, none but plain spaces.
func isCollapsed(s string) bool {
	prevSpace := true
	for _, r := range s {
		space := unicode.IsSpace(r)
		if space && (r != ' ' || prevSpace) {
			return false
		}
		prevSpace = space
	}
	return !prevSpace || s == ""
}

// TruncateWords cuts s to at most max runes at a word boundary, marking the
// cut with an ellipsis.
func TruncateWords(s string, max int) string { return truncateWords(s, max) }

// truncateWords cuts s to at most max runes at a word boundary, marking the
// cut with an ellipsis.
func truncateWords(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)
	cut := max
	for i := max; i > max/2; i-- {
		if unicode.IsSpace(runes[i]) {
			cut = i
			break
		}
	}
	return strings.TrimRightFunc(string(runes[:cut]), func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r)
	}) + "…"
}
