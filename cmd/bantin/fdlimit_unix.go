//go:build unix

package main

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft limit on open files to the hard limit,
// so that limits.connections, not a distribution's default of 1024 files,
// is what bounds the connections serve takes. It returns the soft limit
// now in force. (The Go runtime raises it to one below the hard limit at
// start already; this makes the step explicit, whatever the toolchain,
// and reads the figure serve compares limits.connections with.)
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open files limit: %w", err)
	}
	if lim.Cur >= lim.Max {
		return lim.Cur, nil
	}
	want := lim
	want.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
		return lim.Cur, fmt.Errorf("raise the open files limit from %d to %d: %w", lim.Cur, lim.Max, err)
	}
	return want.Cur, nil
}
