package digest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	netmail "net/mail"
	"slices"
	"strings"
	"sync"
	texttemplate "text/template"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
)

// ErrUnknownList is returned for a list id that is not configured.
var ErrUnknownList = errors.New("no such newsletter")

// Newsletter is one configured list, as the digest needs it.
type Newsletter struct {
	ID, Title, Description string
	Schedule               Schedule
	Location               *time.Location
	Categories             []string // slugs; empty means every category
	MaxArticles            int
	MaxAge                 time.Duration
	Subject                *texttemplate.Template
	Template               string // the template set in templates/email ("digest")
}

// Store is what the digest keeps its issues and deliveries in.
type Store interface {
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
	Article(ctx context.Context, id string) (article.Article, error)
	WindowArticles(ctx context.Context, q store.WindowQuery) ([]article.Article, error)
	ListStart(ctx context.Context, list string, now time.Time) (time.Time, error)
	LastIssue(ctx context.Context, list string) (store.Issue, error)
	CreateIssue(ctx context.Context, is store.Issue) (store.Issue, int, error)
	SendingIssues(ctx context.Context) ([]store.Issue, error)
	FinishIssue(ctx context.Context, issueID int64, now time.Time) (bool, error)
	CancelIssue(ctx context.Context, list string, now time.Time) (store.Issue, int, error)
	ClaimDeliveries(ctx context.Context, issueID int64, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error)
	ExtendDeliveries(ctx context.Context, ds []store.Delivery, until time.Time) ([]store.Delivery, error)
	MarkDeliveries(ctx context.Context, marks []store.DeliveryMark, now time.Time) ([]error, error)
	RecordBounce(ctx context.Context, subscriberID int64, limit int) (bool, error)
	SubscriberByEmail(ctx context.Context, email string) (store.Subscriber, error)
	// For Status.
	DeliveryCounts(ctx context.Context, issueID int64) (map[store.DeliveryStatus]int, error)
	Recipients(ctx context.Context, list string) (int, error)
}

// Links makes a subscriber's personal links.
type Links interface {
	UnsubscribeLink(subscriberID int64, list string) (string, error)
	PreferencesLink(subscriberID int64) (string, error)
}

// Options configures a Service.
type Options struct {
	Store       Store
	Newsletters []Newsletter
	Emails      Emails
	Transport   mail.Transport
	Links       Links
	From        netmail.Address
	ReplyTo     *netmail.Address
	Site        string // site.title
	Sender      string // the sender's identity in the footer; From when empty
	BaseURL     string
	Lang        string
	// Location is the zone of the Date header (site.timezone).
	Location *time.Location
	Logger   *slog.Logger
	Now      func() time.Time
	// BounceLimit is subscribe.bounce_limit.
	BounceLimit int
	// ReturnPath gives each copy its envelope sender (a VERP address
	// naming the issue and subscriber); nil sends from From.
	ReturnPath func(issueID, subscriberID int64) string
	// Bounces, when not nil, is told of each recipient the relay refuses
	// for good (Source "smtp"), so that one policy applies to every
	// bounce; nil counts it with Store.RecordBounce.
	Bounces bounce.Recorder
	// Workers is how many batches are sent at once (mail.smtp.connections);
	// Batch how many deliveries one claim takes (default 20).
	Workers, Batch int
	// Lease is how long a claim holds its deliveries (default 15 s). The
	// holder renews it while it sends, so a live sender never loses its
	// claim and a dead one's deliveries are taken over one lease later.
	Lease time.Duration
	// RetryBase, RetryMax and MaxAttempts are the backoff of temporary
	// failures, as for the outbox (1 minute doubling to 6 hours, 10 sends).
	RetryBase, RetryMax time.Duration
	MaxAttempts         int
	// Poll is how often Run looks for due issues and deliveries (1 s).
	Poll time.Duration
	// StopGrace is how long sends in flight may go on after a stop (30 s).
	StopGrace time.Duration
	// Holder names this process among those sharing the store (for the
	// scheduler lease); random when empty. LeaderTTL is how long the
	// scheduler lease lasts without renewal (10 s).
	Holder    string
	LeaderTTL time.Duration
	// Observe is told of issues made and deliveries ended (metrics); nil
	// for none.
	Observe Observer
}

// Observer is told what the digest does, for metrics.
type Observer interface {
	IssueMade(list string)
	Delivered(list string, r Report)
}

