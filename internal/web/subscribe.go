package web

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/subscriber"
)

// Subscriptions is what the public subscription pages need.
type Subscriptions interface {
	Lists() []subscriber.List
	Subscribe(ctx context.Context, in subscriber.SignUp) (subscriber.Outcome, error)
	LookupConfirm(ctx context.Context, token string) (store.Subscriber, []string, error)
	ConfirmLists(ctx context.Context, token string, chosen []string) (store.Subscriber, []string, error)
	LookupUnsubscribe(ctx context.Context, token string) (subscriber.Unsubscription, error)
	Unsubscribe(ctx context.Context, token string, all bool) (subscriber.Unsubscription, error)
	Preferences(ctx context.Context, token string) (store.Subscriber, error)
	SavePreferences(ctx context.Context, token string, keep, categories []string) (store.Subscriber, error)
}

// maxFormBytes bounds a public form: an address, a name and a few boxes.
const maxFormBytes = 16 << 10

// crossOrigin refuses a public form's POST from another site's page (a
// browser says so in Sec-Fetch-Site or Origin), unless that site is in
// subscribe.allowed_origins or is the site's own base_url. A POST with
// neither header is let through: it is no browser's cross-site request,
// and RFC 8058 one-click unsubscribes come that way from mail providers.
// The answer is a 403 page in the site's language.
func (s *Server) crossOrigin(w http.ResponseWriter, r *http.Request) error {
	p := http.NewCrossOriginProtection()
	for _, o := range append([]string{s.opts.Site.BaseURL}, s.opts.AllowedOrigins...) {
		u, err := url.Parse(o)
		if err != nil || u.Scheme == "" || u.Host == "" {
			continue // config validation names bad ones
		}
		_ = p.AddTrustedOrigin(u.Scheme + "://" + u.Host)
	}
	if p.Check(r) == nil {
		return nil
	}
	words := s.words()
	data := subscribeData{pageData: s.page(words.Subscribe)}
	if err := s.renderSubscription(w, r, http.StatusForbidden, "forbidden.html", data); err != nil {
		return err
	}
	return errRefused
}

// errRefused tells a handler that the answer has been written and nothing
// is to be done.
var errRefused = errors.New("refused; answered")

// limiter is the per-client limit on sign-ups (subscribe.rate_limit). An
// IPv6 client is its /64: one host commonly has a whole /64 to pick
// addresses from.
type limiter struct {
	mu        sync.Mutex
	every     rate.Limit
	burst     int
	clients   map[netip.Prefix]*client
	lastSweep time.Time
}

type client struct {
	limiter *rate.Limiter
	seen    time.Time
}

// maxClients bounds the limiter's memory under a flood from many
// addresses; past it, the oldest state is dropped wholesale.
const maxClients = 100_000

func newLimiter(count int, period time.Duration) *limiter {
	if count <= 0 || period <= 0 {
		return nil
	}
	return &limiter{every: rate.Every(period / time.Duration(count)), burst: count, clients: map[netip.Prefix]*client{}}
}

func clientKey(ip netip.Addr) netip.Prefix {
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p
	}
	return netip.PrefixFrom(ip, ip.BitLen())
}

// allow reports whether ip may sign up now. Idle entries are swept at most
// once a minute, so a flood costs no scan per request.
func (l *limiter) allow(ip netip.Addr, now time.Time) bool {
	if l == nil {
		return true
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		l.lastSweep = now
		idle := time.Duration(float64(time.Second) * float64(l.burst) / float64(l.every)) // time to refill
		for k, c := range l.clients {
			if now.Sub(c.seen) > idle {
				delete(l.clients, k)
			}
		}
	}
	if len(l.clients) >= maxClients {
		l.clients = map[netip.Prefix]*client{}
	}
	key := clientKey(ip)
	c, ok := l.clients[key]
	if !ok {
		c = &client{limiter: rate.NewLimiter(l.every, l.burst)}
		l.clients[key] = c
	}
	c.seen = now
	return c.limiter.AllowN(now, 1)
}

// clientIP is the address a request comes from: the peer's, unless the
// peer is a trusted proxy, then the nearest untrusted address in
// X-Forwarded-For.
func (s *Server) clientIP(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	peer = peer.Unmap()
	if !s.trusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer
		}
		a = a.Unmap()
		if !s.trusted(a) {
			return a
		}
	}
	return peer
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.opts.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// subscribeData is what the subscription pages show.
type subscribeData struct {
	pageData
	Lists      []listChoice
	Email      string
	Name       string
	Error      string
	Pending    bool
	Done       bool
	Token      string
	ListTitle  string
	Categories []categoryChoice
}

