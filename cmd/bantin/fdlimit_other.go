//go:build !unix

package main

import "math"

// raiseFileLimit does nothing where there is no RLIMIT_NOFILE; the
// connection cap is then the only bound.
func raiseFileLimit() (uint64, error) { return math.MaxUint64, nil }
