// Package websub is bantin's built-in WebSub hub (W3C WebSub) for the
// site's own feeds: subscribers register a callback, the hub verifies their
// intent, and pushes every new version of the feed to them. It also pings
// the external hubs named in feeds.websub_hubs.
package websub

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/netguard"
	"github.com/bantin/bantin/internal/store"
)

// Leases: what a subscriber gets when it asks for none, and the bounds of
// what it may ask for.
const (
	DefaultLease = 10 * 24 * time.Hour
	MinLease     = time.Hour
	MaxLease     = 30 * 24 * time.Hour
)

// maxSecret is the longest hub.secret the recommendation allows (§5.1).
const maxSecret = 199

// DefaultPerHost is the most subscriptions whose callbacks are on one host
// (limits.websub_per_host).
const DefaultPerHost = 64

// The pools that call subscribers. Verification of intent and content
// delivery have their own, so that stalled deliveries never hold up a
// subscription, and each has a fixed number of workers and a bounded queue.
// A worker waiting on a callback costs a goroutine and a connection (an
// open file): with idleConns kept for reuse, the hub holds at most 128.
const (
	verifyWorkers  = 16
	verifyQueue    = 1024
	deliverWorkers = 96
	deliverQueue   = 16384
	idleConns      = 16
	// hostInFlight is the most calls in flight to one callback host, so
	// that one slow host cannot take a whole pool.
	hostInFlight = 2
	// DefaultCallbackTimeout bounds one call to a subscriber, connecting
	// included.
	DefaultCallbackTimeout = 10 * time.Second
	connectTimeout         = 5 * time.Second
)

// Store is what the hub keeps.
type Store interface {
	SaveSubscription(ctx context.Context, sub store.Subscription) error
	DeleteSubscription(ctx context.Context, topic, callback string) error
	Subscriptions(ctx context.Context, now time.Time) ([]store.Subscription, error)
}

// Feeds is what the hub distributes.
type Feeds interface {
	Get(ctx context.Context, category string, page int, kind feed.Kind) (*feed.Rendered, error)
	Scopes(ctx context.Context) ([]feed.Scope, error)
	Listen() <-chan struct{}
}

// Options configures a Hub.
type Options struct {
	Store   Store
	Feeds   Feeds
	BaseURL string // the site's, without a trailing slash
	// ExternalHubs are pinged (hub.mode=publish) when a feed changes.
	ExternalHubs []string
	// AllowPrivate lets callbacks reach loopback and private addresses.
	// Off, the hub cannot be turned against the server's own network.
	AllowPrivate bool
	Logger       *slog.Logger
	Now          func() time.Time
	// RetryBase is the first wait before a failed delivery is tried again;
	// it doubles each time, up to Retries tries. Defaults: 1 minute, 5.
	RetryBase time.Duration
	Retries   int
	// ObserveDelivery is told each delivery's result: delivered, gone,
	// retry or failed (metrics); nil for none.
	ObserveDelivery func(result string)
	// PerHost is the most subscriptions whose callbacks are on one host
	// (limits.websub_per_host); 0 means DefaultPerHost.
	PerHost int
	// CallbackTimeout bounds each call to a subscriber, connecting
	// included; 0 means DefaultCallbackTimeout.
	CallbackTimeout time.Duration
}

// Hub is the WebSub hub.
type Hub struct {
	opts   Options
	client *http.Client // to subscribers: public addresses only
	// pinger calls the hubs the admin configured, wherever they are.
	pinger *http.Client

	mu   sync.Mutex
	sent map[string]string // topic → ETag last distributed
	// verifying holds the subscriptions waiting for their verification,
	// by callback host, so that they count toward the host's allowance.
	verifying map[string]map[pair]bool
	wg        sync.WaitGroup // jobs queued or running, and retries waiting
	// stored is the stored subscriptions by callback host, as of storedAt
	// plus this process's changes since: a subscription request is checked
	// against it, not against a read of every subscription.
	stored   map[string]map[pair]bool
	storedAt time.Time
	// reading lets one request read the store when stored is stale, the
	// others wait for it.
	reading sync.Mutex

	verifications *pool
	deliveries    *pool
}

// pair names a subscription.
type pair struct{ topic, callback string }

