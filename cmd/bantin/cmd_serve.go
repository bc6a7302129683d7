package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/digest"
	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/metrics"
	"github.com/bantin/bantin/internal/subscriber"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/internal/websub"
	"github.com/bantin/bantin/templates"
)

// shutdownGrace bounds how long in-flight requests may take after SIGTERM.
const shutdownGrace = 10 * time.Second

func newServeCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon: feeds, pages, admin API, the watch folder and the newsletters",
		Long: `Run the daemon on the config's defaults or file: the HTTP server on
server.listen (the home page, feeds, article pages, /healthz, /readyz, and
the admin API when server.admin_token is set), the watch folder when
ingest.watch_dir is set, and the newsletters: each list's issue is made on
its schedule and delivered to its confirmed subscribers.
SIGTERM or SIGINT stops it gracefully; a second signal stops it at once.`,
		Example: `  bantin serve
  BANTIN_SERVER_ADMIN_TOKEN=$(openssl rand -hex 32) bantin serve
  bantin --config /etc/bantin/bantin.yaml serve`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return serve(ctx, stop, opts)
		},
	}
}

func serve(ctx context.Context, stopSignals func(), opts *options) error {
	// What would fail later (a DKIM key, a template set, a subject) fails
	// the start instead, as a config error: exit status 2.
	cfg, checks, err := loadChecked(opts)
	if err != nil {
		return err
	}
	a, err := openAppConfig(ctx, cfg, opts)
	if err != nil {
		return err
	}
	defer a.close()
	logger := a.logger
	if err := storeCategoryTitles(ctx, a.store, cfg); err != nil {
		return err
	}
	for _, w := range startWarnings(cfg) {
		logger.Warn(w)
	}
	// With several machines on one database, leases and claims compare
	// each machine's clock: say so when this one is off.
	if c, ok := a.store.(interface {
		ClockSkew(ctx context.Context) (time.Duration, error)
	}); ok {
		if skew, err := c.ClockSkew(ctx); err == nil && (skew > time.Second || skew < -time.Second) {
			logger.Warn("this machine's clock differs from the database's; keep clocks in sync (NTP), or processes may take over each other's deliveries",
				"skew", skew.Round(time.Millisecond))
		}
	}
	a.metrics = metrics.New()
	a.metrics.AddGauges(a.store, logger)

	tmpl := checks.templates
	normalizer, err := a.normalizer()
	if err != nil {
		return err
	}
	importer, err := a.importer()
	if err != nil {
		return err
	}
	transport, err := a.transport()
	if err != nil {
		return err
	}
	defer transport.Close()
	outbox := a.outbox(transport, logger)
	subs, err := a.subscribers(ctx, outbox, tmpl)
	if err != nil {
		return err
	}
	holder := processName()
	digests, err := a.digestService(tmpl, transport, subs, holder)
	if err != nil {
		return err
	}
	proxies, err := trustedProxies(cfg.Server.TrustedProxies)
	if err != nil {
		return err
	}
	signupLimit, signupPeriod, err := cfg.Subscribe.ParsedRateLimit()
	if err != nil {
		return fmt.Errorf("subscribe.rate_limit: %w", err)
	}

	poller := a.poller(importer)
	// The bounce mailbox (bounces.imap), nil while its host is empty.
	kit, err := a.bounceKit(ctx)
	if err != nil {
		return err
	}
	bounceBox := a.bounceMailbox(kit.policy, kit.parseOptions(), logger)
	// The providers' webhooks (bounces.ses, .mailgun, .postmark, .sendgrid).
	bounceHooks, err := a.bounceWebhooks(ctx)
	if err != nil {
		return err
	}
	feeds := a.feeds()
	hub := websub.New(websub.Options{
		Store: a.store, Feeds: feeds, BaseURL: cfg.Site.BaseURL, ExternalHubs: cfg.Feeds.WebSubHubs,
		AllowPrivate: cfg.Feeds.WebSubAllowPrivate, Logger: logger, Now: a.now, ObserveDelivery: a.metricsWebSub(),
		PerHost: cfg.Limits.WebSubPerHost,
	})
	server := web.New(web.Options{
		Site: web.Site{
			Title: cfg.Site.Title, Description: cfg.Site.Description, BaseURL: cfg.Site.BaseURL,
			Language: cfg.Site.Language, Location: cfg.Location(),
		},
		Store:      a.store,
		Normalizer: normalizer,
		Templates:  tmpl,
		AdminToken: cfg.Server.AdminToken,
		Logger:     logger,
		Now:        a.now,
		Feeds:      feeds,
		WebSub:     hub,
		// The subscription pages serve the config's newsletters.
		Subscriptions:   subs,
		SubscriberAdmin: subs,
		Archive:         a.store,
		Newsletters:     digests,
		Sources:         poller,
		Bounces:         a.store,
		BounceWebhooks:  bounceHooks,
		Metrics:         a.metrics.Handler(),
		FeedRequest:     a.metricsFeedRequest(),
		ObserveIngest:   a.metricsAPIIngest(),
		TrustedProxies:  proxies,
		SignupLimit:     signupLimit,
		SignupPeriod:    signupPeriod,
		AllowedOrigins:  cfg.Subscribe.AllowedOrigins,
		// GET /api/v1/newsletters: where each list stands.
		NewsletterStatus: digests,
	})

	ln, err := listen(cfg, proxies, logger)
	if err != nil {
		return err
	}
	httpServer := &http.Server{
		Handler:        server,
		MaxHeaderBytes: 64 << 10,
		// Feed responses reach their connection to send the headers and
		// the body's file together.
		ConnContext: web.ConnContext,
	}
	web.SetTimeouts(httpServer)

	// SIGHUP is caught before anything starts: its default action would
	// end the daemon.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	var wg sync.WaitGroup
	workCtx, stopWork := context.WithCancel(context.Background())
	defer stopWork()
	wg.Add(4)
	go func() {
		defer wg.Done()
		digests.Run(workCtx)
	}()
	go func() {
		defer wg.Done()
		feeds.Run(workCtx)
	}()
	go func() {
		defer wg.Done()
		outbox.Run(workCtx)
	}()
	go func() {
		defer wg.Done()
		// One process of several on one store pushes to WebSub
		// subscribers, or each would get every update once per process.
		whileLeading(workCtx, a.store, "websub", holder, logger, hub.Run)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		// One process polls the upstream feeds for all of them.
		whileLeading(workCtx, a.store, "sources", holder, logger, poller.Run)
	}()
	if bounceBox != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.runBounceMailbox(workCtx, bounceBox, holder, logger)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		// Sign-ups left pending past subscribe.confirm_ttl are deleted, at
		// start and hourly (in every process: deleting twice is harmless).
		subs.SweepStale(workCtx, time.Hour, logger)
	}()
	if cfg.Ingest.WatchDir != "" {
		watcher := ingest.NewWatcher(cfg.Ingest.WatchDir, importer, logger)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := watcher.Run(workCtx); err != nil {
				logger.Error("watch folder stopped", "err", err)
			}
		}()
	}

	// SIGHUP reloads what can change live; for now the upstream feeds
	// (ingest.sources). A config that does not load is refused and the
	// one running stays. SIGHUP's default action would end the process.
	if cfg.WatchConfig && cfg.Path != "" {
		if err := watchConfig(workCtx, cfg.Path, hup, logger); err != nil {
			logger.Error("watch_config: the config file is not watched; SIGHUP still reloads", "err", err)
		}
	}
	go func() {
		for range hup {
			next, err := reload(cfg, opts, tmpl, digests, subs, poller, feeds)
			if err != nil {
				logger.Error("reload: the new config is refused; the running one stays", "err", err)
				continue
			}
			if err := storeCategoryTitles(workCtx, a.store, next); err != nil {
				logger.Error("reload: the categories' titles are not stored", "err", err)
			}
			logger.Info("reload: newsletters, upstream feeds, feed settings and templates reloaded",
				"newsletters", len(next.Newsletters), "sources", len(next.Ingest.Sources))
			if later := restartOnly(cfg, next); len(later) > 0 {
				logger.Warn("reload: these changed but take a restart", "keys", strings.Join(later, ", "))
			}
		}
	}()

	serveErr := make(chan error, 1)
	go func() { serveErr <- httpServer.Serve(ln) }()
	logger.Info("bantin serving", "addr", ln.Addr().String(), "base_url", cfg.Site.BaseURL,
		"store", cfg.Storage.Driver, "config", cfg.Path, "admin_api", cfg.Server.AdminToken != "", "version", versionString())

	select {
	case err := <-serveErr:
		stopWork()
		wg.Wait()
		return fmt.Errorf("http server: %w", err)
	case <-ctx.Done():
	}
	// A second signal now gets the default behaviour: exit at once.
	stopSignals()
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := httpServer.Shutdown(shutdownCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		logger.Warn("http shutdown", "err", err)
	}
	stopWork()
	wg.Wait()
	// Calls to subscribers in flight get a moment to finish; stalled ones
	// are cut rather than waited for.
	hubCtx, hubCancel := context.WithTimeout(context.Background(), 2*time.Second)
	hub.Close(hubCtx)
	hubCancel()
	logger.Info("stopped")
	return nil
}

