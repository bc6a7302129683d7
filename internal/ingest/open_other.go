//go:build !unix

package ingest

import "os"

// openNonBlocking opens path read-only. Without named pipes that block an
// open, the check of the open file is enough.
func openNonBlocking(path string, _ bool) (*os.File, error) { return os.Open(path) }

// isSymlinkLoop is false: links are caught by the listing's Lstat.
func isSymlinkLoop(error) bool { return false }