// New builds a Hub and starts its workers; Close stops them.
func New(opts Options) *Hub {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Minute
	}
	if opts.Retries <= 0 {
		opts.Retries = 5
	}
	if opts.PerHost <= 0 {
		opts.PerHost = DefaultPerHost
	}
	if opts.CallbackTimeout <= 0 {
		opts.CallbackTimeout = DefaultCallbackTimeout
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	h := &Hub{opts: opts, sent: map[string]string{}, verifying: map[string]map[pair]bool{}}
	h.verifications = newPool(verifyWorkers, hostInFlight, verifyQueue, &h.wg)
	h.deliveries = newPool(deliverWorkers, hostInFlight, deliverQueue, &h.wg)
	dialer := &net.Dialer{Timeout: min(connectTimeout, opts.CallbackTimeout)}
	if !opts.AllowPrivate {
		// Checked on the address dialled, so DNS tricks do not get past it.
		dialer.Control = netguard.Control("websub callback", "feeds.websub_allow_private")
	}
	h.client = &http.Client{
		Timeout: opts.CallbackTimeout,
		Transport: &http.Transport{
			DialContext:           dialer.DialContext,
			TLSHandshakeTimeout:   connectTimeout,
			ResponseHeaderTimeout: opts.CallbackTimeout,
			MaxIdleConns:          idleConns,
			MaxIdleConnsPerHost:   hostInFlight,
			IdleConnTimeout:       time.Minute,
		},
		// A callback that redirects is not followed: its owner verified the
		// URL it gave, not another one.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	h.pinger = &http.Client{Timeout: opts.CallbackTimeout}
	return h
}

// URL is the hub's own address, announced in every feed.
func (h *Hub) URL() string { return h.opts.BaseURL + "/websub" }

// Wait blocks until verifications and deliveries queued or in flight,
// and retries waiting, are done.
func (h *Hub) Wait() { h.wg.Wait() }

// Close stops the hub's calls: queued ones are dropped, and those in flight
// may finish until ctx ends, then are cut. Retries still waiting are
// dropped when they come due. Subscription requests after Close get 503.
func (h *Hub) Close(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); h.verifications.Close(ctx) }()
	go func() { defer wg.Done(); h.deliveries.Close(ctx) }()
	wg.Wait()
}

// ServeHTTP answers GET with a short description and POST with the
// subscription protocol (§5.1): 202 Accepted, then verification of intent
// in the background.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintf(w, "This is the WebSub hub of %s for its own feeds (%s/feeds.opml lists them).\n"+
			"Subscribe with POST hub.mode=subscribe, hub.topic=<feed URL>, hub.callback=<your URL>, optional hub.lease_seconds and hub.secret.\n",
			h.opts.BaseURL, h.opts.BaseURL)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, HEAD, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form: "+err.Error(), http.StatusBadRequest)
		return
	}
	req, err := h.parse(r.Context(), r.PostForm)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.mode == "subscribe" {
		if err := h.admit(r.Context(), req); errors.Is(err, errHostFull) {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		} else if err != nil {
			h.opts.Logger.Error("websub: subscriptions not read", "err", err)
			http.Error(w, "the hub cannot take subscriptions just now; try again later", http.StatusServiceUnavailable)
			return
		}
	}
	if !h.verifications.add(h.verification(req)) {
		h.release(req)
		// Only a full queue of verifications gets here: stalled
		// deliveries have their own pool.
		w.Header().Set("Retry-After", "60")
		http.Error(w, "the hub has too many subscription requests waiting for verification; try again in a minute", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusAccepted)
}

// errHostFull refuses a subscription beyond limits.websub_per_host.
var errHostFull = errors.New("too many subscriptions for one callback host")

// callbackHost is the host a callback's allowance is counted by: its name
// without the port, so that one machine's many ports share one.
func callbackHost(callback string) string {
	u, err := url.Parse(callback)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
}

// others lists the stored subscriptions on a callback host other than the
// one a request renews.
func (h *Hub) others(ctx context.Context, req request, host string) (map[pair]bool, error) {
	subs, err := h.opts.Store.Subscriptions(ctx, h.opts.Now())
	if err != nil {
		return nil, fmt.Errorf("count subscriptions: %w", err)
	}
	out := map[pair]bool{}
	for _, s := range subs {
		if (s.Topic != req.topic || s.Callback != req.callback) && callbackHost(s.Callback) == host {
			out[pair{s.Topic, s.Callback}] = true
		}
	}
	return out, nil
}

// storedFor is how long the hub counts on its own view of the stored
// subscriptions before it reads them again (other processes', leases run
// out). The check at verification reads them in any case.
const storedFor = 5 * time.Second

// index keeps subs as the stored subscriptions by callback host. h.mu is
// held.
func (h *Hub) index(subs []store.Subscription, at time.Time) {
	h.stored = map[string]map[pair]bool{}
	for _, s := range subs {
		h.note(s.Topic, s.Callback, true)
	}
	h.storedAt = at
}

// note records a subscription stored (or deleted, when !ok). h.mu is held.
func (h *Hub) note(topic, callback string, ok bool) {
	if h.stored == nil {
		return // read at the next request
	}
	host := callbackHost(callback)
	if !ok {
		delete(h.stored[host], pair{topic, callback})
		if len(h.stored[host]) == 0 {
			delete(h.stored, host)
		}
		return
	}
	if h.stored[host] == nil {
		h.stored[host] = map[pair]bool{}
	}
	h.stored[host][pair{topic, callback}] = true
}

