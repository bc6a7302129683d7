package web

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
)

// TestFileSectionIsSentFromTheFile proves which path a body takes: the
// file holds other bytes than the section's body, so a response from the
// file reads as the body's first 512 bytes (net/http copies them itself)
// and the file's after. Through LimitConnections the file is sent; through
// a plain listener, or once the file is closed (its document left the
// cache), the body is.
func TestFileSectionIsSentFromTheFile(t *testing.T) {
	const n = 100_000
	body := bytes.Repeat([]byte("a"), n)
	file, err := os.CreateTemp(t.TempDir(), "section")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Write(bytes.Repeat([]byte("b"), n)); err != nil {
		t.Fatal(err)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(n))
		bodyFollows(r)
		// Through statusRecorder, as countFeeds and logRequests wrap.
		_, _ = io.Copy(&statusRecorder{ResponseWriter: w}, &fileSection{body: body, file: file})
	})
	plain := httptest.NewServer(handler)
	defer plain.Close()
	limited := httptest.NewUnstartedServer(handler)
	limited.Listener = LimitPerClient(LimitConnections(limited.Listener, 10), 10, nil)
	limited.Config.ConnContext = ConnContext
	limited.Start()
	defer limited.Close()

	get := func(url string) []byte {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	fromFile := append(bytes.Repeat([]byte("a"), 512), bytes.Repeat([]byte("b"), n-512)...)
	for i := range 3 { // one connection: the file position is never used
		if got := get(limited.URL); !bytes.Equal(got, fromFile) {
			t.Fatalf("request %d through LimitConnections: %d bytes, %d of them from the file; want %d, %d", i, len(got), bytes.Count(got, []byte("b")), n, n-512)
		}
	}
	if got := get(plain.URL); !bytes.Equal(got, body) {
		t.Errorf("through a plain listener: %d bytes, %d from the file; want the body's %d", len(got), bytes.Count(got, []byte("b")), n)
	}
	file.Close()
	if got := get(limited.URL); !bytes.Equal(got, body) {
		t.Errorf("file closed: %d bytes, %d from the file; want the body's %d", len(got), bytes.Count(got, []byte("b")), n)
	}
}