// fileReserve is the open files serve needs besides the HTTP
// connections: the store, SMTP and WebSub connections, upstream polls,
// the watch folder, the log (256), and the feed cache's memory files.
const fileReserve = 256 + feed.MaxMemoryFiles

// listen opens server.listen, taking at most limits.connections
// connections at once: the next waits in the kernel's queue until one
// ends, so a flood of slow clients cannot exhaust the open files. The
// soft limit on open files is raised to the hard one first, and a cap the
// files cannot carry is logged.
func listen(cfg *config.Config, proxies []netip.Prefix, logger *slog.Logger) (net.Listener, error) {
	files, err := raiseFileLimit()
	if err != nil {
		logger.Warn("open files limit", "err", err)
	}
	if limit := uint64(cfg.Limits.Connections); limit+fileReserve > files {
		logger.Warn("limits.connections is above what the open files limit allows; raise the limit (LimitNOFILE= in the systemd unit, ulimit -n) or lower limits.connections",
			"limits.connections", cfg.Limits.Connections, "open_files", files, "reserve", fileReserve)
	}
	ln, err := net.Listen("tcp", cfg.Server.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (server.listen): %w", cfg.Server.Listen, err)
	}
	// The share of one client is taken inside the global cap: a
	// connection over its share is closed at once and frees its slot.
	// This machine's own addresses are where a local reverse proxy (nginx
	// on 127.0.0.1) comes from, carrying every reader: not one client.
	exempt := func(a netip.Addr) bool {
		if a == netip.IPv6Loopback() || a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
			return true
		}
		for _, p := range proxies {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return web.LimitPerClient(web.LimitConnections(ln, cfg.Limits.Connections), cfg.Limits.ConnectionsPerClient, exempt), nil
}

// watchConfig turns changes of the config file into reloads, as SIGHUP
// does (watch_config: true). It watches the file's folder, since editors
// and deployment tools replace a file by renaming another onto it, and
// waits for writes to settle. The watch is in place when it returns; the
// events are read until ctx ends.
func watchConfig(ctx context.Context, path string, reloads chan<- os.Signal, logger *slog.Logger) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch_config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		w.Close()
		return fmt.Errorf("watch_config: %w", err)
	}
	if err := w.Add(filepath.Dir(abs)); err != nil {
		w.Close()
		return fmt.Errorf("watch_config: watch %s: %w", filepath.Dir(abs), err)
	}
	go configEvents(ctx, w, abs, path, reloads, logger)
	return nil
}

