package store

import (
	"errors"
	"syscall"
)

// ErrDiskFull: the store could not write because its disk (or the
// database server's) is full. Nothing is wrong with the request; the
// operator must free space. The web layer answers 507.
var ErrDiskFull = errors.New("disk full")

// sqliteFull is SQLITE_FULL, "database or disk is full"; an extended
// result code keeps it in its low byte.
const sqliteFull = 13

// pgDiskFull is PostgreSQL's SQLSTATE 53100, disk_full.
const pgDiskFull = "53100"

// DiskFull returns err marked with ErrDiskFull (errors.Is finds both)
// when it says the disk is full: ENOSPC from a file, SQLite's SQLITE_FULL
// (modernc.org/sqlite's *sqlite.Error has Code() int) or PostgreSQL's
// 53100 (pgx's *pgconn.PgError has SQLState() string). Any other error,
// nil included, is returned as it is. The drivers' error types are
// matched by their methods, so this package imports no driver.
func DiskFull(err error) error {
	if err == nil || errors.Is(err, ErrDiskFull) || !isDiskFull(err) {
		return err
	}
	return &diskFullError{err: err}
}

func isDiskFull(err error) bool {
	if errors.Is(err, syscall.ENOSPC) {
		return true
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) && coded.Code()&0xff == sqliteFull {
		return true
	}
	var state interface{ SQLState() string }
	return errors.As(err, &state) && state.SQLState() == pgDiskFull
}

// diskFullError is a driver's disk-full error that is also ErrDiskFull.
type diskFullError struct{ err error }

func (e *diskFullError) Error() string   { return e.err.Error() }
func (e *diskFullError) Unwrap() []error { return []error{ErrDiskFull, e.err} }
