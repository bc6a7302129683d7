package web

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"
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

// TestFileClosedMidSendFinishes: a document evicted while a slow reader is
// in the middle of its file closes at once (the cache's lock is held
// then), and the reader still gets every byte of the file.
func TestFileClosedMidSendFinishes(t *testing.T) {
	const n = 32 << 20 // more than the socket buffers take: the send waits for the reader
	body := bytes.Repeat([]byte("a"), n)
	want := bytes.Repeat([]byte("b"), n)
	copy(want, body[:512])
	file, err := os.CreateTemp(t.TempDir(), "section")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := file.Write(bytes.Repeat([]byte("b"), n)); err != nil {
		t.Fatal(err)
	}
	sent := make(chan struct{})
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(n))
		bodyFollows(r)
		_, _ = io.Copy(w, &fileSection{body: body, file: file})
		close(sent)
	}))
	srv.Listener = LimitConnections(srv.Listener, 10)
	srv.Config.ConnContext = ConnContext
	srv.Start()
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 64<<10)
	if _, err := io.ReadFull(resp.Body, head); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sent:
		t.Fatal("the whole file was sent before it was closed: the body must be larger than the socket buffers")
	default:
	}
	closed := make(chan error, 1)
	go func() { closed <- file.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close waited for the send to end")
	}
	rest, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, want) {
		t.Errorf("got %d bytes, %d of them from the file; want %d, %d", len(got), bytes.Count(got, []byte("b")), n, n-512)
	}
}