type listChoice struct {
	ID, Title, Description string
	Checked                bool
}

type categoryChoice struct {
	Slug, Title string
	Checked     bool
}

func (s *Server) listChoices(checked func(id string) bool) []listChoice {
	var out []listChoice
	for _, l := range s.opts.Subscriptions.Lists() {
		out = append(out, listChoice{ID: l.ID, Title: l.Title, Description: l.Description, Checked: checked(l.ID)})
	}
	return out
}

func (s *Server) listTitle(id string) string {
	for _, l := range s.opts.Subscriptions.Lists() {
		if l.ID == id {
			return l.Title
		}
	}
	return id
}

// renderSubscription sends a subscription page: kept by no cache (its URL
// carries a token, or it answers a form), gzip when asked.
func (s *Server) renderSubscription(w http.ResponseWriter, r *http.Request, status int, name string, data subscribeData) error {
	return s.renderSubscriptionCached(w, r, status, cachePrivate, name, data)
}

func (s *Server) renderSubscriptionCached(w http.ResponseWriter, r *http.Request, status int, cache, name string, data subscribeData) error {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer") // the URL carries a token
	return s.writePage(w, r, status, cache, name, data)
}

// formError is the sign-up form's answer to a refused field, from the
// catalogue in the site's language, with what was typed where it helps.
func (s *Server) formError(fe *article.FieldError, in subscriber.SignUp) string {
	words := s.words()
	switch fe.Field {
	case "email":
		if strings.TrimSpace(in.Email) == "" {
			return words.T("form.email_missing")
		}
		if _, err := mail.CleanAddress(in.Email); errors.Is(err, mail.ErrLocalPartNotASCII) {
			return words.T("form.email_local_unicode", shorten(strings.TrimSpace(in.Email)))
		}
		return words.T("form.email_invalid", shorten(strings.TrimSpace(in.Email)))
	case "name":
		return words.T("form.name_too_long", maxNameRunes)
	case "list":
		if len(in.Lists) == 0 {
			return words.T("form.choose_list")
		}
		for _, id := range in.Lists {
			if _, ok := s.newsletter(id); !ok {
				return words.T("form.unknown_list", shorten(id))
			}
		}
	}
	return words.T("form.invalid")
}

// maxNameRunes is the subscriber package's bound on a typed name, for the
// form's message.
const maxNameRunes = 100

// shorten keeps a typed value short enough to quote in a message.
func shorten(v string) string {
	if r := []rune(v); len(r) > 60 {
		return string(r[:60]) + "…"
	}
	return v
}

func (s *Server) subscriptionsOff() error {
	return &Error{Status: http.StatusNotFound, Message: "not found"}
}

// subscribeForm shows the sign-up form; ?list=ID ticks that newsletter.
func (s *Server) subscribeForm(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Subscriptions == nil || len(s.opts.Subscriptions.Lists()) == 0 {
		return s.subscriptionsOff()
	}
	want := r.URL.Query()["list"]
	data := subscribeData{pageData: s.page(s.words().Subscribe)}
	data.Lists = s.listChoices(func(id string) bool {
		return len(want) == 0 && len(s.opts.Subscriptions.Lists()) == 1 || contains(want, id)
	})
	// The empty form is the same for everyone: a cache may keep it.
	return s.renderSubscriptionCached(w, r, http.StatusOK, cachePublic, "subscribe.html", data)
}

