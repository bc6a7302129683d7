package web

import (
	"context"
	"net/http"
	"time"

	"github.com/bantin/bantin/internal/ingest"
)

// Sources tells the state of the upstream feeds.
type Sources interface {
	Status(ctx context.Context) ([]ingest.SourceStatus, error)
}

type apiSource struct {
	Name       string     `json:"name"`
	URL        string     `json:"url"`
	FetchURL   string     `json:"fetch_url,omitempty"` // where it is fetched after a permanent redirect
	Category   string     `json:"category,omitempty"`
	Interval   string     `json:"interval"`
	Enabled    bool       `json:"enabled"`
	LastFetch  *time.Time `json:"last_fetch"`
	LastStatus int        `json:"last_status,omitempty"`
	LastError  string     `json:"last_error,omitempty"`
	Failures   int        `json:"failures"`
	NextPoll   *time.Time `json:"next_poll"`
	Entries    int        `json:"entries"`
}

// apiListSources lists the upstream feeds with their last fetch, status,
// error and next poll.
func (s *Server) apiListSources(w http.ResponseWriter, r *http.Request) error {
	list := []ingest.SourceStatus{}
	if s.opts.Sources != nil {
		var err error
		if list, err = s.opts.Sources.Status(r.Context()); err != nil {
			return err
		}
	}
	out := make([]apiSource, 0, len(list))
	for _, src := range list {
		a := apiSource{Name: src.Name, URL: src.URL, Category: src.Category, Interval: src.Interval.String(), Enabled: src.Enabled,
			LastStatus: src.State.LastStatus, LastError: src.State.LastError, Failures: src.State.Failures, Entries: src.State.Entries}
		if src.State.FetchURL != src.URL {
			a.FetchURL = src.State.FetchURL
		}
		a.LastFetch, a.NextPoll = s.timeOrNil(src.State.LastFetch), s.timeOrNil(src.State.NextPoll)
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sources": out})
	return nil
}

// timeOrNil is t in the site's zone, nil for the zero time.
func (s *Server) timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.In(s.opts.Site.Location)
	return &t
}
