package sqlite

import (
	"path/filepath"
	"testing"
)

// TestCheckpointerStopsAtClose: the goroutine a save started has ended
// when close returns, and a close of one never started returns too.
func TestCheckpointerStopsAtClose(t *testing.T) {
	dsn := "file:" + filepath.Join(t.TempDir(), "c.db") + "?_pragma=journal_mode(WAL)"
	for _, start := range []bool{true, false} {
		db, err := openOne(dsn)
		if err != nil {
			t.Fatal(err)
		}
		c := newCheckpointer(db)
		if start {
			c.saved(checkpointAfter)
		}
		if err := c.close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.done:
			if !start {
				t.Error("a checkpointer never started ran")
			}
		default:
			if start {
				t.Error("the checkpointer's goroutine still runs after close")
			}
		}
	}
}
