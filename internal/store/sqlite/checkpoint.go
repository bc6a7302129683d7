package sqlite

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// checkpointer copies committed pages from the WAL into the database file
// on a goroutine and a connection of its own. Otherwise the articles
// connection does it: SQLite checkpoints at the commit that takes the WAL
// past wal_autocheckpoint pages, inside the save that commits, and in a
// bulk import that was a tenth of the writer's CPU, plus its reads, writes
// and fsyncs, while the workers waited for the writer. A passive
// checkpoint runs beside the writer (it takes only the checkpoint lock),
// so the automatic one at a commit finds little left to copy, and the WAL
// still starts over from its beginning once all of it is copied.
type checkpointer struct {
	db      *sql.DB
	wake    chan struct{}
	changed atomic.Int64 // articles in the saves committed since the last wake
	once    sync.Once
	stop    context.CancelFunc
	done    chan struct{}
}

// checkpointAfter is how many saved articles wake the checkpointer, so
// that a server taking an article now and then does not checkpoint, and
// fsync, at each. In a store of 20,000 articles, 256 saved in one batch
// wrote 126 pages to the WAL; saved one at a time, 3,039 (12 a save: the
// row, each index entry and the counter in a page of its own), still
// under the 4,096 at which SQLite's own checkpoint comes first.
const checkpointAfter = 256

func newCheckpointer(db *sql.DB) *checkpointer {
	return &checkpointer{db: db, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// saved counts the n articles of a committed save (unchanged ones too,
// which only wakes it a little early), and wakes the checkpointer
// (starting it the first time) when enough have been since it last woke.
func (c *checkpointer) saved(n int) {
	if c.changed.Add(int64(n)) < checkpointAfter {
		return
	}
	c.changed.Store(0)
	c.once.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		c.stop = cancel
		go c.run(ctx)
	})
	select {
	case c.wake <- struct{}{}:
	default: // one is pending already
	}
}

func (c *checkpointer) run(ctx context.Context) {
	defer close(c.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		// A checkpoint that fails or finds the lock taken (another
		// connection's automatic one) leaves the pages in the WAL, where
		// the next one or SQLite's own at a commit copies them.
		_, _ = c.db.ExecContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)")
	}
}

// close stops the goroutine, if it started, and closes its connection.
func (c *checkpointer) close() error {
	c.once.Do(func() {}) // no start after this; waits for one under way
	if c.stop != nil {
		c.stop()
		<-c.done
	}
	return c.db.Close()
}
