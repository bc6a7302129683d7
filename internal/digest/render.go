package digest

import (
	"bytes"
	"fmt"
	"net/url"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/vanng822/go-premailer/premailer"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/locale"
)

// Emails renders an email's text and HTML parts (templates.Set).
type Emails interface {
	RenderEmail(name string, data any) (text, html string, err error)
}

// List is what an issue says of its newsletter.
type List struct {
	ID, Title string
}

// Issue is what one issue holds, the same for every subscriber.
type Issue struct {
	List       List
	Number     int
	Date       time.Time // the run, in the list's zone
	Articles   []article.Article
	Site       string // site.title
	Sender     string // the sender's identity for the footer
	BaseURL    string // site.base_url, without a trailing slash
	Lang       string // vi or en
	Location   *time.Location
	Subject    *texttemplate.Template // the list's subject template
	TemplateID string                 // the template set in templates/email ("digest")
}

// Copy is one subscriber's email of an issue.
type Copy struct {
	Subject    string
	Text, HTML string
	// Headers are the list headers (RFC 2369, 2919, 8058).
	Headers map[string]string
}

// Recipient is who a copy is for, with their own links.
type Recipient struct {
	Email, Name                    string
	UnsubscribeURL, PreferencesURL string
}

type articleView struct {
	Title, Link, Date, Author, Summary, Image, ImageAlt string
	// Excerpt is the opening of the article's text, shown when the issue
	// holds few articles: a short issue reads better with more of each,
	// and a lone image with a few lines of text is what spam filters
	// look for (SpamAssassin's HTML_IMAGE_ONLY_*).
	Excerpt string
}

// An issue of at most shortIssue articles shows an excerpt of each, of
// at most excerptRunes.
const (
	shortIssue   = 3
	excerptRunes = 1000
)

// excerpt is the opening of a's text after its summary.
func excerpt(a article.Article) string {
	text := article.HTMLToText(a.ContentHTML)
	text = strings.TrimSpace(strings.TrimPrefix(text, strings.TrimSuffix(a.Summary, "…")))
	if text == "" {
		return ""
	}
	return article.TruncateWords(text, excerptRunes)
}

// ArchiveURL is where an issue is read in a browser (the "view in browser"
// link), without personal links.
func (is Issue) ArchiveURL() string {
	return fmt.Sprintf("%s/newsletters/%s/%d", is.BaseURL, url.PathEscape(is.List.ID), is.Number)
}

// inlineCSS moves the rules of <style> blocks onto the elements they
// select: many mail clients drop <style>. The built-in templates write
// their styles inline and skip this; an admin's template may not.
func inlineCSS(html string) (string, error) {
	if !strings.Contains(strings.ToLower(html), "<style") {
		return html, nil
	}
	p, err := premailer.NewPremailerFromString(html, premailer.NewOptions())
	if err != nil {
		return "", err
	}
	return p.Transform()
}

// SubscribeURL is the list's sign-up page, shown in the archive copy
// where a subscriber's copy has their own links.
func (is Issue) SubscribeURL() string {
	return is.BaseURL + "/subscribe?list=" + url.QueryEscape(is.List.ID)
}

// SubjectLine renders the list's subject template: {{.List.Title}},
// {{.Date}}, {{.Count}} and {{(index .Articles 0).Title}} are there.
func (is Issue) SubjectLine() (string, error) {
	var b bytes.Buffer
	data := map[string]any{"List": is.List, "Date": locale.LongDate(is.Date.In(is.Location), is.Lang),
		"Count": len(is.Articles), "Articles": is.Articles, "Number": is.Number}
	if err := is.Subject.Execute(&b, data); err != nil {
		return "", fmt.Errorf("subject of %s: %w", is.List.ID, err)
	}
	return b.String(), nil
}

// Render makes one subscriber's copy; with a zero Recipient, the copy the
// archive shows, without personal links.
func (is Issue) Render(emails Emails, to Recipient) (Copy, error) {
	subject, err := is.SubjectLine()
	if err != nil {
		return Copy{}, err
	}
	var views []articleView
	for _, a := range is.Articles {
		v := articleView{Title: a.Title, Link: a.Link(is.BaseURL), Date: locale.LongDate(a.PublishedAt.In(is.Location), is.Lang),
			Author: a.Author, Summary: a.Summary}
		if len(is.Articles) <= shortIssue {
			v.Excerpt = excerpt(a)
		}
		if a.Image != nil && a.Image.URL != "" {
			v.Image, v.ImageAlt = a.Image.URL, a.Image.Caption
			if v.ImageAlt == "" {
				v.ImageAlt = a.Title
			}
		}
		views = append(views, v)
	}
	name := is.TemplateID
	if name == "" {
		name = "digest"
	}
	text, html, err := emails.RenderEmail(name, map[string]any{
		"Lang": is.Lang, "List": is.List, "Date": locale.LongDate(is.Date.In(is.Location), is.Lang), "Subject": subject,
		"Articles": views, "Name": to.Name, "Email": to.Email, "Site": is.Site, "Sender": is.Sender,
		"ArchiveURL": is.ArchiveURL(), "SubscribeURL": is.SubscribeURL(), "UnsubscribeURL": to.UnsubscribeURL, "PreferencesURL": to.PreferencesURL,
	})
	if err != nil {
		return Copy{}, err
	}
	if html, err = inlineCSS(html); err != nil {
		return Copy{}, fmt.Errorf("inline the CSS of %s.html: %w", name, err)
	}
	host := is.BaseURL
	if u, err := url.Parse(is.BaseURL); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	return Copy{
		Subject: subject, Text: text, HTML: html,
		Headers: map[string]string{
			"List-Id":               fmt.Sprintf("%s <%s.%s>", is.List.Title, is.List.ID, host),
			"List-Unsubscribe":      "<" + to.UnsubscribeURL + ">",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
	}, nil
}