// refused turns errRefused (the 403 page is written) into nil for handle;
// any other error goes on.
func refused(err error) error {
	if errors.Is(err, errRefused) {
		return nil
	}
	return err
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// subscribe takes the form. A filled honeypot (a field people never see)
// is answered like a success and changes nothing; a flood from one address
// gets 429.
func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Subscriptions == nil || len(s.opts.Subscriptions.Lists()) == 0 {
		return s.subscriptionsOff()
	}
	if err := s.crossOrigin(w, r); err != nil {
		return refused(err)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return &Error{Status: http.StatusBadRequest, Message: "unreadable form"}
	}
	words := s.words()
	data := subscribeData{pageData: s.page(words.Subscribe), Email: r.PostForm.Get("email"), Name: r.PostForm.Get("name")}
	lists := r.PostForm["list"]
	// With one list there is nothing to choose: a form that ticks none (an
	// older page, a CMS's own form) signs up to it.
	if all := s.opts.Subscriptions.Lists(); len(lists) == 0 && len(all) == 1 {
		lists = []string{all[0].ID}
	}
	data.Lists = s.listChoices(func(id string) bool { return contains(lists, id) })
	if r.PostForm.Get("website") != "" {
		data.Pending = true
		return s.renderSubscription(w, r, http.StatusOK, "subscribed.html", data)
	}
	if !s.signups.allow(s.clientIP(r), s.opts.Now()) {
		w.Header().Set("Retry-After", "3600")
		data.Error = words.TooMany
		return s.renderSubscription(w, r, http.StatusTooManyRequests, "subscribe.html", data)
	}
	in := subscriber.SignUp{Email: data.Email, Name: data.Name, Lists: lists, Language: s.opts.Site.Language}
	out, err := s.opts.Subscriptions.Subscribe(r.Context(), in)
	var fe *article.FieldError
	if errors.As(err, &fe) {
		data.Error = s.formError(fe, in)
		return s.renderSubscription(w, r, http.StatusBadRequest, "subscribe.html", data)
	}
	if err != nil {
		return err
	}
	// "Check your email" with double opt-in, "you are subscribed"
	// without, whatever the address: whether it was subscribed already and
	// whether an email went out (subscribe.confirm_resend) are not shown,
	// so the form tells nobody who reads what.
	data.Pending = out.CheckEmail
	data.Done = !data.Pending
	return s.renderSubscription(w, r, http.StatusOK, "subscribed.html", data)
}

// confirmPage is where the confirmation email's link leads: the lists it
// confirms and one button. A GET confirms nothing, because mail scanners
// open links; a forged sign-up stays unconfirmed.
func (s *Server) confirmPage(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Subscriptions == nil {
		return s.subscriptionsOff()
	}
	token := r.PathValue("token")
	sub, lists, err := s.opts.Subscriptions.LookupConfirm(r.Context(), token)
	return s.showConfirm(w, r, token, sub, lists, err, false)
}

// confirm is the button of the confirmation page.
func (s *Server) confirm(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Subscriptions == nil {
		return s.subscriptionsOff()
	}
	if err := s.crossOrigin(w, r); err != nil {
		return refused(err)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return &Error{Status: http.StatusBadRequest, Message: "unreadable form"}
	}
	token := r.PathValue("token")
	// The page's form says which lists were ticked; a bare POST confirms
	// the lists of the link.
	var chosen []string
	if r.PostForm.Has("chosen") {
		chosen = append([]string{}, r.PostForm["list"]...)
	}
	sub, confirmed, err := s.opts.Subscriptions.ConfirmLists(r.Context(), token, chosen)
	return s.showConfirm(w, r, token, sub, confirmed, err, true)
}

// showConfirm shows the confirmation page: before the button, every list
// the person is pending on, those of the link ticked (others may have been
// signed up for since, by them or by someone else); after it, the lists
// confirmed.
func (s *Server) showConfirm(w http.ResponseWriter, r *http.Request, token string, sub store.Subscriber, lists []string, err error, done bool) error {
	words := s.words()
	data := subscribeData{pageData: s.page(words.Confirmed), Token: token}
	switch {
	case errors.Is(err, subscriber.ErrExpiredToken):
		data.Error = words.LinkExpired
		return s.renderSubscription(w, r, http.StatusGone, "confirm.html", data)
	case errors.Is(err, subscriber.ErrBadToken):
		data.Error = words.LinkInvalid
		return s.renderSubscription(w, r, http.StatusNotFound, "confirm.html", data)
	case err != nil:
		return err
	}
	if done {
		for _, id := range lists {
			data.Lists = append(data.Lists, listChoice{ID: id, Title: s.listTitle(id)})
		}
	} else {
		data.Lists = s.listChoices(func(id string) bool { return contains(lists, id) })
		var pending []listChoice
		for _, l := range data.Lists {
			if sub.Lists[l.ID] == store.Pending {
				pending = append(pending, l)
			}
		}
		data.Lists = pending
	}
	// Nothing left to confirm (the button pressed before) is shown as done.
	data.Done = done || len(data.Lists) == 0
	data.Pending = !data.Done
	if data.Pending {
		data.Title = words.Subscribe
	}
	return s.renderSubscription(w, r, http.StatusOK, "confirm.html", data)
}

// unsubscribePage shows who and what a link unsubscribes, and a button: a
// GET changes nothing, because mail scanners open links.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Subscriptions == nil {
		return s.subscriptionsOff()
	}
	words := s.words()
	token := r.PathValue("token")
	data := subscribeData{pageData: s.page(words.Unsubscribe), Token: token}
	u, err := s.opts.Subscriptions.LookupUnsubscribe(r.Context(), token)
	if errors.Is(err, subscriber.ErrBadToken) {
		data.Error = words.LinkInvalid
		return s.renderSubscription(w, r, http.StatusNotFound, "unsubscribe.html", data)
	}
	if err != nil {
		return err
	}
	data.Email = mail.DisplayAddress(u.Subscriber.Email)
	if u.List != "" {
		data.ListTitle = s.listTitle(u.List)
	}
	return s.renderSubscription(w, r, http.StatusOK, "unsubscribe.html", data)
}

