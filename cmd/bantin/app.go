package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/metrics"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/postgres"
	"github.com/bantin/bantin/internal/store/sqlite"
)

// app is what most commands need: the config, a logger and the store.
type app struct {
	cfg    *config.Config
	logger *slog.Logger
	store  store.Store
	now    func() time.Time
	// metrics is set by serve; the other commands count nothing.
	metrics *metrics.Metrics
	// bounces is the return path and bounce policy, built once (bounceKit).
	bounces *bounceParts
}

func loadConfig(opts *options) (*config.Config, error) {
	return config.Load(config.LoadOptions{Path: opts.configPath})
}

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	level := slog.LevelInfo
	switch strings.ToLower(cfg.Log.Level) {
	case "debug":
		level = slog.LevelDebug
	case "warn", "warning":
		level = slog.LevelWarn
	case "error":
		level = slog.LevelError
	}
	hopts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, hopts))
	}
	return slog.New(slog.NewTextHandler(w, hopts))
}

// openApp loads the config and opens the store, applying pending
// migrations so that every command works on a fresh data folder.
func openApp(ctx context.Context, opts *options) (*app, error) {
	cfg, err := loadConfig(opts)
	if err != nil {
		return nil, err
	}
	return openAppConfig(ctx, cfg, opts)
}

// openAppConfig is openApp on a config loaded already.
func openAppConfig(ctx context.Context, cfg *config.Config, opts *options) (*app, error) {
	logger := newLogger(cfg, opts.stderr)
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	if _, err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, err
	}
	return &app{cfg: cfg, logger: logger, store: st, now: time.Now}, nil
}

// openAppReadOnly is openApp for the commands that only read (articles
// list and show, subscribers list and export, sources list, digest
// preview): it opens the store the config names and never makes one, nor
// migrates it. A store that is not there (a relative storage.dsn read from
// another folder, a typo) is an error naming the path, rather than an
// empty store that answers "nothing".
func openAppReadOnly(ctx context.Context, opts *options) (*app, error) {
	cfg, err := loadConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.Storage.Driver == "sqlite" {
		if err := storeExists(cfg); err != nil {
			return nil, err
		}
	}
	st, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	// Ping also says whether migrations are pending: a store of an older
	// version is migrated by serve or migrate, not by a read.
	if err := st.Ping(ctx); err != nil {
		st.Close()
		if errors.Is(err, store.ErrMigrationsPending) {
			return nil, fmt.Errorf("the store at %s (storage.dsn) is not set up for this version: its migrations are pending; run bantin serve or bantin migrate first",
				cfg.Masked().Storage.DSN)
		}
		return nil, fmt.Errorf("store: %w", err)
	}
	return &app{cfg: cfg, logger: newLogger(cfg, opts.stderr), store: st, now: time.Now}, nil
}

// storeExists checks that the SQLite file of storage.dsn is there and
// not empty, naming the path (absolute) and where it was set.
func storeExists(cfg *config.Config) error {
	path := cfg.Storage.DSN
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) || (err == nil && info.Size() == 0):
		return fmt.Errorf("no store at %s (storage.dsn); run bantin serve or bantin migrate first, or check storage.dsn", abs)
	case err != nil:
		return fmt.Errorf("store %s: %w", abs, err)
	case info.IsDir():
		return fmt.Errorf("store %s (storage.dsn) is a folder; storage.dsn names the database file, such as data/bantin.db", abs)
	}
	return nil
}

func openStore(ctx context.Context, cfg *config.Config) (store.Store, error) {
	switch cfg.Storage.Driver {
	case "sqlite":
		return sqlite.Open(ctx, cfg.Storage.DSN)
	case "postgres":
		return postgres.Open(ctx, cfg.Storage.DSN)
	default:
		return nil, fmt.Errorf("storage.driver %q: use sqlite or postgres", cfg.Storage.Driver)
	}
}

func (a *app) close() error { return a.store.Close() }

func (a *app) normalizer() (*article.Normalizer, error) {
	return article.NewNormalizer(article.NormalizerOptions{
		BaseURL:   a.cfg.Site.BaseURL,
		Location:  a.cfg.Location(),
		ParseTime: ingest.ParseDate,
		// One article's categories, from the API, a file or a feed entry.
		MaxCategories: a.cfg.Limits.Categories,
		// "Kinh tế" or "kt" in an article is the config's kt.
		Categories: configCategories(a.cfg),
	})
}

// feeds builds the feed service on the store.
func (a *app) feeds() *feed.Service {
	return feed.NewService(feed.ServiceOptions{
		Renderer:      feedRenderer(a.cfg),
		Source:        a.store,
		Items:         a.cfg.Feeds.Items,
		Now:           a.now,
		Logger:        a.logger,
		ObserveRender: a.metricsRender(),
		ObserveCache:  a.metricsCache(),
		// Rendered documents are held up to limits.feed_cache; the home
		// page links limits.home_categories category feeds.
		CacheBytes:        int64(a.cfg.Limits.FeedCache),
		ObserveCacheBytes: a.metricsCacheBytes(),
		HomeCategories:    a.cfg.Limits.HomeCategories,
	})
}

// feedRenderer writes feeds as cfg says: the site, the hubs, the
// categories' titles, full content or summaries.
func feedRenderer(cfg *config.Config) *feed.Renderer {
	categories := map[string]feed.CategoryInfo{}
	for _, c := range cfg.Categories {
		categories[c.Slug] = feed.CategoryInfo{Title: c.Title, Description: c.Description}
	}
	return feed.NewRenderer(feed.Options{
		Site: feed.Site{
			Title: cfg.Site.Title, Description: cfg.Site.Description, BaseURL: cfg.Site.BaseURL,
			Language: cfg.Site.Language, Location: cfg.Location(),
		},
		FullContent: cfg.Feeds.FullContent,
		// The built-in hub first, then those the admin names.
		Hubs:       append([]string{strings.TrimRight(cfg.Site.BaseURL, "/") + "/websub"}, cfg.Feeds.WebSubHubs...),
		Categories: categories,
	})
}

func (a *app) importer() (*ingest.Importer, error) {
	n, err := a.normalizer()
	if err != nil {
		return nil, err
	}
	return ingest.NewImporter(ingest.ImporterOptions{
		Normalizer: n,
		Store:      a.store,
		Location:   a.cfg.Location(),
		Now:        a.now,
		Observe:    a.metricsIngest(),
		Images:     a.imageLookup(),
	}), nil
}
