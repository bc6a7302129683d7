package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// Backup writes a consistent copy of the store to path, while other
// connections and processes go on reading and writing: VACUUM INTO reads
// one snapshot. The copy is written next to path and renamed into place
// once it passed an integrity check, so path is whole or absent; an
// existing path is refused.
func (s *Store) Backup(ctx context.Context, path string) error {
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("backup to %s: the file exists; choose a new name or remove it", path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".partial")
	_ = os.Remove(tmp)
	fail := func(err error) error {
		_ = os.Remove(tmp)
		return fmt.Errorf("backup to %s: %w", path, err)
	}
	if _, err := s.db.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		return fail(err)
	}
	// The copy holds subscribers' addresses and the token key: only the
	// owner reads it.
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := check(ctx, tmp); err != nil {
		return fail(fmt.Errorf("the copy failed its check: %w", err))
	}
	// VACUUM INTO does not sync what it writes: a crash after the rename
	// must not leave a torn copy under the final name.
	if err := syncFile(tmp); err != nil {
		return fail(err)
	}
	// Link, not rename: a file that appeared at path meanwhile is never
	// replaced.
	if err := os.Link(tmp, path); err != nil {
		return fail(err)
	}
	_ = os.Remove(tmp)
	return syncFile(filepath.Dir(path))
}

// syncFile flushes a file or a folder to disk.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// check runs SQLite's integrity check on the database file at path, read
// only; the path is written as a file: URI, so no character of it is
// read as a URI parameter.
func check(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	uri := (&url.URL{Scheme: "file", Path: abs, RawQuery: "mode=ro"}).String()
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return err
	}
	defer db.Close()
	var result string
	if err := db.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&result); err != nil {
		return err
	}
	if result != "ok" {
		return fmt.Errorf("integrity check: %s", result)
	}
	return nil
}
