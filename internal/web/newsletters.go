package web

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/feeds"
	"github.com/microcosm-cc/bluemonday"

	"github.com/bantin/bantin/internal/digest"
	"github.com/bantin/bantin/internal/locale"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/subscriber"
)

// Archive is what the newsletter archive pages and the issues API read of
// the store.
type Archive interface {
	Issues(ctx context.Context, list string) ([]store.Issue, error)
	Issue(ctx context.Context, list string, number int) (store.Issue, error)
	DeliveryCounts(ctx context.Context, issueID int64) (map[store.DeliveryStatus]int, error)
}

// Newsletters makes a newsletter's due issue on an admin's request.
type Newsletters interface {
	SendNow(ctx context.Context, list string) (digest.Made, error)
}

// archiveFeedEntries bounds the archive's Atom feed: each entry carries a
// whole issue, and a daily list makes hundreds a year.
const archiveFeedEntries = 20

// The Content-Security-Policy of an issue page. The stored HTML is an
// email: inline styles and remote images (http ones too, as on the rest of
// the site: an article's photo may be on a plain-http server), never a
// script, a form or a frame.
const issueCSP = "default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func notFound() error { return &Error{Status: http.StatusNotFound, Message: "not found"} }

// newsletter returns the configured list with id, or false.
func (s *Server) newsletter(id string) (subscriber.List, bool) {
	if s.opts.Subscriptions == nil {
		return subscriber.List{}, false
	}
	for _, l := range s.opts.Subscriptions.Lists() {
		if l.ID == id {
			return l, true
		}
	}
	return subscriber.List{}, false
}

// archiveList is the list of the archive route r names; not found when
// the archive is off or the list is not configured.
func (s *Server) archiveList(r *http.Request) (subscriber.List, error) {
	if s.opts.Archive == nil {
		return subscriber.List{}, notFound()
	}
	l, ok := s.newsletter(r.PathValue("list"))
	if !ok {
		return subscriber.List{}, notFound()
	}
	return l, nil
}

// published are the issues the public sees, newest first: not the
// cancelled ones.
func published(issues []store.Issue) []store.Issue {
	out := issues[:0:0]
	for _, is := range issues {
		if is.Status != "cancelled" {
			out = append(out, is)
		}
	}
	return out
}

func (s *Server) archivePath(list string) string { return "/newsletters/" + url.PathEscape(list) + "/" }

func (s *Server) issueURL(list string, number int) string {
	return s.opts.Site.BaseURL + s.archivePath(list) + strconv.Itoa(number)
}

// archiveData is what the archive page shows.
type archiveData struct {
	pageData
	List      subscriber.List
	Issues    []listedIssue
	Subscribe string // the sign-up form, ticked for the list
}

type listedIssue struct {
	Number        int
	Subject, Link string
	Date          string
}

// archiveRedirect sends /newsletters/{list} to the archive's one URL.
func (s *Server) archiveRedirect(w http.ResponseWriter, r *http.Request) error {
	l, err := s.archiveList(r)
	if err != nil {
		return err
	}
	http.Redirect(w, r, s.archivePath(l.ID), http.StatusMovedPermanently)
	return nil
}

// archivePage lists a newsletter's issues, newest first.
func (s *Server) archivePage(w http.ResponseWriter, r *http.Request) error {
	l, err := s.archiveList(r)
	if err != nil {
		return err
	}
	issues, err := s.opts.Archive.Issues(r.Context(), l.ID)
	if err != nil {
		return err
	}
	data := archiveData{pageData: s.page(l.Title), List: l}
	data.Description = l.Description
	data.Feeds = []feedLink{{Title: l.Title + " (Atom)", Type: "application/atom+xml", URL: s.opts.Site.BaseURL + s.archivePath(l.ID) + "atom.xml"}}
	data.Subscribe = "/subscribe?list=" + url.QueryEscape(l.ID)
	for _, is := range published(issues) {
		data.Issues = append(data.Issues, listedIssue{Number: is.Number, Subject: is.Subject,
			Link: s.archivePath(l.ID) + strconv.Itoa(is.Number),
			Date: locale.LongDate(is.WindowEnd.In(s.opts.Site.Location), s.opts.Site.Language)})
	}
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	return s.writePage(w, r, http.StatusOK, cachePublic, "newsletter.html", data)
}

// issueNumber reads an issue number as its canonical digits: 1, not 01,
// +1 or a number past int.
func issueNumber(v string) (int, bool) {
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || strconv.Itoa(n) != v {
		return 0, false
	}
	return n, true
}

