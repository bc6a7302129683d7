package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// Error is an error with the response it deserves.
type Error struct {
	Status  int
	Message string
	Field   string
	Index   *int // the position of the article in a batch, when there is one
}

func (e *Error) Error() string { return e.Message }

// handlerFunc is a handler that may fail; handle writes the failure.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// handle turns a failing handler into an http.Handler. The error
// vocabulary maps to statuses here and only here; only 5xx is logged, and
// users never see an internal message.
func (s *Server) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		e := s.classify(err)
		switch {
		case e.Status == http.StatusInsufficientStorage:
			s.logDiskFull(r, err)
		case e.Status >= 500:
			s.opts.Logger.Error("request failed", "method", r.Method, "path", logPath(r), "err", err)
		}
		if strings.HasPrefix(r.URL.Path, "/api/") {
			writeJSON(w, e.Status, e)
			return
		}
		s.errorPage(w, r, e)
	})
}

func (s *Server) classify(err error) *Error {
	var e *Error
	var fe *article.FieldError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &e):
		return e
	case errors.As(err, &mbe):
		return &Error{Status: http.StatusRequestEntityTooLarge, Message: fmt.Sprintf("request body larger than %d bytes; send fewer articles per request", mbe.Limit)}
	case errors.As(err, &fe):
		return &Error{Status: http.StatusBadRequest, Message: fe.Error(), Field: fe.Field}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	case errors.Is(err, store.ErrConflict):
		return &Error{Status: http.StatusConflict, Message: "conflicts with a stored article"}
	case errors.Is(store.DiskFull(err), store.ErrDiskFull):
		return &Error{Status: http.StatusInsufficientStorage, Message: "the server's disk is full: nothing was written; try again once the operator has freed space"}
	}
	return &Error{Status: http.StatusInternalServerError, Message: "internal error; see the server log"}
}

// diskFullLogEvery is how often a full disk is logged at most: every
// request fails the same way until space is freed, and a log line per
// request would only fill the disk further.
const diskFullLogEvery = time.Minute

// logDiskFull logs a full disk once a minute at most.
func (s *Server) logDiskFull(r *http.Request, err error) {
	now := s.opts.Now().Unix()
	last := s.diskFullLogged.Load()
	if last != 0 && now-last < int64(diskFullLogEvery/time.Second) || !s.diskFullLogged.CompareAndSwap(last, now) {
		return
	}
	s.opts.Logger.Error("disk full: requests that write answer 507 until space is freed (logged once a minute)",
		"method", r.Method, "path", logPath(r), "err", err)
}

// MarshalJSON writes the SPEC's error shape: {"error": "...", "field": "..."}.
func (e *Error) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Error string `json:"error"`
		Field string `json:"field,omitempty"`
		Index *int   `json:"index,omitempty"`
	}{e.Message, e.Field, e.Index})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// admin guards an API route with the bearer token: 401 without one, 403
// with a wrong one, 404 when the admin API is off.
func (s *Server) admin(h handlerFunc) http.Handler {
	want := sha256.Sum256([]byte(s.opts.AdminToken))
	return s.handle(func(w http.ResponseWriter, r *http.Request) error {
		if s.opts.AdminToken == "" {
			return &Error{Status: http.StatusNotFound, Message: "the admin API is off; set server.admin_token to turn it on"}
		}
		// The scheme is case-insensitive (RFC 9110 §11.1).
		scheme, token, _ := strings.Cut(strings.TrimSpace(r.Header.Get("Authorization")), " ")
		token = strings.TrimSpace(token)
		if !strings.EqualFold(scheme, "Bearer") || token == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="bantin"`)
			return &Error{Status: http.StatusUnauthorized, Message: "missing bearer token; send Authorization: Bearer <server.admin_token>"}
		}
		// Compare hashes in constant time: the length of the token leaks
		// nothing and neither does the position of the first wrong byte.
		got := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return &Error{Status: http.StatusForbidden, Message: "wrong bearer token"}
		}
		// An admin's batch may be MBs: it gets the API's longer deadline,
		// which a caller without the token never does.
		if r.ContentLength != 0 {
			_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.opts.APIBodyTimeout))
		}
		return h(w, r)
	})
}