// freshIndex reads the stored subscriptions when the hub's view of them is
// older than storedFor: a flood of requests costs one read every few
// seconds, not one each.
func (h *Hub) freshIndex(ctx context.Context) error {
	h.reading.Lock()
	defer h.reading.Unlock()
	h.mu.Lock()
	fresh := h.stored != nil && time.Since(h.storedAt) < storedFor
	h.mu.Unlock()
	if fresh {
		return nil
	}
	start := time.Now()
	subs, err := h.opts.Store.Subscriptions(ctx, h.opts.Now())
	if err != nil {
		return fmt.Errorf("count subscriptions: %w", err)
	}
	h.mu.Lock()
	h.index(subs, start)
	h.mu.Unlock()
	return nil
}

// admit checks a subscription against its callback host's allowance
// (limits.websub_per_host) and holds a place for it until its
// verification is done (release). Renewing a subscription always fits.
func (h *Hub) admit(ctx context.Context, req request) error {
	host := callbackHost(req.callback)
	if err := h.freshIndex(ctx); err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	p := pair{req.topic, req.callback}
	// A subscription both stored and still held (its verification
	// finishing) counts once.
	taken := map[pair]bool{}
	for q := range h.stored[host] {
		taken[q] = true
	}
	for q := range h.verifying[host] {
		taken[q] = true
	}
	delete(taken, p)
	if len(taken) >= h.opts.PerHost {
		return fmt.Errorf("%w: the hub keeps at most %d subscriptions for callbacks on %s (limits.websub_per_host); unsubscribe one, or renew one you have", errHostFull, h.opts.PerHost, host)
	}
	if h.verifying[host] == nil {
		h.verifying[host] = map[pair]bool{}
	}
	h.verifying[host][p] = true
	return nil
}

// release gives back the place admit held. It is called for either mode:
// an unsubscription may have replaced the queued subscription that held it.
func (h *Hub) release(req request) {
	host := callbackHost(req.callback)
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.verifying[host], pair{req.topic, req.callback})
	if len(h.verifying[host]) == 0 {
		delete(h.verifying, host)
	}
}

// verification is the job that verifies a request's intent.
func (h *Hub) verification(req request) *job {
	return &job{host: callbackHost(req.callback), key: "verify\n" + req.topic + "\n" + req.callback,
		run: func(ctx context.Context) bool {
			defer h.release(req)
			return h.verify(ctx, req)
		}}
}

type request struct {
	mode, topic, callback, secret string
	lease                         time.Duration
}

// parse checks a subscription request; the errors go back to the caller.
func (h *Hub) parse(ctx context.Context, form url.Values) (request, error) {
	req := request{mode: form.Get("hub.mode"), topic: form.Get("hub.topic"), callback: form.Get("hub.callback"), secret: form.Get("hub.secret")}
	if req.mode != "subscribe" && req.mode != "unsubscribe" {
		return req, fmt.Errorf("hub.mode must be subscribe or unsubscribe, got %q", req.mode)
	}
	cb, err := url.Parse(req.callback)
	if err != nil || (cb.Scheme != "http" && cb.Scheme != "https") || cb.Host == "" || cb.Fragment != "" {
		return req, fmt.Errorf("hub.callback must be an absolute http(s) URL without a fragment, got %q", req.callback)
	}
	if _, _, _, err := h.topic(ctx, req.topic); err != nil {
		return req, err
	}
	if len(req.secret) > maxSecret {
		return req, fmt.Errorf("hub.secret is longer than %d bytes", maxSecret)
	}
	req.lease = lease(form.Get("hub.lease_seconds"))
	return req, nil
}

// lease is the lease the hub grants for a hub.lease_seconds: the one asked
// for within MinLease and MaxLease, MaxLease for a number too large to
// hold, and DefaultLease for none, zero, a negative number or not a number
// (the parameter is only a wish, §5.1).
func lease(v string) time.Duration {
	v = strings.TrimSpace(v)
	n, err := strconv.ParseInt(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(v, "-"):
		return MaxLease
	case err != nil || n < 1:
		return DefaultLease
	case n >= int64(MaxLease/time.Second): // before multiplying, which could overflow
		return MaxLease
	}
	return max(time.Duration(n)*time.Second, MinLease)
}

