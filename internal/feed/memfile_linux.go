package feed

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// newMemfile returns b in a sealed memory file (memfd_create): the web
// server sends it with sendfile, the kernel's pages going to the socket
// without a copy through the process. Sealed against writes, shrinking and
// growing, so the bytes sent always equal b.
func newMemfile(name string, b []byte) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, fmt.Errorf("write memory file %s: %w", name, err)
	}
	seals := unix.F_SEAL_WRITE | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_SEAL
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("seal memory file %s: %w", name, err)
	}
	return f, nil
}