// configEvents reads the watcher's events until ctx ends.
func configEvents(ctx context.Context, w *fsnotify.Watcher, abs, path string, reloads chan<- os.Signal, logger *slog.Logger) {
	defer w.Close()
	var settle <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if filepath.Clean(ev.Name) == abs && ev.Op&(fsnotify.Write|fsnotify.Create|fsnotify.Rename) != 0 {
				settle = time.After(300 * time.Millisecond)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			logger.Warn("watch_config", "err", err)
		case <-settle:
			settle = nil
			logger.Info("watch_config: the config file changed; reloading", "path", path)
			select {
			case reloads <- syscall.SIGHUP:
			default: // a reload is pending already
			}
		}
	}
}

// reload reads the config again and applies what can change live: the
// newsletters, the upstream feeds and the templates. Everything is read
// and checked (checkConfig, as serve checks at start) before anything is
// applied: a config or a template that does not load changes nothing.
func reload(running *config.Config, opts *options, tmpl *templates.Set, digests *digest.Service, subs *subscriber.Service,
	poller *ingest.Poller, feeds *feed.Service) (*config.Config, error) {
	next, checks, err := loadChecked(opts)
	if err != nil {
		return nil, err
	}
	tmpl.Swap(checks.templates)
	digests.SetNewsletters(checks.newsletters)
	subs.SetLists(subscriberLists(next))
	poller.SetSources(sources(next))
	// Feed settings and categories change live; the site's own keys are
	// read at start by the pages too, so the feeds keep the running ones.
	look := *next
	look.Site = running.Site
	feeds.Reconfigure(feedRenderer(&look), next.Feeds.Items)
	return next, nil
}