// Service schedules, composes and delivers the newsletters' issues.
type Service struct {
	opts Options
	wake chan struct{}
	keys [4]string // placeholders of a reader's values (bulk.go)
	// making serialises the making of issues in this process: a tick and
	// a send-now never build on the same last issue (the store refuses
	// the second across processes).
	making  sync.Mutex
	orphans sync.Map // ids of issues of lists no longer configured, logged once

	listsMu sync.RWMutex // guards opts.Newsletters, which a reload replaces
}

// newsletters are the configured lists now.
func (s *Service) newsletters() []Newsletter {
	s.listsMu.RLock()
	defer s.listsMu.RUnlock()
	return s.opts.Newsletters
}

// SetNewsletters replaces the lists (a reloaded config). An issue being
// sent goes on; a list taken out keeps its issue until it comes back or
// is cancelled.
func (s *Service) SetNewsletters(lists []Newsletter) {
	s.listsMu.Lock()
	s.opts.Newsletters = lists
	s.listsMu.Unlock()
	s.Wake()
}

// New builds a Service.
func New(opts Options) *Service {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Workers <= 0 {
		opts.Workers = 1
	}
	if opts.Batch <= 0 {
		opts.Batch = 20
	}
	if opts.Lease <= 0 {
		opts.Lease = 15 * time.Second
	}
	if opts.RetryBase <= 0 {
		opts.RetryBase = time.Minute
	}
	if opts.RetryMax <= 0 {
		opts.RetryMax = 6 * time.Hour
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 10
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Second
	}
	if opts.StopGrace <= 0 {
		opts.StopGrace = 30 * time.Second
	}
	if opts.Sender == "" {
		opts.Sender = opts.From.String()
	}
	if opts.LeaderTTL <= 0 {
		opts.LeaderTTL = 10 * time.Second
	}
	if opts.Holder == "" {
		k := personalKeys()
		opts.Holder = k[0][3:19] // 16 random hex digits
	}
	opts.BaseURL = strings.TrimRight(opts.BaseURL, "/")
	return &Service{opts: opts, wake: make(chan struct{}, 1), keys: personalKeys()}
}

// Newsletter returns the configured list with id.
func (s *Service) Newsletter(id string) (Newsletter, error) {
	lists := s.newsletters()
	for _, n := range lists {
		if n.ID == id {
			return n, nil
		}
	}
	ids := make([]string, 0, len(lists))
	for _, n := range lists {
		ids = append(ids, n.ID)
	}
	if len(ids) == 0 {
		return Newsletter{}, fmt.Errorf("newsletter %q: %w (no newsletters are configured)", id, ErrUnknownList)
	}
	return Newsletter{}, fmt.Errorf("newsletter %q: %w (configured: %s)", id, ErrUnknownList, strings.Join(ids, ", "))
}

// Made is what making an issue did: the issue and its deliveries, or the
// reason there is none (no new articles).
type Made struct {
	Issue      store.Issue
	Deliveries int
	Reason     string // set when no issue was made
}

// Window is the span of visibility an issue covers: (Start, End].
type Window struct {
	Start, End time.Time
	First      bool // the list has no issue yet
}

// period is the length of one schedule period ending at run.
func (n Newsletter) period(run time.Time) time.Duration {
	prev := n.Schedule.Previous(run.Add(-time.Nanosecond))
	if prev.IsZero() {
		return 24 * time.Hour
	}
	return run.Sub(prev)
}

// Due reports the window of a list's next issue when its run is at or
// before now. A list that has never sent is due at the first run after it
// was first seen, and its first issue covers one schedule period.
func (s *Service) Due(ctx context.Context, n Newsletter, now time.Time) (Window, bool, error) {
	last, err := s.opts.Store.LastIssue(ctx, n.ID)
	if errors.Is(err, store.ErrNotFound) {
		started, err := s.opts.Store.ListStart(ctx, n.ID, now)
		if err != nil {
			return Window{}, false, err
		}
		run, due := n.Schedule.Due(started, now)
		if !due {
			return Window{End: run, First: true}, false, nil
		}
		return Window{Start: run.Add(-n.period(run)), End: run, First: true}, true, nil
	}
	if err != nil {
		return Window{}, false, err
	}
	run, due := n.Schedule.Due(last.WindowEnd, now)
	return Window{Start: last.WindowEnd, End: run}, due, nil
}

