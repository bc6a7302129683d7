package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/bantin/bantin/internal/digest"
)

// NewsletterStatus tells where the newsletters stand (digest.Service):
// every list for an empty list id, ErrUnknownList for one not configured.
type NewsletterStatus interface {
	Status(ctx context.Context, list string) ([]digest.ListStatus, error)
}

// apiNewsletter is a list's status as the admin API shows it: times in
// the list's zone, RFC 3339.
type apiNewsletter struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	Description string   `json:"description,omitempty"`
	Schedule    string   `json:"schedule"`
	Timezone    string   `json:"timezone"`
	Categories  []string `json:"categories"`
	// LastIssue is null before the first issue.
	LastIssue *apiLastIssue `json:"last_issue"`
	// NextRun is null for a schedule with no next time.
	NextRun *string `json:"next_run"`
	// OverdueSince is a past run with articles and no issue (serve is not
	// making issues); absent otherwise.
	OverdueSince string `json:"overdue_since,omitempty"`
	NewArticles  int    `json:"new_articles"`
	MaxArticles  int    `json:"max_articles"`
	Confirmed    int    `json:"confirmed_subscribers"`
	Queued       int    `json:"queued"`
}

type apiLastIssue struct {
	Number  int       `json:"number"`
	Subject string    `json:"subject"`
	Status  string    `json:"status"`
	SentAt  string    `json:"sent_at"`
	URL     string    `json:"url"`
	Counts  apiCounts `json:"counts"`
}

func (s *Server) toAPINewsletter(ls digest.ListStatus) apiNewsletter {
	rfc := func(t time.Time) string { return t.In(ls.Location).Format(time.RFC3339) }
	a := apiNewsletter{ID: ls.ID, Title: ls.Title, Description: ls.Description, Schedule: ls.Schedule,
		Timezone: ls.Location.String(), Categories: ls.Categories, NewArticles: ls.NewArticles,
		MaxArticles: ls.MaxArticles, Confirmed: ls.Confirmed, Queued: ls.Queued}
	if a.Categories == nil {
		a.Categories = []string{} // every category
	}
	if l := ls.Last; l != nil {
		a.LastIssue = &apiLastIssue{Number: l.Number, Subject: l.Subject, Status: l.Status, SentAt: rfc(l.SentAt),
			URL: s.issueURL(ls.ID, l.Number), Counts: apiCounts{Queued: l.Queued, Sent: l.Sent, Failed: l.Failed, Skipped: l.Skipped}}
	}
	if !ls.NextRun.IsZero() {
		next := rfc(ls.NextRun)
		a.NextRun = &next
	}
	if !ls.Overdue.IsZero() {
		a.OverdueSince = rfc(ls.Overdue)
	}
	return a
}

// apiListNewsletters tells where every configured list stands.
func (s *Server) apiListNewsletters(w http.ResponseWriter, r *http.Request) error {
	out := []apiNewsletter{}
	if s.opts.NewsletterStatus != nil {
		lists, err := s.opts.NewsletterStatus.Status(r.Context(), "")
		if err != nil {
			return err
		}
		for _, ls := range lists {
			out = append(out, s.toAPINewsletter(ls))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"newsletters": out})
	return nil
}

// apiGetNewsletter tells where one list stands.
func (s *Server) apiGetNewsletter(w http.ResponseWriter, r *http.Request) error {
	list := r.PathValue("list")
	if s.opts.NewsletterStatus == nil {
		return unknownList(list)
	}
	lists, err := s.opts.NewsletterStatus.Status(r.Context(), list)
	if errors.Is(err, digest.ErrUnknownList) || (err == nil && len(lists) != 1) {
		return unknownList(list)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toAPINewsletter(lists[0]))
	return nil
}
