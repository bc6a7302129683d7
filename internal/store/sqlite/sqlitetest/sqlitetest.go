// Package sqlitetest gives tests a real, migrated SQLite store in a
// temporary folder.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bantin/bantin/internal/store/sqlite"
)

// Open returns a migrated store in a file of t's temporary folder, closed
// when the test ends.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	return OpenPath(t, filepath.Join(t.TempDir(), "bantin.db"))
}

// OpenPath opens (and migrates) the store at path, closed when the test
// ends: a second handle on the same file stands for another process.
func OpenPath(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}