// categoryNames are the slug and title of each category, what the
// normalizer files articles by.
func categoryNames(cs []config.Category) []string {
	out := make([]string, 0, 2*len(cs))
	for _, c := range cs {
		out = append(out, c.Slug, c.Title)
	}
	return out
}

// restartOnly names the parts of the config that changed but are read
// only at start.
func restartOnly(running, next *config.Config) []string {
	var out []string
	for _, c := range []struct {
		key     string
		was, is any
	}{
		{"site", running.Site, next.Site}, {"server", running.Server, next.Server}, {"storage", running.Storage, next.Storage},
		{"ingest.watch_dir", running.Ingest.WatchDir, next.Ingest.WatchDir}, {"mail", running.Mail, next.Mail},
		{"ingest.image_lookup", running.Ingest.ImageLookup, next.Ingest.ImageLookup},
		{"subscribe", running.Subscribe, next.Subscribe}, {"log", running.Log, next.Log},
		{"watch_config", running.WatchConfig, next.WatchConfig},
		// The bounce mailbox's poller is built at start.
		{"bounces.imap", running.Bounces.IMAP, next.Bounces.IMAP},
		// So are the providers' webhooks, with their keys.
		{"bounces.ses", running.Bounces.SES, next.Bounces.SES}, {"bounces.mailgun", running.Bounces.Mailgun, next.Bounces.Mailgun},
		{"bounces.postmark", running.Bounces.Postmark, next.Bounces.Postmark}, {"bounces.sendgrid", running.Bounces.SendGrid, next.Bounces.SendGrid},
		// The normalizer of the API, the importer and the poller is built
		// at start.
		{"limits.categories", running.Limits.Categories, next.Limits.Categories},
		// So is its map of the config's categories by slug and title: a
		// reload shows new titles at once, but articles are filed under a
		// new or renamed category only after a restart.
		{"categories", categoryNames(running.Categories), categoryNames(next.Categories)},
		// The feed service's cache and home page choice are set at start.
		{"limits.feed_cache", running.Limits.FeedCache, next.Limits.FeedCache},
		{"limits.home_categories", running.Limits.HomeCategories, next.Limits.HomeCategories},
	} {
		if !reflect.DeepEqual(c.was, c.is) {
			out = append(out, c.key)
		}
	}
	return out
}
