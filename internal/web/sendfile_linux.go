package web

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// sendTo sends the rest of the section to the socket dst with sendfile.
// handled is false when nothing was sent and the caller should copy the
// bytes instead: the file closed (its document left the cache), or
// sendfile refused from the start. The file's descriptor stays valid
// while Control runs, so a close meanwhile waits for the send to end; the
// socket's RawConn waits for room as its own writes do, under the write
// deadline net/http set.
func (s *fileSection) sendTo(dst syscall.Conn) (written int64, handled bool, err error) {
	if s.off >= int64(len(s.body)) {
		return 0, true, nil
	}
	out, err := dst.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	in, err := s.file.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var sendErr, waitErr error
	ctlErr := in.Control(func(infd uintptr) {
		waitErr = out.Write(func(outfd uintptr) bool {
			for s.off < int64(len(s.body)) {
				start := s.off
				_, err := unix.Sendfile(int(outfd), int(infd), &s.off, int(min(int64(len(s.body))-s.off, 1<<30)))
				written += s.off - start // the offset moved by what was sent, error or not
				switch {
				case err == unix.EAGAIN:
					return false // wait until the socket takes more
				case err == unix.EINTR:
					continue
				case err != nil:
					sendErr = err
					return true
				case s.off == start:
					sendErr = io.ErrUnexpectedEOF // the file is shorter than the bytes: never, sealed
					return true
				}
			}
			return true
		})
	})
	if ctlErr != nil {
		return 0, false, nil // closed before a byte: the bytes go instead
	}
	if written == 0 && sendErr != nil && (errors.Is(sendErr, unix.EINVAL) || errors.Is(sendErr, unix.ENOSYS)) {
		return 0, false, nil
	}
	if sendErr != nil {
		return written, true, os.NewSyscallError("sendfile", sendErr)
	}
	return written, true, waitErr
}

// writeMore writes b to c with MSG_MORE when c is a socket (handled).
// countedConn.Write, its one caller, passes the connection it wraps.
func writeMore(c net.Conn, b []byte) (n int, handled bool, err error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return 0, false, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false, nil
	}
	var sendErr error
	werr := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, err := unix.SendmsgN(int(fd), b[n:], nil, nil, unix.MSG_MORE|unix.MSG_NOSIGNAL)
			n += max(m, 0)
			switch {
			case err == unix.EAGAIN:
				return false
			case err == unix.EINTR:
				continue
			case err != nil:
				sendErr = os.NewSyscallError("sendmsg", err)
				return true
			}
		}
		return true
	})
	if sendErr != nil {
		return n, true, sendErr
	}
	return n, true, werr
}
