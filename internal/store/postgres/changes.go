package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
)

// The channel the articles trigger notifies (see migration 00001).
const changesChannel = "bantin_articles"

// fallbackInterval is how often the store reads the change counter, in
// case a notification was lost while the listening connection was down.
const fallbackInterval = 2 * time.Second

// retryInterval is the wait before connecting again to listen.
const retryInterval = time.Second

// Changes signals after every change to the stored articles, from this
// process or another. Changes by this process signal at once; those of
// other processes arrive by LISTEN on a connection of its own, and a
// counter read every few seconds catches what a dropped connection missed.
func (s *Store) Changes(ctx context.Context) <-chan struct{} {
	s.listenOnce.Do(func() { s.startListening(ctx) })
	return s.changes.Subscribe(ctx, s.stopped)
}

// notify wakes every Changes subscriber.
func (s *Store) notify() { s.changes.Notify() }

// startListening starts the listener and the fallback poller, which run
// until Close. The first connection is made before it returns (within
// first's deadline), so that a change made after Changes returned is not
// missed while the listener is still connecting.
func (s *Store) startListening(first context.Context) {
	connectCtx, done := context.WithTimeout(first, 5*time.Second)
	conn, err := s.listen(connectCtx)
	done()
	if err != nil {
		slog.Warn("store: cannot listen for changes, will retry", "err", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.stopped: // closed meanwhile: nothing to listen for
		cancel()
		if conn != nil {
			conn.Close(context.Background())
		}
		return
	default:
	}
	s.stop = cancel
	s.workers.Add(2)
	go func() {
		defer s.workers.Done()
		s.listenLoop(ctx, conn)
	}()
	go func() {
		defer s.workers.Done()
		s.pollLoop(ctx)
	}()
}

// listen opens a connection of its own (not the pool's: LISTEN belongs
// to a session) and listens on it.
func (s *Store) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.pool.Config().ConnConfig.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+changesChannel); err != nil {
		conn.Close(context.Background())
		return nil, err
	}
	return conn, nil
}

// listenLoop waits for notifications on conn, connecting again when the
// connection fails. A notification for another schema is not a change
// of this store.
func (s *Store) listenLoop(ctx context.Context, conn *pgx.Conn) {
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for ctx.Err() == nil {
		if conn == nil {
			select {
			case <-ctx.Done():
				return
			case <-time.After(retryInterval):
			}
			var err error
			if conn, err = s.listen(ctx); err != nil {
				if ctx.Err() == nil {
					slog.Warn("store: cannot listen for changes, will retry", "err", err)
				}
				continue
			}
			// Whatever changed while no one listened is unknown: say so.
			s.notify()
		}
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("store: listening for changes failed, reconnecting", "err", err)
			}
			conn.Close(context.Background())
			conn = nil
			continue
		}
		if n.Payload == s.schema {
			s.notify()
		}
	}
}

// pollLoop reads the change counter every fallbackInterval and signals
// when it moved. A transaction rolled back after a change may move it too:
// a signal too many costs a reader one needless look.
func (s *Store) pollLoop(ctx context.Context) {
	ticker := time.NewTicker(fallbackInterval)
	defer ticker.Stop()
	var last int64 = -1
	again := false
	for {
		var version int64
		err := s.pool.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM article_changes`).Scan(&version)
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			slog.Warn("store: change poll failed", "err", err)
		default:
			// The counter moves when the change is made, before its
			// transaction commits: a reader told at once may still see
			// the old rows, so the next tick tells it again.
			moved := last >= 0 && version != last
			if moved || again {
				s.notify()
			}
			again = moved
			last = version
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
