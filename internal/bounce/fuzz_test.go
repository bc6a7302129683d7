package bounce

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzBounce(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("From: a@b.c\n\n"))
	f.Add([]byte("Content-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.c\nAction: failed\n--x--\n"))
	opts := Options{MaxParts: 20, MaxDepth: 4}
	f.Fuzz(func(t *testing.T, data []byte) {
		rep, err := opts.Parse(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrNotMessage) {
				t.Fatalf("err = %v, want ErrNotMessage", err)
			}
			return
		}
		checkReport(t, rep)
	})
}
