package web

import (
	"io"
	"net"
	"os"
	"syscall"
)

// fileSection is a response body kept both as bytes and in a memory file
// holding the same bytes (feed.Rendered.BodyFile). Read gives the bytes;
// a connection of this package's listeners sends the rest with sendfile
// at an explicit offset (sendTo), so that many responses share one file
// without sharing a file position. Anything else (TLS, httptest's
// recorder) reads it as the bytes it is.
type fileSection struct {
	body []byte
	file *os.File
	off  int64 // bytes already sent
}

// Read copies from the bytes, never the file: it serves what net/http
// copies itself before it hands the rest to the connection (the first
// 512 bytes, for sniffing) at no system call.
func (s *fileSection) Read(p []byte) (int, error) {
	if s.off >= int64(len(s.body)) {
		return 0, io.EOF
	}
	n := copy(p, s.body[s.off:])
	s.off += int64(n)
	return n, nil
}

// readFrom is the ReadFrom of this package's connection wrappers, inner
// being what they wrap: a fileSection goes out with sendfile when inner is
// the socket itself, anything else as inner would take it. Without it,
// net/http's response reaches a wrapper with no ReadFrom and copies every
// body through user space.
func readFrom(inner net.Conn, r io.Reader) (int64, error) {
	if s, ok := r.(*fileSection); ok {
		if sc, ok := inner.(syscall.Conn); ok {
			if n, handled, err := s.sendTo(sc); handled {
				return n, err
			}
		}
	}
	if rf, ok := inner.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(writerOnly{inner}, r)
}

// writerOnly hides every method but Write, so that io.Copy does not call
// back into the ReadFrom it is used from.
type writerOnly struct{ io.Writer }
