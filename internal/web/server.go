// Package web serves bantin over HTTP: public pages, health checks and the
// admin API. Routes are declared in one place, Routes.
package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/microcosm-cc/bluemonday"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/locale"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/templates"
)

// ArticleStore is the slice of the store the web layer reads and writes.
type ArticleStore interface {
	Article(ctx context.Context, id string) (article.Article, error)
	ArticleBySlug(ctx context.Context, slug string) (article.Article, error)
	Articles(ctx context.Context, q store.ArticleQuery) ([]article.Article, error)
	ArticleHashes(ctx context.Context, ids []string) (map[string]string, error)
	SaveArticles(ctx context.Context, now time.Time, articles []article.Article) ([]store.Saved, error)
	DeleteArticle(ctx context.Context, id string) error
	Categories(ctx context.Context, now time.Time) ([]article.Category, error)
	Ping(ctx context.Context) error
}

// Site is what pages say about the site itself.
type Site struct {
	Title       string
	Description string
	BaseURL     string // without a trailing slash
	Language    string
	Location    *time.Location
}

// Options configures a Server.
type Options struct {
	Site       Site
	Store      ArticleStore
	Normalizer *article.Normalizer
	Templates  *templates.Set
	AdminToken string // "" turns the admin API off
	Logger     *slog.Logger
	Now        func() time.Time
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	MaxBodyBytes int64
	// Feeds serves the feed documents; nil serves none.
	Feeds Feeds
	// WebSub is the built-in hub at /websub; nil for none.
	WebSub http.Handler
	// Subscriptions serves the sign-up, confirmation, unsubscribe and
	// preferences pages; nil turns them off.
	Subscriptions Subscriptions
	// SubscriberAdmin serves /api/v1/subscribers; nil answers 404.
	SubscriberAdmin SubscriberAdmin
	// Archive serves /newsletters/ and the issues API for the lists of
	// Subscriptions; nil answers 404.
	Archive Archive
	// Newsletters sends issues on the admin API's request; nil answers 404.
	Newsletters Newsletters
	// NewsletterStatus serves GET /api/v1/newsletters; nil lists none.
	NewsletterStatus NewsletterStatus
	// Sources tells the upstream feeds' state at /api/v1/sources; nil lists
	// none.
	Sources Sources
	// Bounces lists the bounce records at /api/v1/bounces; nil lists none.
	Bounces BounceLog
	// Metrics serves /metrics; nil answers 404. FeedRequest is told the
	// kind and status of every feed request; nil for none.
	Metrics     http.Handler
	FeedRequest func(kind string, code int)
	// ObserveIngest is told the result of each article posted to the API
	// (created, updated, unchanged, rejected); nil for none.
	ObserveIngest func(result string)
	// TrustedProxies are the proxies whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// SignupLimit and SignupPeriod bound sign-ups per client address
	// (subscribe.rate_limit); 0 for no limit.
	SignupLimit  int
	SignupPeriod time.Duration
	// AllowedOrigins are the other sites whose pages may POST the public
	// forms (subscribe.allowed_origins); see crossOrigin.
	AllowedOrigins []string
	// FormBodyTimeout bounds the reading of a request body, counted from
	// the end of its headers: the public forms' bodies are a few KB, so a
	// client that sends one slower than this holds a connection for
	// nothing. APIBodyTimeout replaces it once an admin API request has
	// shown the right token: those bodies may be MBs. Defaults:
	// DefaultFormBodyTimeout, DefaultAPIBodyTimeout.
	FormBodyTimeout time.Duration
	APIBodyTimeout  time.Duration
	// BounceWebhooks takes providers' bounces and complaints at
	// POST /webhooks/bounces/{provider}; nil answers 404.
	BounceWebhooks BounceWebhooks
}

// Feeds is what the web layer needs of the feed service.
type Feeds interface {
	Get(ctx context.Context, category string, page int, kind feed.Kind) (*feed.Rendered, error)
	OPML(ctx context.Context) (*feed.Rendered, error)
	Scopes(ctx context.Context) ([]feed.Scope, error)
}

