package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// SubscriberAdmin is what the admin API does with subscribers.
type SubscriberAdmin interface {
	Add(ctx context.Context, list, email, name string, confirmed bool) (store.Subscriber, bool, error)
	Remove(ctx context.Context, list, email string) error
	Members(ctx context.Context, list string, status store.SubscriptionStatus) ([]store.Subscriber, error)
}

type apiSubscriber struct {
	Email     string            `json:"email"`
	Name      string            `json:"name,omitempty"`
	Lists     map[string]string `json:"lists"`
	Bounced   bool              `json:"bounced"`
	Bounces   int               `json:"bounces"`
	CreatedAt string            `json:"created_at"`
}

func (s *Server) toAPISubscriber(sub store.Subscriber) apiSubscriber {
	out := apiSubscriber{Email: sub.Email, Name: sub.Name, Lists: map[string]string{}, Bounced: sub.Bounced, Bounces: sub.Bounces,
		CreatedAt: sub.CreatedAt.In(s.opts.Site.Location).Format(time.RFC3339)}
	for l, st := range sub.Lists {
		out.Lists[l] = string(st)
	}
	return out
}

func (s *Server) subscriberAdmin() (SubscriberAdmin, error) {
	if s.opts.SubscriberAdmin == nil {
		return nil, &Error{Status: http.StatusNotFound, Message: "no newsletters are configured"}
	}
	return s.opts.SubscriberAdmin, nil
}

// apiListSubscribers lists a list's subscribers: ?list=ID[&status=].
func (s *Server) apiListSubscribers(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.subscriberAdmin()
	if err != nil {
		return err
	}
	status := store.SubscriptionStatus(r.URL.Query().Get("status"))
	switch status {
	case "":
		status = store.Confirmed
	case store.Confirmed, store.Pending, store.Unsubscribed:
	default:
		return &Error{Status: http.StatusBadRequest, Message: "status must be confirmed, pending or unsubscribed", Field: "status"}
	}
	list := r.URL.Query().Get("list")
	if list == "" {
		return &Error{Status: http.StatusBadRequest, Message: "give ?list= with a newsletter id", Field: "list"}
	}
	subs, err := admin.Members(r.Context(), list, status)
	if err != nil {
		return err
	}
	out := make([]apiSubscriber, 0, len(subs))
	for _, sub := range subs {
		out = append(out, s.toAPISubscriber(sub))
	}
	writeJSON(w, http.StatusOK, map[string]any{"subscribers": out})
	return nil
}

// apiAddSubscriber adds an address to a list: {"list", "email", "name",
// "confirmed"}. Without confirmed, the double opt-in email goes out.
func (s *Server) apiAddSubscriber(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.subscriberAdmin()
	if err != nil {
		return err
	}
	var in struct {
		List      string `json:"list"`
		Email     string `json:"email"`
		Name      string `json:"name"`
		Confirmed bool   `json:"confirmed"`
	}
	dec := json.NewDecoder(io.LimitReader(http.MaxBytesReader(w, r.Body, maxFormBytes), maxFormBytes+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return &Error{Status: http.StatusBadRequest, Message: "expected {\"list\", \"email\", \"name\", \"confirmed\"}: " + err.Error()}
	}
	sub, changed, err := admin.Add(r.Context(), in.List, in.Email, in.Name, in.Confirmed)
	var fe *article.FieldError
	if errors.As(err, &fe) {
		return &Error{Status: http.StatusBadRequest, Message: fe.Error(), Field: fe.Field}
	}
	if err != nil {
		return err
	}
	status := http.StatusOK
	if changed {
		status = http.StatusCreated
	}
	writeJSON(w, status, s.toAPISubscriber(sub))
	return nil
}

// apiRemoveSubscriber unsubscribes an address from a list.
func (s *Server) apiRemoveSubscriber(w http.ResponseWriter, r *http.Request) error {
	admin, err := s.subscriberAdmin()
	if err != nil {
		return err
	}
	list, email := r.PathValue("list"), r.PathValue("email")
	err = admin.Remove(r.Context(), list, email)
	var fe *article.FieldError
	switch {
	case errors.As(err, &fe):
		return &Error{Status: http.StatusNotFound, Message: fe.Error(), Field: fe.Field}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("%s is not on %s", email, list)}
	case err != nil:
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
