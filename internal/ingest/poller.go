package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// Source is one upstream feed to poll (an entry of ingest.sources).
type Source struct {
	Name     string
	URL      string
	Category string // added to every entry's categories; "" for none
	Interval time.Duration
	Enabled  bool
}

// SourceStore keeps the sources' state between polls, and tells the
// articles their entries already made.
type SourceStore interface {
	SourceStates(ctx context.Context) ([]store.SourceState, error)
	SaveSourceState(ctx context.Context, st store.SourceState) error
	Article(ctx context.Context, id string) (article.Article, error)
}

// PollerOptions configures a Poller.
type PollerOptions struct {
	Sources  []Source
	Store    SourceStore
	Importer *Importer
	Logger   *slog.Logger
	Now      func() time.Time
	Location *time.Location // site.timezone, for dates without a zone
	// Client makes the requests; its Timeout bounds a whole fetch (30 s
	// when nil). Its CheckRedirect is replaced.
	Client *http.Client
	// MaxBody bounds a feed document (20 MiB when zero).
	MaxBody int64
	// MaxRedirects bounds a redirect chain (5 when zero).
	MaxRedirects int
	// Parallel is how many sources are fetched at once (8 when zero).
	Parallel int
	// UserAgent names bantin to the publishers it reads.
	UserAgent string
	// Observe is told every poll's result (metrics); nil for none.
	Observe func(PollResult)
}

// Poller fetches upstream feeds on their intervals and imports their
// entries as articles. One source's failure never stops the others: it
// backs off alone.
type Poller struct {
	opts PollerOptions
	mu   sync.Mutex // serialises polls of one source (Run and PollNow)
	busy map[string]bool

	sourcesMu sync.RWMutex
	sources   []Source
	changed   chan struct{} // wakes Run when the sources change
}

// NewPoller builds a Poller.
func NewPoller(opts PollerOptions) *Poller {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Client == nil {
		opts.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 20 << 20
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = 5
	}
	if opts.Parallel <= 0 {
		opts.Parallel = 8
	}
	if opts.UserAgent == "" {
		opts.UserAgent = "bantin (feed reader)"
	}
	return &Poller{opts: opts, busy: map[string]bool{}, sources: opts.Sources, changed: make(chan struct{}, 1)}
}

// Sources are the configured sources.
func (p *Poller) Sources() []Source {
	p.sourcesMu.RLock()
	defer p.sourcesMu.RUnlock()
	return p.sources
}

