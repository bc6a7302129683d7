// Package sqlite is the embedded default store: one file, the pure-Go
// modernc.org/sqlite driver, no cgo.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/bantin/bantin/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

// pollInterval is how often the store looks for commits made by other
// processes; it bounds how stale a reader of Changes can be.
const pollInterval = 200 * time.Millisecond

var _ store.Store = (*Store)(nil)

// Store is a SQLite database file.
type Store struct {
	db *sql.DB
	// articles is the one connection SaveArticles uses, lookups the one
	// the import's lookups use (see Open).
	articles, lookups *sql.DB
	path              string

	mu         sync.Mutex
	changes    store.Signal    // the Changes subscribers
	categories map[string]bool // category slugs known to be stored
	pollOnce   sync.Once
	stop       context.CancelFunc
	stopped    chan struct{}
	marks      markStmts // MarkDeliveries' prepared statements (issues.go)
	ckpt       *checkpointer
}

// Open opens (creating if needed) the database file at path. It does not
// apply migrations: call Migrate.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, fmt.Errorf("open sqlite store: empty path (set storage.dsn)")
	}
	if dir := filepath.Dir(path); dir != "." {
		// A folder bantin makes for the store is its owner's only: the
		// store holds the link-signing key and subscribers' addresses.
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("open sqlite store: create folder for %s: %w", path, err)
		}
	}
	if err := create(ctx, path); err != nil {
		return nil, err
	}
	// WAL lets readers (feeds, pages) run while one writer commits; foreign
	// keys keep categories consistent with articles; the busy timeout makes a
	// second process (bantin ingest beside serve) wait for the lock instead
	// of failing; immediate transactions take the write lock at BEGIN, so two
	// writers never deadlock upgrading a read lock; secure_delete zeroes what
	// is deleted, so an erased subscriber leaves no bytes in free pages.
	// temp_store(MEMORY) keeps statement journals off disk: an insert into
	// articles writes 7 pages (the table, five indexes, the trigger's
	// counter), 112 KiB, past the 64 KiB SQLite holds in memory, so each
	// insert of an import wrote and truncated a temporary file (a third of
	// its system time).
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(NORMAL)", "wal_autocheckpoint(4096)", "secure_delete(ON)", "temp_store(MEMORY)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	if err := private(path); err != nil {
		db.Close()
		return nil, err
	}
	// One connection for the import's saves, so that its cache stays
	// valid: a connection empties its whole cache when another one
	// committed since its last use, and in the pool, where the batches and
	// the lookups took turns at eight connections, most uses started from
	// an empty cache.
	articles, err := openOne(dsn + "&" + url.Values{"_pragma": {fmt.Sprintf("cache_size(-%d)", articleCacheKiB)}}.Encode())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	// The import's lookups (ArticleHashes, KnownSources) have a connection
	// of their own: on the articles one, a lookup waited for the save in
	// progress to commit (a transaction holds its connection), so the
	// workers could only look up between two saves and the writer waited
	// for their lookups in turn. A lookup sees what was committed before
	// it, as it did between two saves. Its cache is emptied by every
	// commit of the other connection, so it keeps SQLite's default size;
	// the keys of an IN list are looked up in order, each page read once.
	lookups, err := openOne(dsn)
	if err != nil {
		articles.Close()
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	// The checkpointer's connection (see checkpointer).
	ckpt, err := openOne(dsn)
	if err != nil {
		lookups.Close()
		articles.Close()
		db.Close()
		return nil, fmt.Errorf("open sqlite store %s: %w", path, err)
	}
	return &Store{db: db, articles: articles, lookups: lookups, ckpt: newCheckpointer(ckpt), path: path, categories: map[string]bool{}, stopped: make(chan struct{})}, nil
}

// openOne opens a pool of one connection, closed after a minute idle to
// give its cache back.
func openOne(dsn string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxIdleTime(time.Minute)
	return db, nil
}

// articleCacheKiB is the page cache of the articles connection (SQLite's
// default is 2 MiB). A batch of a bulk import dirties a leaf of each index
// for most of its articles; with 125 pages of 16 KiB the cache was spilled
// to the WAL mid-transaction, read back and written again at the commit.
// 64 MiB did no better and raised the peak memory by 60 MB.
const articleCacheKiB = 16 << 10

// pageSize is the page size of a new database file. Articles are a few KB
// each; 16 KiB pages hold one in a page or two rather than a chain of
// overflow pages, which halves the writes of a bulk import.
const pageSize = 16384

// create makes a new database file with bantin's page size. The page size
// can only be chosen before the first table exists and before WAL mode is
// on, so it is done here, once, on a connection of its own.
func create(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	// The file is made 0600 before the driver opens it, whatever the
	// umask: SQLite gives the -wal and -shm files it creates the main
	// file's mode. An empty file is an empty database.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create sqlite store %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("create sqlite store %s: %w", path, err)
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath())
	if err != nil {
		return fmt.Errorf("create sqlite store %s: %w", path, err)
	}
	defer db.Close()
	for _, pragma := range []string{fmt.Sprintf("PRAGMA page_size = %d", pageSize), "PRAGMA journal_mode = WAL"} {
		if _, err := db.ExecContext(ctx, pragma); err != nil {
			return fmt.Errorf("create sqlite store %s: %s: %w", path, pragma, err)
		}
	}
	return nil
}

// private takes group and other permissions off the store and its -wal
// and -shm files (0644 becomes 0600): the store holds the link-signing
// key. New files are made 0600 already (create); this covers a store made
// by an older bantin or copied in. A file bantin does not own is left as
// it is: only its owner may change its mode.
func private(path string) error {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("open sqlite store: %w", err)
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil && !errors.Is(err, fs.ErrPermission) {
			return fmt.Errorf("open sqlite store: make %s private: %w", p, err)
		}
	}
	return nil
}

func (s *Store) provider() (*goose.Provider, error) {
	sub, err := fsSub()
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(goose.DialectSQLite3, s.db, sub)
}

// Migrate applies every pending migration, each in its own transaction.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	p, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", s.path, err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate %s: %w", s.path, err)
	}
	var applied []string
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// Ping checks that the file answers and that no migration is pending.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("ping %s: %w", s.path, err)
	}
	p, err := s.provider()
	if err != nil {
		return fmt.Errorf("ping %s: %w", s.path, err)
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("ping %s: %w", s.path, err)
	}
	if pending {
		return fmt.Errorf("ping %s: %w", s.path, store.ErrMigrationsPending)
	}
	return nil
}

// Close stops the change poller and closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	stop := s.stop
	s.mu.Unlock()
	if stop != nil {
		stop()
		<-s.stopped
	}
	err := errors.Join(s.ckpt.close(), s.lookups.Close(), s.articles.Close(), s.db.Close())
	if err != nil {
		return fmt.Errorf("close %s: %w", s.path, err)
	}
	return nil
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// micro and fromMicro convert between time.Time and the stored integers.
func micro(t time.Time) int64 { return t.UnixMicro() }

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

// isUnique reports a UNIQUE constraint failure.
func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