// Server is bantin's HTTP handler.
type Server struct {
	opts       Options
	handler    http.Handler
	requestIDs *requestIDs
	signups    *limiter
	// issuePolicy cleans an issue's HTML for the archive feed; see
	// newIssuePolicy.
	issuePolicy *bluemonday.Policy
	// cached serves feed pages already rendered on a short path, when
	// Options.Feeds can (see serveCachedFeed).
	cached cachedFeeds
	// diskFullLogged is when a full disk was last logged (Unix seconds).
	diskFullLogged atomic.Int64
}

// DefaultMaxBodyBytes bounds a request body: room for a batch of a few
// hundred articles, not for a memory exhaustion attack.
const DefaultMaxBodyBytes = 10 << 20

// Body read deadlines: a form's few KB come in well under a second on
// any link; an API batch of up to DefaultMaxBodyBytes needs about
// 170 KB/s to arrive within a minute.
const (
	DefaultFormBodyTimeout = 10 * time.Second
	DefaultAPIBodyTimeout  = 60 * time.Second
)

// New builds a Server.
func New(opts Options) *Server {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.FormBodyTimeout <= 0 {
		opts.FormBodyTimeout = DefaultFormBodyTimeout
	}
	if opts.APIBodyTimeout <= 0 {
		opts.APIBodyTimeout = DefaultAPIBodyTimeout
	}
	opts.Site.BaseURL = strings.TrimRight(opts.Site.BaseURL, "/")
	s := &Server{opts: opts, requestIDs: newRequestIDs(), signups: newLimiter(opts.SignupLimit, opts.SignupPeriod),
		issuePolicy: newIssuePolicy()}
	s.cached, _ = opts.Feeds.(cachedFeeds)
	s.handler = securityHeaders(s.bodyDeadline(s.logRequests(s.Routes())))
	return s
}

// Routes declares every route.
func (s *Server) Routes() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", s.handle(s.healthz))
	mux.Handle("GET /readyz", s.handle(s.readyz))
	mux.Handle("GET /{$}", s.handle(s.homePage))
	mux.Handle("GET /articles/{slug}", s.handle(s.articlePage))
	mux.Handle("GET /feeds.opml", s.countFeeds(s.handle(s.opmlHandler)))
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", s.opts.Metrics)
	}
	mux.Handle("GET /subscribe", s.handle(s.subscribeForm))
	mux.Handle("POST /subscribe", s.handle(s.subscribe))
	mux.Handle("GET /confirm/{token}", s.handle(s.confirmPage))
	mux.Handle("POST /confirm/{token}", s.handle(s.confirm))
	mux.Handle("GET /unsubscribe/{token}", s.handle(s.unsubscribePage))
	mux.Handle("POST /unsubscribe/{token}", s.handle(s.unsubscribe))
	mux.Handle("GET /preferences/{token}", s.handle(s.preferencesPage))
	mux.Handle("POST /preferences/{token}", s.handle(s.savePreferences))
	if s.opts.WebSub != nil {
		mux.Handle("GET /websub", s.opts.WebSub)
		mux.Handle("POST /websub", s.opts.WebSub)
	}
	mux.Handle("GET /newsletters/{list}", s.handle(s.archiveRedirect))
	mux.Handle("GET /newsletters/{list}/{$}", s.handle(s.archivePage))
	mux.Handle("GET /newsletters/{list}/atom.xml", s.handle(s.archiveFeed))
	mux.Handle("GET /newsletters/{list}/{number}", s.handle(s.issuePage))
	mux.Handle("GET /feeds/{file}", s.countFeeds(s.handle(s.feedHandler)))
	mux.Handle("GET /feeds/page/{n}/{file}", s.countFeeds(s.handle(s.feedHandler)))
	mux.Handle("GET /feeds/{category}/{file}", s.countFeeds(s.handle(s.feedHandler)))
	mux.Handle("GET /feeds/{category}/page/{n}/{file}", s.countFeeds(s.handle(s.feedHandler)))
	// Every other GET under /feeds/ is the HTML not-found page here, so
	// pageNotFound need not route a feed request twice to find out.
	mux.Handle("GET /feeds/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}))
	mux.HandleFunc("POST /webhooks/bounces/{provider}", s.bounceWebhook)

	mux.Handle("POST /api/v1/articles", s.admin(s.apiSaveArticles))
	mux.Handle("GET /api/v1/articles", s.admin(s.apiListArticles))
	mux.Handle("GET /api/v1/articles/{id...}", s.admin(s.apiGetArticle))
	mux.Handle("DELETE /api/v1/articles/{id...}", s.admin(s.apiDeleteArticle))
	mux.Handle("GET /api/v1/subscribers", s.admin(s.apiListSubscribers))
	mux.Handle("POST /api/v1/subscribers", s.admin(s.apiAddSubscriber))
	mux.Handle("DELETE /api/v1/subscribers/{list}/{email}", s.admin(s.apiRemoveSubscriber))
	mux.Handle("GET /api/v1/sources", s.admin(s.apiListSources))
	mux.Handle("GET /api/v1/bounces", s.admin(s.apiListBounces))
	mux.Handle("GET /api/v1/newsletters", s.admin(s.apiListNewsletters))
	mux.Handle("GET /api/v1/newsletters/{list}", s.admin(s.apiGetNewsletter))
	mux.Handle("POST /api/v1/newsletters/{list}/send", s.admin(s.apiSendNewsletter))
	mux.Handle("GET /api/v1/newsletters/{list}/issues", s.admin(s.apiListIssues))
	mux.Handle("/api/", s.handle(func(w http.ResponseWriter, r *http.Request) error {
		return &Error{Status: http.StatusNotFound, Message: "no such API route: " + r.Method + " " + r.URL.Path}
	}))
	return s.pageNotFound(mux)
}

