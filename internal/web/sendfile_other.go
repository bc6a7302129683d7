//go:build !linux

package web

import (
	"net"
	"syscall"
)

// sendTo leaves the copy to the caller off Linux.
func (s *fileSection) sendTo(dst syscall.Conn) (written int64, handled bool, err error) {
	return 0, false, nil
}

// writeMore leaves the write to the caller off Linux.
func writeMore(c net.Conn, b []byte) (n int, handled bool, err error) {
	return 0, false, nil
}
