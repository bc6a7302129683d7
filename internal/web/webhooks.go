package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/bantin/bantin/internal/bounce"
)

// MaxWebhookBytes bounds a bounce webhook's body: a provider's batch of
// events is KBs, SendGrid's largest a few hundred KB.
const MaxWebhookBytes = 1 << 20

// BounceWebhooks takes the bounce and complaint notifications that mail
// providers post (bounce.Webhooks).
type BounceWebhooks interface {
	// Has says whether provider's webhook is configured.
	Has(provider string) bool
	// Receive checks a request and records the events it reports.
	Receive(ctx context.Context, provider string, h http.Header, body []byte) (bounce.Received, error)
}

// bounceWebhook serves POST /webhooks/bounces/{provider}: 404 for a
// provider that is not configured, 413 for a body over MaxWebhookBytes,
// 401 for a request that fails its check (nothing recorded), 400 for a
// body that passes it but cannot be read, 200 once every event is
// recorded, even events that name nobody bantin sends to (a provider
// sends again whatever did not get a 2xx), and 500 when the store failed,
// so that it does send again.
func (s *Server) bounceWebhook(w http.ResponseWriter, r *http.Request) {
	provider := r.PathValue("provider")
	if s.opts.BounceWebhooks == nil || !s.opts.BounceWebhooks.Has(provider) {
		msg := "no such bounce webhook; the providers are ses, mailgun, postmark and sendgrid"
		switch provider {
		case "ses", "mailgun", "postmark", "sendgrid":
			msg = "the " + provider + " bounce webhook is off; set its keys under bounces." + provider + " in the config"
		}
		writeJSON(w, http.StatusNotFound, &Error{Message: msg})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxWebhookBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			s.opts.Logger.Warn("bounce webhook", "provider", provider, "outcome", "too large")
			writeJSON(w, http.StatusRequestEntityTooLarge, &Error{Message: "request body larger than 1 MiB"})
			return
		}
		writeJSON(w, http.StatusBadRequest, &Error{Message: "could not read the request body"})
		return
	}
	got, err := s.opts.BounceWebhooks.Receive(r.Context(), provider, r.Header, body)
	switch {
	case errors.Is(err, bounce.ErrForged):
		// Why it failed goes to the log, for the admin setting it up;
		// the caller learns only that it did.
		s.opts.Logger.Warn("bounce webhook", "provider", provider, "outcome", "refused", "why", err.Error())
		if provider == "postmark" {
			w.Header().Set("WWW-Authenticate", `Basic realm="bantin bounces"`)
		}
		writeJSON(w, http.StatusUnauthorized, &Error{Message: "the request failed its check"})
		return
	case errors.Is(err, bounce.ErrMalformed):
		s.opts.Logger.Warn("bounce webhook", "provider", provider, "outcome", "malformed", "why", err.Error())
		writeJSON(w, http.StatusBadRequest, &Error{Message: "the notification cannot be read"})
		return
	case err != nil:
		s.opts.Logger.Error("bounce webhook", "provider", provider, "outcome", "failed", "events", got.Events,
			"outcomes", outcomeCounts(got.Outcomes), "err", err)
		writeJSON(w, http.StatusInternalServerError, &Error{Message: "internal error; see the server log"})
		return
	}
	s.opts.Logger.Info("bounce webhook", "provider", provider, "outcome", "ok", "events", got.Events,
		"outcomes", outcomeCounts(got.Outcomes))
	counts := map[string]int{}
	for o, n := range got.Outcomes {
		counts[string(o)] = n
	}
	writeJSON(w, http.StatusOK, struct {
		Events   int            `json:"events"`
		Outcomes map[string]int `json:"outcomes"`
	}{got.Events, counts})
}

// outcomeCounts writes outcomes for the log: "counted=1 unknown=2".
func outcomeCounts(m map[bounce.Outcome]int) string {
	parts := make([]string, 0, len(m))
	for o, n := range m {
		parts = append(parts, string(o)+"="+strconv.Itoa(n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}