// countFeeds tells FeedRequest the kind and status of each feed request.
func (s *Server) countFeeds(h http.Handler) http.Handler {
	if s.opts.FeedRequest == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		h.ServeHTTP(rec, r)
		code := rec.status
		if code == 0 {
			code = http.StatusOK
		}
		s.opts.FeedRequest(feedKind(r.URL.Path), code)
	})
}

// feedKind names a feed path's format for metrics, as the feed package
// labels its kinds.
func feedKind(p string) string {
	if k, ok := feed.KindOf(path.Base(p)); ok {
		return k.Label()
	}
	if strings.HasSuffix(p, ".opml") {
		return "opml"
	}
	return "other"
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.serveCachedFeed(w, r) {
		return
	}
	s.handler.ServeHTTP(w, r)
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write([]byte("ok\n"))
	return err
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.opts.Store.Ping(ctx); err != nil {
		s.opts.Logger.Error("not ready", "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("store not ready\n"))
		return nil
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write([]byte("ready\n"))
	return err
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// ReadFrom keeps net/http's response ReadFrom, and with it sendfile, for
// a feed's body (see writeRendered).
func (r *statusRecorder) ReadFrom(src io.Reader) (int64, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	if rf, ok := r.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(writerOnly{r.ResponseWriter}, src)
}

// Unwrap lets http.ResponseController reach the connection (the admin
// API's longer body deadline).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// The headers every response starts with. A handler that serves HTML sets
// its own Content-Security-Policy (and Referrer-Policy, where its URL
// carries a token), which replaces these; the default CSP is the strictest
// one a plain page works under, so an error page, a feed opened in a
// browser or a redirect runs no script and cannot be framed.
const (
	defaultCSP            = "default-src 'none'; img-src * data:; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
	defaultReferrerPolicy = "strict-origin-when-cross-origin"
)

// securityHeaderValues are the headers securityHeaders sets. The values
// are shared by every response rather than made for each: a handler
// replaces a header (Set) and never writes into the slice, and an Add
// appends past the full capacity, into a new array.
var securityHeaderValues = [...]struct {
	name  string
	value []string
}{
	{"X-Content-Type-Options", []string{"nosniff"}[:1:1]},
	{"X-Frame-Options", []string{"DENY"}[:1:1]},
	{"Referrer-Policy", []string{defaultReferrerPolicy}[:1:1]},
	{"Content-Security-Policy", []string{defaultCSP}[:1:1]},
}

// securityHeaders gives every response, whatever its type, the headers
// that keep a browser from sniffing it into HTML or framing it: feeds,
// JSON, /metrics, errors and redirects included.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		setSecurityHeaders(w.Header())
		next.ServeHTTP(w, r)
	})
}