// SetSources replaces the sources (a reloaded config). A source whose URL
// changed starts over at its new address; one removed is no longer
// polled; its articles stay.
func (p *Poller) SetSources(sources []Source) {
	p.sourcesMu.Lock()
	p.sources = sources
	p.sourcesMu.Unlock()
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// PollResult is what one poll of a source did.
type PollResult struct {
	Source      string
	URL         string // fetched from
	Status      int    // HTTP status; 0 when none came
	NotModified bool
	MovedTo     string // the new address after a permanent redirect
	Entries     int
	Summary     Summary
	Changed     []Result // created and updated entries
	Rejected    []Result
	Next        time.Time
	Err         error
}

// statusError is an HTTP answer that is not a feed.
type statusError struct {
	code       int
	status     string
	retryAfter time.Duration // from Retry-After, for 429 and 503
}

func (e *statusError) Error() string { return "HTTP " + e.status }

// errTooLarge is a feed larger than MaxBody.
var errTooLarge = errors.New("the feed is larger than the limit")

// Run polls each enabled source when it is due until ctx ends.
func (p *Poller) Run(ctx context.Context) {
	sem := make(chan struct{}, p.opts.Parallel)
	// polled wakes the loop when a poll ends: the source's next time, set
	// by that poll, may be the earliest (an interval under a minute).
	polled := make(chan struct{}, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	var lastRound time.Time
	for {
		// A round at most once a second, whatever wakes the loop: a
		// source whose state cannot be saved stays due, and must not be
		// fetched again and again.
		if wait := time.Second - time.Since(lastRound); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		lastRound = time.Now()
		states, err := p.states(ctx)
		if err != nil {
			// Without their state every source would look due and start
			// over: skip the round.
			if ctx.Err() == nil {
				p.opts.Logger.Warn("sources: reading their state; trying again in 10 s", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Second):
			}
			continue
		}
		now := p.opts.Now()
		next := now.Add(time.Minute)
		for _, src := range p.Sources() {
			if !src.Enabled {
				continue
			}
			st := states[src.Name]
			// A source whose address changed in the config starts over:
			// due now, whatever the old address's backoff.
			if st.URL == src.URL && st.NextPoll.After(now) {
				next = minTime(next, st.NextPoll)
				continue
			}
			if !p.claim(src.Name) {
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				p.release(src.Name)
				return
			}
			wg.Go(func() {
				defer func() {
					<-sem
					p.release(src.Name)
					select {
					case polled <- struct{}{}:
					default:
					}
				}()
				// A poll that ended while this one waited for a slot
				// has moved the state on: read it again.
				fresh, err := p.states(ctx)
				if err != nil {
					return
				}
				if st := fresh[src.Name]; st.URL != src.URL || !st.NextPoll.After(p.opts.Now()) {
					p.poll(ctx, src, st)
				}
			})
		}
		timer := time.NewTimer(max(next.Sub(p.opts.Now()), time.Second))
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-p.changed:
			timer.Stop()
		case <-polled:
			timer.Stop()
		case <-timer.C:
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func (p *Poller) claim(name string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.busy[name] {
		return false
	}
	p.busy[name] = true
	return true
}

func (p *Poller) release(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.busy, name)
}

// states reads the stored states by source name.
func (p *Poller) states(ctx context.Context) (map[string]store.SourceState, error) {
	list, err := p.opts.Store.SourceStates(ctx)
	out := make(map[string]store.SourceState, len(list))
	for _, st := range list {
		out[st.Name] = st
	}
	return out, err
}

// PollNow polls the source called name at once, whatever its schedule.
func (p *Poller) PollNow(ctx context.Context, name string) (PollResult, error) {
	for _, src := range p.Sources() {
		if src.Name != name {
			continue
		}
		if !p.claim(name) {
			return PollResult{}, fmt.Errorf("source %s is being polled already", name)
		}
		defer p.release(name)
		states, err := p.states(ctx)
		if err != nil {
			return PollResult{}, err
		}
		return p.poll(ctx, src, states[name]), nil
	}
	return PollResult{}, fmt.Errorf("no source %q in ingest.sources", name)
}

// poll fetches one source, imports its entries and records how it went.
func (p *Poller) poll(ctx context.Context, src Source, st store.SourceState) PollResult {
	if st.Name == "" || st.URL != src.URL {
		// New, or its address changed in the config: start over there.
		st = store.SourceState{Name: src.Name, URL: src.URL, FetchURL: src.URL}
	}
	res := PollResult{Source: src.Name, URL: st.FetchURL}
	started := p.opts.Now()
	body, resp, moved, err := p.fetch(ctx, st)
	st.LastFetch = started
	if resp != nil {
		res.Status, st.LastStatus = resp.StatusCode, resp.StatusCode
	} else {
		st.LastStatus = 0
	}
	if err == nil && moved != "" && moved != st.FetchURL {
		p.opts.Logger.Info("sources: the feed moved for good; polling it at its new address", "source", src.Name, "from", st.FetchURL, "to", moved)
		st.FetchURL, res.MovedTo = moved, moved
	}
	switch {
	case err != nil:
		res.Err = err
	case resp.StatusCode == http.StatusNotModified:
		res.NotModified = true
	default:
		res.Err = p.importFeed(ctx, src, st, body, &res)
		if res.Err == nil {
			// Validators only for a feed that was read and stored: a
			// 304 must never hide entries that did not make it in.
			st.ETag, st.LastModified = resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
			st.Entries = res.Entries
		}
	}
	if res.Err != nil && ctx.Err() != nil {
		// Stopped in the middle (a shutdown): not the source's failure,
		// and nothing learnt about it.
		res.Next = st.NextPoll
		return res
	}
	if res.Err != nil {
		st.Failures++
		st.LastError = res.Err.Error()
		st.NextPoll = p.opts.Now().Add(p.backoff(src, st.Failures, res.Err))
		p.opts.Logger.Warn("sources: poll failed", "source", src.Name, "url", st.FetchURL, "status", st.LastStatus,
			"failures", st.Failures, "next", st.NextPoll, "err", res.Err)
	} else {
		st.Failures, st.LastError = 0, ""
		st.NextPoll = p.opts.Now().Add(jitter(src.Interval))
		p.opts.Logger.Info("sources: polled", "source", src.Name, "status", st.LastStatus, "not_modified", res.NotModified,
			"entries", res.Entries, "created", res.Summary.Created, "updated", res.Summary.Updated, "rejected", res.Summary.Rejected, "next", st.NextPoll)
	}
	res.Next = st.NextPoll
	if p.opts.Observe != nil {
		p.opts.Observe(res)
	}
	save, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := p.opts.Store.SaveSourceState(save, st); err != nil {
		p.opts.Logger.Warn("sources: recording a poll", "source", src.Name, "err", err)
	}
	return res
}

// jitter spreads polls of sources with one interval: ±10%.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		d = 30 * time.Minute
	}
	return time.Duration(float64(d) * (0.9 + 0.2*rand.Float64()))
}

// backoff is the wait after the failures-th failed poll in a row: the
// server's Retry-After when it gave one, else the interval doubling with
// each failure, from a minute at least to a day at most.
func (p *Poller) backoff(src Source, failures int, err error) time.Duration {
	var se *statusError
	if errors.As(err, &se) && se.retryAfter > 0 {
		return min(se.retryAfter, 24*time.Hour)
	}
	d := max(src.Interval, time.Minute)
	for i := 1; i < failures && d < 24*time.Hour; i++ {
		d *= 2
	}
	return jitter(min(d, 24*time.Hour))
}

// fetch GETs the feed with the stored validators. moved is the final
// address when every redirect on the way was permanent.
func (p *Poller) fetch(ctx context.Context, st store.SourceState) (body []byte, resp *http.Response, moved string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, st.FetchURL, nil)
	if err != nil {
		return nil, nil, "", fmt.Errorf("source URL %q: %w", st.FetchURL, err)
	}
	req.Header.Set("User-Agent", p.opts.UserAgent)
	req.Header.Set("Accept", "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.9, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5")
	if st.ETag != "" {
		req.Header.Set("If-None-Match", st.ETag)
	}
	if st.LastModified != "" {
		req.Header.Set("If-Modified-Since", st.LastModified)
	}
	client := *p.opts.Client
	permanent := true
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) > p.opts.MaxRedirects {
			return fmt.Errorf("more than %d redirects", p.opts.MaxRedirects)
		}
		if code := r.Response.StatusCode; code != http.StatusMovedPermanently && code != http.StatusPermanentRedirect {
			permanent = false
		}
		return nil
	}
	resp, err = client.Do(req)
	if err != nil {
		return nil, nil, "", fmt.Errorf("fetch %s: %w", st.FetchURL, err)
	}
	defer resp.Body.Close()
	if final := resp.Request.URL.String(); permanent && final != st.FetchURL {
		moved = final
	}
	switch {
	case resp.StatusCode == http.StatusNotModified:
		return nil, resp, moved, nil
	case resp.StatusCode == http.StatusTooManyRequests, resp.StatusCode == http.StatusServiceUnavailable:
		return nil, resp, moved, &statusError{code: resp.StatusCode, status: resp.Status, retryAfter: retryAfter(resp.Header.Get("Retry-After"), p.opts.Now())}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, resp, moved, &statusError{code: resp.StatusCode, status: resp.Status}
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, p.opts.MaxBody+1))
	if err != nil {
		return nil, resp, moved, fmt.Errorf("read %s: %w", st.FetchURL, err)
	}
	if int64(len(body)) > p.opts.MaxBody {
		return nil, resp, moved, fmt.Errorf("%w (%d MiB)", errTooLarge, p.opts.MaxBody>>20)
	}
	return body, resp, moved, nil
}

