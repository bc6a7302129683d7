//go:build unix

package ingest

import (
	"errors"
	"os"
	"syscall"
)

// openNonBlocking opens path read-only with O_NONBLOCK, so that a named
// pipe with no writer does not hold the open, and with O_NOFOLLOW unless
// follow, so that a symbolic link swapped in after the listing is not
// followed. O_NONBLOCK changes nothing for a regular file's reads.
func openNonBlocking(path string, follow bool) (*os.File, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if !follow {
		flags |= syscall.O_NOFOLLOW
	}
	return os.OpenFile(path, flags, 0)
}

// isSymlinkLoop reports the error O_NOFOLLOW gives on a symbolic link.
func isSymlinkLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
