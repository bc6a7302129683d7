// Package postgres is the store for several processes on one database:
// PostgreSQL through pgx, with the same behaviour as the SQLite store.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/bantin/bantin/internal/store"
)

//go:embed migrations/*.sql
var migrations embed.FS

var _ store.Store = (*Store)(nil)

// Store is a PostgreSQL database (one schema of it: the connection's
// search_path decides which).
type Store struct {
	pool *pgxpool.Pool
	// schema is the connection's current schema; notifications of changes
	// name it, so that stores in other schemas of the database are ignored.
	schema string

	mu         sync.Mutex
	changes    store.Signal // the Changes subscribers
	listenOnce sync.Once
	stop       context.CancelFunc
	workers    sync.WaitGroup
	closeOnce  sync.Once
	stopped    chan struct{} // closed by Close
}

// Open connects to the database at dsn (a postgres:// URL or key=value
// string). It does not apply migrations: call Migrate.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if dsn == "" {
		return nil, errors.New("open postgres store: empty DSN (set storage.dsn)")
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The error of a bad DSN may quote it, password and all: say only
		// that it did not parse.
		return nil, errors.New("open postgres store: the DSN does not parse")
	}
	// pgxpool's default (the CPU count, at least 4) is too few for a
	// daemon whose delivery workers, marks, renewals, HTTP handlers and
	// listener each hold a connection at times: a mark waiting for one
	// past its timeout would mean a copy sent twice. A pool_max_conns in
	// the DSN wins.
	if !strings.Contains(dsn, "pool_max_conns") {
		cfg.MaxConns = max(cfg.MaxConns, 20)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open postgres store: %w", err)
	}
	var schema string
	if err := pool.QueryRow(ctx, `SELECT COALESCE(current_schema(), '')`).Scan(&schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("open postgres store %s: %w", cfg.ConnConfig.Host, err)
	}
	return &Store{pool: pool, schema: schema, stopped: make(chan struct{})}, nil
}

// provider builds the goose provider over a database/sql handle on the
// pool. The session lock lets several processes start at once: one
// migrates, the others wait and then find nothing to do.
func (s *Store) provider() (*goose.Provider, *sql.DB, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, nil, fmt.Errorf("embedded migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub, goose.WithSessionLocker(locker))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, db, nil
}

// Migrate applies every pending migration, each in its own transaction.
func (s *Store) Migrate(ctx context.Context) ([]string, error) {
	p, db, err := s.provider()
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer db.Close()
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	var applied []string
	for _, r := range results {
		applied = append(applied, r.Source.Path)
	}
	return applied, nil
}

// Ping checks that the database answers and that no migration is pending.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	p, db, err := s.provider()
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	defer db.Close()
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	if pending {
		return fmt.Errorf("ping: %w", store.ErrMigrationsPending)
	}
	return nil
}

// Close stops listening for changes and closes the pool. It is safe to
// call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		// Under mu, so that the listener either started before (and is
		// stopped and waited for) or never starts.
		s.mu.Lock()
		stop := s.stop
		close(s.stopped)
		s.mu.Unlock()
		if stop != nil {
			stop()
		}
		s.workers.Wait()
		s.pool.Close()
	})
	return nil
}

// micro and fromMicro convert between time.Time and the stored integers.
func micro(t time.Time) int64 { return t.UnixMicro() }

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

// microOrZero stores a zero time as 0, not as the microseconds of year 1.
func microOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micro(t)
}

// fromMicroOrZero reads 0 back as the zero time.
func fromMicroOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMicro(v)
}

// PostgreSQL error codes the store turns into its own errors.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
)

// isCode reports a PostgreSQL error with the SQLSTATE code.
func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// noRows reports a query that found nothing.
func noRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }

// rollback ends a transaction that was not committed; after a commit it
// does nothing.
func rollback(tx pgx.Tx) { _ = tx.Rollback(context.Background()) }

// text makes a string from outside (a relay's answer, a server's header)
// storable: PostgreSQL refuses invalid UTF-8 and NUL in text, which SQLite
// takes, and a refused mark would mean a copy sent twice.
func text(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

// ClockSkew is how far this machine's clock is from the database's.
// Leases and claims compare each machine's own time, so processes on
// machines whose clocks disagree by more than a second or two can take
// over each other's live claims.
func (s *Store) ClockSkew(ctx context.Context) (time.Duration, error) {
	before := time.Now()
	var db time.Time
	if err := s.pool.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&db); err != nil {
		return 0, fmt.Errorf("clock of the database: %w", err)
	}
	after := time.Now()
	local := before.Add(after.Sub(before) / 2)
	return local.Sub(db), nil
}
