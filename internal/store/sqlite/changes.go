package sqlite

import (
	"context"
	"log/slog"
	"time"
)

// Changes signals after every commit to the store, from this process or
// another. Commits by this process signal at once; those of other processes
// are seen by polling PRAGMA data_version, which SQLite changes on a
// connection whenever another connection has committed: a cheap read that
// touches no table.
func (s *Store) Changes(ctx context.Context) <-chan struct{} {
	s.pollOnce.Do(s.startPolling)
	return s.changes.Subscribe(ctx, s.stopped)
}

// notify wakes every Changes subscriber.
func (s *Store) notify() { s.changes.Notify() }

func (s *Store) startPolling() {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.stop = cancel
	s.mu.Unlock()
	go func() {
		defer close(s.stopped)
		conn, err := s.db.Conn(ctx)
		if err != nil {
			slog.Warn("store: no connection for change polling", "err", err)
			return
		}
		defer conn.Close()
		// data_version moves on any commit by another connection: a cheap
		// first look. Only when it moved is the articles' own counter
		// read, since leases, claims and source states are written every
		// second and are no change to the feeds.
		var lastData, lastArticles int64 = -1, -1
		ticker := time.NewTicker(pollInterval)
		defer ticker.Stop()
		for {
			var data int64
			err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&data)
			if err == nil && data != lastData {
				var articles int64
				if err = conn.QueryRowContext(ctx, `SELECT version FROM article_version`).Scan(&articles); err == nil {
					if lastArticles >= 0 && articles != lastArticles {
						s.notify()
					}
					lastData, lastArticles = data, articles
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				slog.Warn("store: change poll failed", "err", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
}