// unsubscribe is the button and the RFC 8058 one-click POST (body
// "List-Unsubscribe=One-Click"), which gets a plain 200.
func (s *Server) unsubscribe(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Subscriptions == nil {
		return s.subscriptionsOff()
	}
	if err := s.crossOrigin(w, r); err != nil {
		return refused(err)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return &Error{Status: http.StatusBadRequest, Message: "unreadable form"}
	}
	words := s.words()
	token := r.PathValue("token")
	all := r.PostForm.Get("all") != ""
	u, err := s.opts.Subscriptions.Unsubscribe(r.Context(), token, all)
	oneClick := r.PostForm.Get("List-Unsubscribe") == "One-Click"
	if errors.Is(err, subscriber.ErrBadToken) {
		if oneClick {
			return &Error{Status: http.StatusNotFound, Message: "unknown unsubscribe link"}
		}
		data := subscribeData{pageData: s.page(words.Unsubscribe), Error: words.LinkInvalid}
		return s.renderSubscription(w, r, http.StatusNotFound, "unsubscribe.html", data)
	}
	if err != nil {
		return err
	}
	if oneClick {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, err := w.Write([]byte("unsubscribed\n"))
		return err
	}
	data := subscribeData{pageData: s.page(words.Unsubscribed), Token: token, Email: mail.DisplayAddress(u.Subscriber.Email), Done: true}
	if u.List != "" {
		data.ListTitle = s.listTitle(u.List)
	}
	// The page offers to subscribe again to what was left: the list of the
	// link, or every configured list after "unsubscribe from every one".
	data.Lists = s.listChoices(func(id string) bool { return true })
	if u.List != "" && !all {
		data.Lists = nil
		if l, ok := s.newsletter(u.List); ok {
			data.Lists = []listChoice{{ID: l.ID, Title: l.Title, Checked: true}}
		}
	}
	return s.renderSubscription(w, r, http.StatusOK, "unsubscribe.html", data)
}

// preferencesPage shows a subscriber's lists and categories.
func (s *Server) preferencesPage(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Subscriptions == nil {
		return s.subscriptionsOff()
	}
	sub, err := s.opts.Subscriptions.Preferences(r.Context(), r.PathValue("token"))
	return s.showPreferences(w, r, sub, err, false)
}

func (s *Server) savePreferences(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Subscriptions == nil {
		return s.subscriptionsOff()
	}
	if err := s.crossOrigin(w, r); err != nil {
		return refused(err)
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		return &Error{Status: http.StatusBadRequest, Message: "unreadable form"}
	}
	sub, err := s.opts.Subscriptions.SavePreferences(r.Context(), r.PathValue("token"), r.PostForm["list"], r.PostForm["category"])
	return s.showPreferences(w, r, sub, err, true)
}

func (s *Server) showPreferences(w http.ResponseWriter, r *http.Request, sub store.Subscriber, err error, saved bool) error {
	words := s.words()
	data := subscribeData{pageData: s.page(words.Preferences), Token: r.PathValue("token"), Done: saved}
	if errors.Is(err, subscriber.ErrBadToken) {
		data.Error = words.LinkInvalid
		return s.renderSubscription(w, r, http.StatusNotFound, "preferences.html", data)
	}
	if err != nil {
		return err
	}
	data.Email = mail.DisplayAddress(sub.Email)
	data.Lists = s.listChoices(func(id string) bool { return sub.Lists[id] == store.Confirmed || sub.Lists[id] == store.Pending })
	// Lists the person has left are re-joined by signing up again.
	var kept []listChoice
	for _, l := range data.Lists {
		if st, ok := sub.Lists[l.ID]; ok && st != store.Unsubscribed {
			kept = append(kept, l)
		}
	}
	data.Lists = kept
	cats, err := s.opts.Store.Categories(r.Context(), s.opts.Now())
	if err != nil {
		return err
	}
	for _, c := range cats {
		data.Categories = append(data.Categories, categoryChoice{Slug: c.Slug, Title: c.Title, Checked: contains(sub.Categories, c.Slug)})
	}
	return s.renderSubscription(w, r, http.StatusOK, "preferences.html", data)
}
