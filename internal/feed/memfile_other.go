//go:build !linux

package feed

import (
	"errors"
	"os"
)

// newMemfile fails off Linux: documents are sent from their bytes.
func newMemfile(name string, b []byte) (*os.File, error) {
	return nil, errors.New("memory files need Linux")
}
