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
		var last int64 = -1
		ticker := time.NewTicker(pollInterval)
		defer ticker.Stop()
		for {
			var version int64
			if err := conn.QueryRowContext(ctx, `PRAGMA data_version`).Scan(&version); err != nil {
				if ctx.Err() != nil {
					return
				}
				slog.Warn("store: change poll failed", "err", err)
			} else {
				if last >= 0 && version != last {
					s.notify()
				}
				last = version
			}
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
}