// NowWindow is the window of an issue sent now, out of schedule: from the
// last issue (or one period back for a list without one) to now.
func (s *Service) NowWindow(ctx context.Context, n Newsletter, now time.Time) (Window, error) {
	last, err := s.opts.Store.LastIssue(ctx, n.ID)
	if errors.Is(err, store.ErrNotFound) {
		return Window{Start: now.Add(-n.period(n.Schedule.Next(now))), End: now, First: true}, nil
	}
	if err != nil {
		return Window{}, err
	}
	return Window{Start: last.WindowEnd, End: now}, nil
}

// Compose selects the articles of n's issue for w: visible in the window,
// published within max_age, in the list's categories, newest first.
func (s *Service) Compose(ctx context.Context, n Newsletter, w Window) ([]article.Article, error) {
	q := store.WindowQuery{After: w.Start, Until: w.End, Categories: n.Categories, Limit: n.MaxArticles}
	if n.MaxAge > 0 {
		q.PublishedSince = w.End.Add(-n.MaxAge)
	}
	arts, err := s.opts.Store.WindowArticles(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("compose %s: %w", n.ID, err)
	}
	return arts, nil
}

// issue is the render data of an issue of n.
func (s *Service) issue(n Newsletter, number int, date time.Time, arts []article.Article) Issue {
	return Issue{
		List: List{ID: n.ID, Title: n.Title}, Number: number, Date: date, Articles: arts,
		Site: s.opts.Site, Sender: s.opts.Sender, BaseURL: s.opts.BaseURL, Lang: s.opts.Lang,
		Location: n.Location, Subject: n.Subject, TemplateID: n.Template,
	}
}

// Preview renders the issue n would send now, from since when not zero,
// as the archive shows it and for an example reader.
func (s *Service) Preview(ctx context.Context, list string, since time.Time) (Issue, error) {
	n, err := s.Newsletter(list)
	if err != nil {
		return Issue{}, err
	}
	now := s.opts.Now()
	w, err := s.NowWindow(ctx, n, now)
	if err != nil {
		return Issue{}, err
	}
	number := 1
	if last, err := s.opts.Store.LastIssue(ctx, n.ID); err == nil {
		number = last.Number + 1
	}
	if !since.IsZero() {
		w.Start = since
	}
	arts, err := s.Compose(ctx, n, w)
	if err != nil {
		return Issue{}, err
	}
	return s.issue(n, number, now, arts), nil
}

// make stores the issue of n for w and its deliveries, unless it has no
// articles.
func (s *Service) make(ctx context.Context, n Newsletter, w Window) (Made, error) {
	arts, err := s.Compose(ctx, n, w)
	if err != nil {
		return Made{}, err
	}
	if len(arts) == 0 {
		return Made{Reason: fmt.Sprintf("no new articles for %s between %s and %s", n.ID,
			w.Start.In(n.Location).Format(time.RFC3339), w.End.In(n.Location).Format(time.RFC3339))}, nil
	}
	number := 1
	if last, err := s.opts.Store.LastIssue(ctx, n.ID); err == nil {
		number = last.Number + 1
	}
	is := s.issue(n, number, w.End, arts)
	archived, err := is.Render(s.opts.Emails, Recipient{})
	if err != nil {
		return Made{}, fmt.Errorf("render issue %d of %s: %w", number, n.ID, err)
	}
	ids := make([]string, len(arts))
	for i, a := range arts {
		ids[i] = a.ID
	}
	stored, count, err := s.opts.Store.CreateIssue(ctx, store.Issue{
		List: n.ID, WindowStart: w.Start, WindowEnd: w.End, Subject: archived.Subject,
		HTML: archived.HTML, Text: archived.Text, ArticleIDs: ids, CreatedAt: s.opts.Now(),
	})
	if err != nil {
		return Made{}, err
	}
	s.opts.Logger.Info("digest: issue made", "list", n.ID, "issue", stored.Number, "articles", len(arts), "deliveries", count)
	if s.opts.Observe != nil {
		s.opts.Observe.IssueMade(n.ID)
	}
	s.Wake()
	return Made{Issue: stored, Deliveries: count}, nil
}

// Tick makes the issue of every list that is due at now. Two ticks (or
// two processes) never make two issues of one run: the store refuses the
// second.
func (s *Service) Tick(ctx context.Context, now time.Time) ([]Made, error) {
	var made []Made
	var errs []error
	s.making.Lock()
	defer s.making.Unlock()
	for _, n := range s.newsletters() {
		w, due, err := s.Due(ctx, n, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("schedule of %s: %w", n.ID, err))
			continue
		}
		if !due {
			continue
		}
		m, err := s.make(ctx, n, w)
		if errors.Is(err, store.ErrConflict) {
			continue // made by another tick or process
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if m.Issue.ID != 0 {
			made = append(made, m)
		}
	}
	return made, errors.Join(errs...)
}