// feedOf says which feed a topic URL is the first page of; false for a URL
// that is no such page.
func (h *Hub) feedOf(topic string) (category string, kind feed.Kind, ok bool) {
	rest, ok := strings.CutPrefix(topic, h.opts.BaseURL+"/feeds/")
	if !ok {
		return "", 0, false
	}
	file := rest
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		category, file = rest[:i], rest[i+1:]
	}
	kind, ok = feed.KindOf(file)
	if !ok || strings.Contains(category, "/") || feed.Path(category, 1, kind) != "/feeds/"+rest {
		return "", 0, false
	}
	return category, kind, true
}

// topic checks that a URL is the first page of one of the site's feeds and
// says which.
func (h *Hub) topic(ctx context.Context, topic string) (category string, kind feed.Kind, doc *feed.Rendered, err error) {
	if !strings.HasPrefix(topic, h.opts.BaseURL+"/feeds/") {
		return "", 0, nil, fmt.Errorf("hub.topic %q is not a feed of this site (%s/feeds/…)", topic, h.opts.BaseURL)
	}
	category, kind, ok := h.feedOf(topic)
	if !ok {
		return "", 0, nil, fmt.Errorf("hub.topic %q is not a feed of this site; %s/feeds.opml lists them", topic, h.opts.BaseURL)
	}
	doc, err = h.opts.Feeds.Get(ctx, category, 1, kind)
	if errors.Is(err, feed.ErrNotFound) {
		return "", 0, nil, fmt.Errorf("hub.topic %q is not a feed of this site; %s/feeds.opml lists them", topic, h.opts.BaseURL)
	}
	return category, kind, doc, err
}

// verify asks the subscriber to confirm its intent (§5.3) and records the
// answer. It reports whether the callback timed out.
func (h *Hub) verify(ctx context.Context, req request) (slow bool) {
	log := h.opts.Logger.With("mode", req.mode, "topic", req.topic, "callback", redact(req.callback))
	var version string
	if req.mode == "subscribe" {
		// The version the subscriber is taken to have: any later change of
		// the feed reaches it. A feed gone since the request is no error
		// here; the next distribution leaves it out.
		if _, _, doc, err := h.topic(ctx, req.topic); err == nil {
			version = doc.ETag
		}
	}
	challenge := randomString()
	u, _ := url.Parse(req.callback)
	q := u.Query()
	q.Set("hub.mode", req.mode)
	q.Set("hub.topic", req.topic)
	q.Set("hub.challenge", challenge)
	if req.mode == "subscribe" {
		q.Set("hub.lease_seconds", strconv.FormatInt(int64(req.lease/time.Second), 10))
	}
	u.RawQuery = q.Encode()
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		log.Warn("websub: verification not sent", "err", cause(err))
		return false
	}
	resp, err := h.client.Do(hr)
	if err != nil {
		log.Warn("websub: verification failed", "err", cause(err))
		return timedOut(err)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if err != nil {
		log.Warn("websub: verification failed", "err", cause(err))
		return timedOut(err)
	}
	if resp.StatusCode/100 != 2 || string(body) != challenge {
		log.Warn("websub: subscriber did not confirm", "status", resp.StatusCode)
		return false
	}
	now := h.opts.Now()
	if req.mode == "unsubscribe" {
		err = h.opts.Store.DeleteSubscription(ctx, req.topic, req.callback)
	} else {
		// Checked again now that the verification is done: requests on
		// other processes of this store, or ones that raced the first
		// check, count too.
		var stored map[pair]bool
		if stored, err = h.others(ctx, req, callbackHost(req.callback)); err == nil && len(stored) >= h.opts.PerHost {
			log.Warn("websub: subscription not stored: its callback host has limits.websub_per_host subscriptions already", "limit", h.opts.PerHost)
			return false
		}
		if err == nil {
			err = h.opts.Store.SaveSubscription(ctx, store.Subscription{Topic: req.topic, Callback: req.callback,
				Secret: req.secret, ExpiresAt: now.Add(req.lease), CreatedAt: now})
		}
	}
	if err != nil {
		log.Error("websub: subscription not stored", "err", "store error")
		h.opts.Logger.Debug("websub: store error", "err", err)
		return false
	}
	h.mu.Lock()
	h.note(req.topic, req.callback, req.mode == "subscribe")
	if _, ok := h.sent[req.topic]; !ok && version != "" {
		h.sent[req.topic] = version
	}
	h.mu.Unlock()
	log.Info("websub: " + req.mode + "d")
	return false
}

// timedOut reports a call that ran out of time: its host is slow rather
// than gone or refusing.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// redact keeps a callback's query and user info out of the log: they
// often hold a token.
func redact(callback string) string {
	u, err := url.Parse(callback)
	if err != nil {
		return "(unparsable callback)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "…"
	}
	u.Fragment = ""
	return u.String()
}

// cause drops the URL an *url.Error carries (with the callback's token)
// and keeps what went wrong.
func cause(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func randomString() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// sign is the X-Hub-Signature of a body (§7, sha256).
func sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