// keepFirstDate dates an entry that has only an updated date by the date
// its article was first given: that date is the entry's first updated
// date, and an edit must not move the article to the top of the feeds or
// into the next digest again. It is written in the zone of the new
// updated date, so an unchanged entry gives the same input as before.
//
// gofeed gives an Atom entry without <published> its <updated> as
// Published, so "only updated" is a Published equal to Updated; a real
// published date equal to the updated one keeps its value this way too.
func (p *Poller) keepFirstDate(ctx context.Context, item *gofeed.Item, in *article.Input) error {
	if (item.Published != "" && item.Published != item.Updated) || in.UpdatedAt == "" {
		return nil
	}
	a, err := p.opts.Store.Article(ctx, in.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("entry %s: %w", in.ID, err)
	}
	updated, err := time.Parse(time.RFC3339, in.UpdatedAt)
	if err != nil {
		return nil
	}
	in.PublishedAt = a.PublishedAt.In(updated.Location()).Format(time.RFC3339)
	return nil
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// importFeed parses a feed document and imports its entries.
func (p *Poller) importFeed(ctx context.Context, src Source, st store.SourceState, body []byte, res *PollResult) error {
	feed, err := gofeed.NewParser().Parse(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("read the feed at %s: %w", st.FetchURL, err)
	}
	base, _ := url.Parse(st.FetchURL)
	res.Entries = len(feed.Items)
	origin := "source " + src.Name
	var inputs []article.Input
	var lines []int
	seen := map[string]bool{}
	for i, item := range feed.Items {
		if item == nil {
			continue
		}
		in := EntryInput(src.Name, base, feed, item, p.opts.Location)
		if seen[in.ID] {
			// Two entries with one id (a CMS that repeats a GUID) would
			// overwrite each other on every poll: the first (newest)
			// keeps the id, a repeat goes by its link, else is left out.
			if in.URL == "" || seen[src.Name+":"+in.URL] {
				continue
			}
			in.ID = src.Name + ":" + in.URL
		}
		seen[in.ID] = true
		// An entry may carry thousands of categories: the first ones
		// up to limits.categories go in, where a file or the API is refused.
		if kept, dropped := p.opts.Importer.normalizer.FirstCategories(in.Categories, src.Category); dropped > 0 {
			p.opts.Logger.Warn("sources: entry has more categories than limits.categories; the first are kept",
				"source", src.Name, "entry", in.ID, "limit", p.opts.Importer.normalizer.MaxCategories(), "dropped", dropped)
			in.Categories = kept
		}
		if err := p.keepFirstDate(ctx, item, &in); err != nil {
			return err
		}
		inputs, lines = append(inputs, in), append(lines, i+1)
	}
	_, err = p.opts.Importer.Run(ctx, func(ctx context.Context, emit func(record) error) error {
		for i, in := range inputs {
			data, err := json.Marshal(in)
			if err != nil {
				return fmt.Errorf("entry %d: %w", lines[i], err)
			}
			if err := emit(record{format: FormatJSON, data: data, origin: Origin{Path: origin, Line: lines[i]}, category: src.Category}); err != nil {
				return err
			}
		}
		return nil
	}, func(r Result) {
		res.Summary.add(r)
		switch {
		case r.Err != nil:
			res.Rejected = append(res.Rejected, r)
		case r.Outcome == store.Created || r.Outcome == store.Updated:
			res.Changed = append(res.Changed, r)
		}
	})
	if err != nil {
		return fmt.Errorf("import the entries of %s: %w", src.Name, err)
	}
	return nil
}

// SourceStatus is a source as configured and as last polled.
type SourceStatus struct {
	Source
	State store.SourceState // zero until its first poll
}

// Status lists the configured sources with their state, in config order.
func (p *Poller) Status(ctx context.Context) ([]SourceStatus, error) {
	states, err := p.states(ctx)
	if err != nil {
		return nil, err
	}
	sources := p.Sources()
	out := make([]SourceStatus, 0, len(sources))
	for _, src := range sources {
		st := states[src.Name]
		if st.URL != src.URL {
			st = store.SourceState{} // polled at another address before the config changed
		}
		out = append(out, SourceStatus{Source: src, State: st})
	}
	return out, nil
}