// issuePage is "view in browser": the issue's HTML as it was sent, without
// the personal links. A cancelled issue stays: some readers got it.
func (s *Server) issuePage(w http.ResponseWriter, r *http.Request) error {
	l, err := s.archiveList(r)
	if err != nil {
		return err
	}
	n, ok := issueNumber(r.PathValue("number"))
	if !ok {
		return notFound()
	}
	is, err := s.opts.Archive.Issue(r.Context(), l.ID, n)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Content-Security-Policy", issueCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	if !is.CreatedAt.IsZero() {
		h.Set("Last-Modified", is.CreatedAt.UTC().Format(http.TimeFormat))
	}
	// The HTML was rendered by html/template from sanitized articles
	// when the issue was made; it is sent as it is stored.
	return s.writeHTML(w, r, http.StatusOK, cachePublic, []byte(is.HTML))
}

// issueTime is when an issue was made, for feeds: its creation, or the
// end of its window for an issue stored without one.
func issueTime(is store.Issue) time.Time {
	if is.CreatedAt.IsZero() {
		return is.WindowEnd
	}
	return is.CreatedAt
}

// archiveFeed serves a newsletter's archive as Atom 1.0. It is rendered
// per request (a few issues); the conditional headers still spare the
// bytes on the wire.
func (s *Server) archiveFeed(w http.ResponseWriter, r *http.Request) error {
	l, err := s.archiveList(r)
	if err != nil {
		return err
	}
	issues, err := s.opts.Archive.Issues(r.Context(), l.ID)
	if err != nil {
		return err
	}
	issues = published(issues)
	if len(issues) > archiveFeedEntries {
		issues = issues[:archiveFeedEntries]
	}
	body, updated, err := s.renderArchiveAtom(l, issues)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	hash := hex.EncodeToString(sum[:16])
	tag, gz := `"`+hash+`"`, acceptsGzip(r.Header.Get("Accept-Encoding"))
	if gz {
		// gzip is deterministic for the same bytes and level, so the
		// compressed copy's tag can be derived without compressing.
		tag = `"` + hash + `-gzip"`
	}
	h := w.Header()
	h.Set("Cache-Control", "public, no-cache")
	h.Set("Vary", "Accept-Encoding")
	h.Set("Etag", tag)
	if notModified(r, tag, updated) {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Type", "application/atom+xml; charset=utf-8")
	h.Set("Last-Modified", updated.Format(http.TimeFormat))
	if gz {
		if body, err = gzipBytes(body); err != nil {
			return err
		}
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method == http.MethodHead {
		return nil
	}
	_, err = w.Write(body)
	return err
}

// archiveAtom is the archive feed document: gorilla/feeds' structs, with
// the alternate and self links a single link cannot give.
type archiveAtom struct {
	feeds.AtomFeed
	Lang    string             `xml:"xml:lang,attr,omitempty"`
	Links   []feeds.AtomLink   `xml:"link"`
	Entries []*feeds.AtomEntry `xml:"entry"`
}

// FeedXml lets gorilla/feeds' writer write the document.
func (d *archiveAtom) FeedXml() interface{} { return d }

// renderArchiveAtom writes issues (newest first) as Atom and returns it
// with the time of the newest, the feed's Last-Modified.
func (s *Server) renderArchiveAtom(l subscriber.List, issues []store.Issue) ([]byte, time.Time, error) {
	site := s.opts.Site
	date := func(t time.Time) string { return t.In(site.Location).Format(time.RFC3339) }
	archive := site.BaseURL + s.archivePath(l.ID)
	updated := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) // as feed.Updated: an empty feed still needs a date
	for _, is := range issues {
		if t := issueTime(is); t.After(updated) {
			updated = t
		}
	}
	updated = updated.UTC().Truncate(time.Second)
	doc := &archiveAtom{
		AtomFeed: feeds.AtomFeed{
			Xmlns:    "http://www.w3.org/2005/Atom",
			Title:    l.Title,
			Id:       archive + "atom.xml",
			Updated:  date(updated),
			Subtitle: l.Description,
			Author:   &feeds.AtomAuthor{AtomPerson: feeds.AtomPerson{Name: site.Title, Uri: site.BaseURL + "/"}},
		},
		Lang: site.Language,
		Links: []feeds.AtomLink{
			{Href: archive, Rel: "alternate", Type: "text/html"},
			{Href: archive + "atom.xml", Rel: "self", Type: "application/atom+xml"},
		},
	}
	for _, is := range issues {
		link := s.issueURL(l.ID, is.Number)
		t := date(issueTime(is))
		doc.Entries = append(doc.Entries, &feeds.AtomEntry{
			Title:     is.Subject,
			Id:        link,
			Updated:   t,
			Published: t,
			Links:     []feeds.AtomLink{{Href: link, Rel: "alternate", Type: "text/html"}},
			Content:   &feeds.AtomContent{Content: strings.TrimSpace(s.issuePolicy.Sanitize(htmlBody(is.HTML))), Type: "html"},
		})
	}
	var buf bytes.Buffer
	if err := feeds.WriteXML(doc, &buf); err != nil {
		return nil, time.Time{}, fmt.Errorf("render archive Atom of %s: %w", l.ID, err)
	}
	return buf.Bytes(), updated, nil
}

// newIssuePolicy is the cleaning of an issue's HTML for feed readers.
// The issue is an email laid out with inline styles; readers drop most of
// them anyway, and the W3C validator warns of styles beyond an old safe
// list (border-radius, max-width), so the feed keeps the structure, the
// links and the images, not the styles.
func newIssuePolicy() *bluemonday.Policy {
	p := bluemonday.UGCPolicy()
	p.AllowURLSchemes("http", "https", "mailto")
	p.AllowAttrs("alt", "title").OnElements("img")
	p.RequireNoFollowOnLinks(false) // the publisher's own links
	return p
}

// htmlBody is what is inside the body of an HTML document, which is what
// an Atom html content holds; the whole text when there is no body.
func htmlBody(doc string) string {
	lower := strings.ToLower(doc)
	open := strings.Index(lower, "<body")
	if open < 0 {
		return doc
	}
	start := strings.IndexByte(lower[open:], '>')
	end := strings.LastIndex(lower, "</body>")
	if start < 0 || end < open+start+1 {
		return doc
	}
	return strings.TrimSpace(doc[open+start+1 : end])
}

// apiIssue is an issue as the admin API shows it.
type apiIssue struct {
	Number      int        `json:"number"`
	Subject     string     `json:"subject"`
	Status      string     `json:"status"`
	WindowStart string     `json:"window_start"`
	WindowEnd   string     `json:"window_end"`
	CreatedAt   string     `json:"created_at"`
	URL         string     `json:"url"`
	Counts      *apiCounts `json:"counts,omitempty"`
}

type apiCounts struct {
	Queued  int `json:"queued"`
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Skipped int `json:"skipped"`
}

func (s *Server) toAPIIssue(is store.Issue) apiIssue {
	loc := s.opts.Site.Location
	return apiIssue{Number: is.Number, Subject: is.Subject, Status: is.Status,
		WindowStart: is.WindowStart.In(loc).Format(time.RFC3339), WindowEnd: is.WindowEnd.In(loc).Format(time.RFC3339),
		CreatedAt: is.CreatedAt.In(loc).Format(time.RFC3339), URL: s.issueURL(is.List, is.Number)}
}

func unknownList(list string) error {
	return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no newsletter %q is configured", list), Field: "list"}
}

// apiSendNewsletter makes a list's due issue now: 201 with the issue, or
// 200 with the reason there is none.
func (s *Server) apiSendNewsletter(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Newsletters == nil {
		return &Error{Status: http.StatusNotFound, Message: "no newsletters are configured"}
	}
	list := r.PathValue("list")
	made, err := s.opts.Newsletters.SendNow(r.Context(), list)
	switch {
	case errors.Is(err, digest.ErrUnknownList):
		return unknownList(list)
	case errors.Is(err, store.ErrConflict):
		// Another request, a scheduled run or another process made the
		// issue of this window first.
		return &Error{Status: http.StatusConflict, Message: "the issue of this window was just made by another run; see GET /api/v1/newsletters/" + list + "/issues"}
	}
	if err != nil {
		return err
	}
	if made.Issue.Number == 0 {
		reason := made.Reason
		if reason == "" {
			reason = "nothing to send"
		}
		writeJSON(w, http.StatusOK, map[string]any{"issue": nil, "reason": reason})
		return nil
	}
	if made.Issue.List == "" {
		made.Issue.List = list
	}
	writeJSON(w, http.StatusCreated, map[string]any{"issue": s.toAPIIssue(made.Issue), "deliveries": made.Deliveries})
	return nil
}

// apiListIssues lists a list's issues, every status, newest first, with
// where their deliveries stand.
func (s *Server) apiListIssues(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Archive == nil {
		return &Error{Status: http.StatusNotFound, Message: "no newsletters are configured"}
	}
	list := r.PathValue("list")
	if _, ok := s.newsletter(list); !ok {
		return unknownList(list)
	}
	issues, err := s.opts.Archive.Issues(r.Context(), list)
	if err != nil {
		return err
	}
	out := make([]apiIssue, 0, len(issues))
	for _, is := range issues {
		counts, err := s.opts.Archive.DeliveryCounts(r.Context(), is.ID)
		if err != nil {
			return err
		}
		a := s.toAPIIssue(is)
		a.Counts = &apiCounts{Queued: counts[store.DeliveryQueued], Sent: counts[store.DeliverySent],
			Failed: counts[store.DeliveryFailed], Skipped: counts[store.DeliverySkipped]}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"issues": out})
	return nil
}
