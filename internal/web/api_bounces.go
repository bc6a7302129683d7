package web

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/bantin/bantin/internal/store"
)

// BounceLog lists the bounce records (the store's Bounces).
type BounceLog interface {
	Bounces(ctx context.Context, q store.BounceQuery) ([]store.Bounce, error)
}

// apiBounce is one record as the API shows it. The address is shown: the
// admin keeps the list and must see who bounced.
type apiBounce struct {
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"`
	Source  string    `json:"source"`
	Email   string    `json:"email"`
	List    *string   `json:"list"`
	Status  *string   `json:"status"`
	Outcome string    `json:"outcome"`
	Reason  *string   `json:"reason"`
	Issue   *int64    `json:"issue"`
}

// apiListBounces lists bounce records, newest first: ?since= a duration
// back from now (24h) or an RFC 3339 time, ?kind= hard, soft or
// complaint, ?limit= 1 to 1000 (100).
func (s *Server) apiListBounces(w http.ResponseWriter, r *http.Request) error {
	q := store.BounceQuery{Kind: r.URL.Query().Get("kind"), Limit: 100}
	switch q.Kind {
	case "", "hard", "soft", "complaint":
	default:
		return &Error{Status: http.StatusBadRequest, Message: "kind must be hard, soft or complaint", Field: "kind"}
	}
	if v := r.URL.Query().Get("since"); v != "" {
		if d, err := time.ParseDuration(v); err == nil && d >= 0 {
			q.Since = s.opts.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, v); err == nil {
			q.Since = t
		} else {
			return &Error{Status: http.StatusBadRequest, Message: "since must be a duration back from now (24h) or an RFC 3339 time", Field: "since"}
		}
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return &Error{Status: http.StatusBadRequest, Message: "limit must be a whole number from 1 to 1000", Field: "limit"}
		}
		q.Limit = n
	}
	out := []apiBounce{}
	if s.opts.Bounces != nil {
		list, err := s.opts.Bounces.Bounces(r.Context(), q)
		if err != nil {
			return err
		}
		for _, b := range list {
			a := apiBounce{At: b.At.In(s.opts.Site.Location), Kind: b.Kind, Source: b.Source, Email: b.Email,
				Outcome: b.Outcome, List: optional(b.List), Status: optional(b.Status), Reason: optional(b.Reason)}
			if b.IssueID != 0 {
				id := b.IssueID
				a.Issue = &id
			}
			out = append(out, a)
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"bounces": out})
	return nil
}

// optional is s, or nil (JSON null) when it is empty.
func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