func setSecurityHeaders(h http.Header) {
	for _, sh := range securityHeaderValues {
		h[sh.name] = sh.value
	}
}

// bodyDeadline cuts a request whose body arrives slower than
// FormBodyTimeout, counted from the end of its headers: without it a
// client sending a form a byte at a time holds a connection (and a slot
// of limits.connections) for the server's whole read timeout. It applies
// to every request that has a body, whatever its route, since a handler
// that reads none still has the server discard it. The admin API extends
// it once the token is checked (see admin). Requests without a body keep
// the server's own timeouts.
func (s *Server) bodyDeadline(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
			next.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		if err := rc.SetReadDeadline(time.Now().Add(s.opts.FormBodyTimeout)); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		// Once the body is read, the deadline goes: the server's
		// background read of the connection would otherwise cancel the
		// request's context at the deadline, in the middle of the
		// handler's work. The handler gets a shallow copy, so the server
		// still sees its own body when it discards what was left unread.
		r2 := r.WithContext(r.Context())
		r2.Body = &deadlineBody{ReadCloser: r.Body, rc: rc}
		next.ServeHTTP(w, r2)
	})
}

// deadlineBody lifts the connection's read deadline once the body has
// been read to its end.
type deadlineBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// logRequests logs one line per request with an id that is also sent back
// as X-Request-Id, so a user's report can be found in the log. Query
// strings, link tokens and addresses in paths are left out.
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// With request logging off (log.level above info), the hot path of
		// a feed GET pays for no id, no clock and no wrapper.
		if !s.opts.Logger.Enabled(r.Context(), slog.LevelInfo) {
			next.ServeHTTP(w, r)
			return
		}
		id := s.requestIDs.next()
		w.Header()["X-Request-Id"] = []string{id}
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.opts.Logger.Info("http", "id", id, "method", r.Method, "path", logPath(r),
			"status", rec.status, "duration", time.Since(start).Round(time.Microsecond))
	})
}

// logPath is the path as the log may show it: for routes whose path holds
// a token or an address, the route's pattern instead (/confirm/{token}).
func logPath(r *http.Request) string {
	if strings.Contains(r.Pattern, "{token}") || strings.Contains(r.Pattern, "{email}") {
		_, path, _ := strings.Cut(r.Pattern, " ")
		return path
	}
	return r.URL.Path
}

// requestIDs makes request ids: a random prefix chosen at start and a
// counter, unique without a system call per request.
type requestIDs struct {
	prefix string
	n      atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

func (g *requestIDs) next() string {
	return g.prefix + "-" + strconv.FormatUint(g.n.Add(1), 36)
}

// pageData is what every page template gets.
type pageData struct {
	Site        Site
	Words       locale.Words
	Title       string
	Description string
	Article     *article.Article
	Published   string
	Updated     string
	// Feeds are the autodiscovery links of the page.
	Feeds []feedLink
	// Latest are the newest articles, on the home page.
	Latest []listedArticle
	// Newsletters are offered by the home page's subscribe form.
	Newsletters []listChoice
}

type feedLink struct {
	Title, Type, URL string
}

// TypeAttr is the link's type attribute written as is: html/template
// writes "+" in an attribute value as "&#43;", which browsers decode but
// feed finders matching the page's bytes do not. Only the known constant
// types are written this way; any other goes through the escaper.
func (l feedLink) TypeAttr() template.HTMLAttr {
	switch l.Type {
	case "application/rss+xml", "application/atom+xml", "application/feed+json":
		return template.HTMLAttr(`type="` + l.Type + `"`)
	}
	return template.HTMLAttr(`type="` + template.HTMLEscapeString(l.Type) + `"`)
}

type listedArticle struct {
	Title, Link, Summary, Date, Author, Image, ImageAlt string
	Categories                                          []article.Category
}
