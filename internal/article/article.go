// Package article holds the publisher's central type, the Article, and the
// rules that turn untrusted input into one: validation, sanitizing, slugs and
// identity.
package article

import (
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Input is an article as it arrives from a CMS, a file or an upstream feed,
// before any normalization. Its JSON form is the contract of SPEC §5.
type Input struct {
	ID              string      `json:"id,omitempty" yaml:"id"`
	Title           string      `json:"title" yaml:"title"`
	URL             string      `json:"url,omitempty" yaml:"url"`
	PublishedAt     string      `json:"published_at,omitempty" yaml:"published_at"`
	UpdatedAt       string      `json:"updated_at,omitempty" yaml:"updated_at"`
	Author          string      `json:"author,omitempty" yaml:"author"`
	Categories      []string    `json:"categories,omitempty" yaml:"categories"`
	Summary         string      `json:"summary,omitempty" yaml:"summary"`
	ContentHTML     string      `json:"content_html,omitempty" yaml:"content_html"`
	ContentMarkdown string      `json:"content_markdown,omitempty" yaml:"content_markdown"`
	Image           *ImageInput `json:"image,omitempty" yaml:"image"`
}

// ImageInput is the article's lead image as given. A caption without a URL
// is allowed: a printed page names its photo but the photo is not in the text.
type ImageInput struct {
	URL     string `json:"url,omitempty" yaml:"url"`
	Caption string `json:"caption,omitempty" yaml:"caption"`
	Type    string `json:"type,omitempty" yaml:"type"`
	Length  int64  `json:"length,omitempty" yaml:"length"`
}

// Article is a normalized, stored article. Every text field is NFC, free of
// characters XML 1.0 forbids, and every HTML field is sanitized.
type Article struct {
	ID          string
	GUID        string // fixed at first store; never changes
	Slug        string // fixed at first store; unique
	Title       string
	URL         string // may be empty: the article page is then its link
	Author      string
	Categories  []Category
	Summary     string // plain text
	ContentHTML string // sanitized HTML
	Image       *Image
	PublishedAt time.Time
	UpdatedAt   time.Time
	// StoredAt is when the article was first stored. An article becomes
	// visible at the later of PublishedAt and StoredAt.
	StoredAt time.Time
	// InputHash identifies the input the article was made from, so that the
	// same input again is recognized before any costly work.
	InputHash string
	// SourceHash identifies the exact bytes the input was read from, when
	// known: a cheaper, stricter test than InputHash for re-imported files.
	SourceHash string
}

// Image is a normalized lead image.
type Image struct {
	URL     string
	Caption string
	Type    string
	Length  int64
}

// Category is a section of the site: a human title and the ASCII slug used
// in URLs such as /feeds/{slug}/rss.xml.
type Category struct {
	Slug  string
	Title string
}

// Link is where the article is read: its own URL, else its page on the
// site at baseURL (no trailing slash).
func (a Article) Link(baseURL string) string {
	if a.URL != "" {
		return a.URL
	}
	return baseURL + "/articles/" + url.PathEscape(a.Slug)
}

// ScheduledAt reports whether the article is still waiting for its
// publication time at now.
func (a Article) ScheduledAt(now time.Time) bool { return a.PublishedAt.After(now) }

// ErrInvalid marks input that cannot become an article.
var ErrInvalid = errors.New("invalid article")

// FieldError says which field of an input is wrong and why.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("%s: %s", e.Field, e.Reason) }

// Unwrap makes errors.Is(err, ErrInvalid) true for every FieldError.
func (e *FieldError) Unwrap() error { return ErrInvalid }
