package ingest

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestWatcher(t *testing.T) {
	st := openStore(t)
	dir := filepath.Join(t.TempDir(), "inbox")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// A file already there is imported when the watcher starts.
	if err := os.WriteFile(filepath.Join(dir, "truoc.json"), []byte(`{"id":"before","title":"Có sẵn","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	w := NewWatcher(dir, newTestImporter(t, st, time.Now), slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	stored := func(id string) func() bool {
		return func() bool { _, err := st.Article(context.Background(), id); return err == nil }
	}
	within(t, 2*time.Second, "the file present at start", stored("before"))

	// Written elsewhere and renamed into place: in within a second.
	tmp := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(tmp, []byte(`{"id":"renamed","title":"Đổi tên vào","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "doi-ten.json")); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "a file renamed into place", stored("renamed"))

	// A bad file is logged by name; the watcher goes on.
	if err := os.WriteFile(filepath.Join(dir, "hong.jsonl"), []byte("{not json\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "the bad file to be logged", func() bool { return strings.Contains(logs.String(), "hong.jsonl:1") })

	// A file written in place, in a new sub-folder, then changed.
	sub := filepath.Join(dir, "2024", "12")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // let the watcher add the new folders
	page := filepath.Join(sub, "bai.md")
	if err := os.WriteFile(page, []byte("---\nid: md-1\ntitle: Bài đầu\n---\nNội dung.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "a file written in a new sub-folder", stored("md-1"))
	if err := os.WriteFile(page, []byte("---\nid: md-1\ntitle: Bài đã sửa\n---\nNội dung.\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "a changed file to update its article", func() bool {
		a, err := st.Article(context.Background(), "md-1")
		return err == nil && a.Title == "Bài đã sửa"
	})

	// Temporary and hidden files are left alone.
	if err := os.WriteFile(filepath.Join(dir, ".an.json"), []byte(`{"id":"hidden","title":"x","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if stored("hidden")() {
		t.Error("a hidden file was imported")
	}
}

func within(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", limit, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWatcherBusyFile: a file written again and again must not hold back
// another file that is done.
func TestWatcherBusyFile(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	w := NewWatcher(dir, newTestImporter(t, st, time.Now), slog.New(slog.NewTextHandler(&lockedBuffer{}, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(200 * time.Millisecond)

	stop := make(chan struct{})
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		f, err := os.OpenFile(filepath.Join(dir, "dang-viet.jsonl"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := f.WriteString(`{"title":"Dòng ` + time.Now().String() + `","summary":"x"}` + "\n"); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	defer func() { close(stop); <-writerDone }()
	time.Sleep(200 * time.Millisecond)
	if err := os.WriteFile(filepath.Join(dir, "xong.json"), []byte(`{"id":"done","title":"Đã xong","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, time.Second, "a finished file while another is still being written", func() bool {
		_, err := st.Article(context.Background(), "done")
		return err == nil
	})
}
