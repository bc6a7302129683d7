package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	_ "modernc.org/sqlite"

	"github.com/bantin/bantin/internal/store"
)

// TestDiskFullKnowsTheDrivers: a real SQLITE_FULL from the SQLite driver
// (a database held to a few pages by max_page_count), PostgreSQL's 53100
// and ENOSPC are ErrDiskFull; other errors are not.
func TestDiskFullKnowsTheDrivers(t *testing.T) {
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "full.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	for _, q := range []string{"PRAGMA max_page_count = 4", "CREATE TABLE t (b BLOB)"} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	var full error
	for i := 0; i < 100 && full == nil; i++ {
		_, full = db.ExecContext(ctx, "INSERT INTO t VALUES (?)", strings.Repeat("x", 4096))
	}
	if full == nil {
		t.Fatal("the database never filled up")
	}
	for _, err := range []error{
		fmt.Errorf("save articles: %w", full),
		fmt.Errorf("save: %w", &pgconn.PgError{Code: "53100", Message: "could not extend file"}),
		&fs.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC},
	} {
		marked := store.DiskFull(err)
		if !errors.Is(marked, store.ErrDiskFull) || marked.Error() != err.Error() || !errors.Is(marked, errors.Unwrap(err)) && errors.Unwrap(err) != nil {
			t.Errorf("DiskFull(%v) = %v: want ErrDiskFull, the same message and the cause kept", err, marked)
		}
	}
	for _, err := range []error{nil, errors.New("database is locked"), &pgconn.PgError{Code: "23505"}, os.ErrPermission} {
		if got := store.DiskFull(err); got != err || errors.Is(got, store.ErrDiskFull) {
			t.Errorf("DiskFull(%v) = %v, want it unchanged", err, got)
		}
	}
}