// SendNow makes the issue of list now, whatever its schedule: the articles
// since the last issue.
func (s *Service) SendNow(ctx context.Context, list string) (Made, error) {
	n, err := s.Newsletter(list)
	if err != nil {
		return Made{}, err
	}
	s.making.Lock()
	defer s.making.Unlock()
	w, err := s.NowWindow(ctx, n, s.opts.Now())
	if err != nil {
		return Made{}, err
	}
	return s.make(ctx, n, w)
}

// Cancel stops the issue of list in progress; a list no longer in the
// config can still have its last issue cancelled.
func (s *Service) Cancel(ctx context.Context, list string) (store.Issue, int, error) {
	is, n, err := s.opts.Store.CancelIssue(ctx, list, s.opts.Now())
	if errors.Is(err, store.ErrNotFound) {
		if _, lerr := s.Newsletter(list); lerr != nil {
			return store.Issue{}, 0, lerr
		}
	}
	return is, n, err
}

// nextRun is the earliest scheduled run after now of any list.
func (s *Service) nextRun(now time.Time) time.Time {
	var next time.Time
	for _, n := range s.newsletters() {
		if t := n.Schedule.Next(now); !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// Wake makes Run look for work now.
func (s *Service) Wake() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Run makes due issues and delivers them until ctx ends. Scheduling and
// delivery run apart, so that a long send does not hold back another
// list's issue. Sends in flight at the end may finish within StopGrace.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.runSchedule(ctx) })
	s.runDelivery(ctx)
	wg.Wait()
}

// runSchedule makes each list's issue when it is due.
func (s *Service) runSchedule(ctx context.Context) {
	leading := false
	defer func() {
		// Always: a renewal cut by the stop may have taken the lease
		// without this loop knowing, and only our own lease is released.
		release, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := s.opts.Store.ReleaseLease(release, schedulerLease, s.opts.Holder); err != nil {
			s.opts.Logger.Warn("digest: giving up the scheduler", "err", err)
		}
	}()
	for {
		now := s.opts.Now()
		// With several processes on one store, the holder of the lease
		// makes the issues; another takes over within a lease of its end.
		// A renewal stuck behind a long write must not outlast the lease.
		renew, cancelRenew := context.WithTimeout(ctx, s.opts.LeaderTTL/3)
		held, err := s.opts.Store.AcquireLease(renew, schedulerLease, s.opts.Holder, now, s.opts.LeaderTTL)
		cancelRenew()
		switch {
		case err != nil:
			// Unknown whether the lease is ours: no tick this round.
			if ctx.Err() == nil {
				s.opts.Logger.Warn("digest: the scheduler lease", "err", err)
			}
		case held != leading:
			leading = held
			s.opts.Logger.Info("digest: scheduler", "leading", leading, "holder", s.opts.Holder)
		}
		if held {
			if _, err := s.Tick(ctx, now); err != nil && ctx.Err() == nil {
				s.opts.Logger.Warn("digest: scheduling", "err", err)
			}
		}
		wait := s.opts.Poll
		if next := s.nextRun(now); !next.IsZero() {
			wait = min(wait, max(next.Sub(s.opts.Now()), 0))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// schedulerLease is renewed on every tick (each second), so a dead leader
// is replaced within LeaderTTL.
const schedulerLease = "scheduler"

// runDelivery sends what is due, when an issue is made or retries come
// due.
func (s *Service) runDelivery(ctx context.Context) {
	var relay relayWatch // a relay down is logged once and waited for (deliver.go)
	for {
		r, err := s.DeliverDue(ctx, nil)
		wait, logged := relay.after(s.opts.Logger, r, err, s.opts.Poll)
		if err != nil && !logged && ctx.Err() == nil {
			s.opts.Logger.Warn("digest: delivery", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-time.After(wait):
		}
	}
}

// narrow keeps the articles in a subscriber's preferred categories (none:
// all of them).
func narrow(arts []article.Article, categories []string) []article.Article {
	if len(categories) == 0 {
		return arts
	}
	var out []article.Article
	for _, a := range arts {
		if slices.ContainsFunc(a.Categories, func(c article.Category) bool { return slices.Contains(categories, c.Slug) }) {
			out = append(out, a)
		}
	}
	return out
}
