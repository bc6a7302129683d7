package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
)

// mkfifo makes a named pipe, or skips the test where there are none.
func mkfifo(t *testing.T, path string) {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o644); err != nil {
		if os.Getenv("BANTIN_TEST_ALL") == "1" {
			t.Fatalf("mkfifo: %v", err)
		}
		t.Skipf("mkfifo: %v", err)
	}
}

// TestWatcherSkipsFIFOsAndSymlinks: a named pipe in the watch folder, there
// at start or made later, holds back neither the files after it nor the
// stop; a link to a file outside the folder is not published. Each is
// named in the log with why it was skipped.
func TestWatcherSkipsFIFOsAndSymlinks(t *testing.T) {
	st := openStore(t)
	dir := filepath.Join(t.TempDir(), "inbox")
	outside := t.TempDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	mkfifo(t, filepath.Join(dir, "a-pipe.json"))
	if err := os.WriteFile(filepath.Join(dir, "b-good.json"), []byte(`{"id":"good","title":"Tốt","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(outside, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"id":"secret","title":"Bí mật","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "c-link.json")); err != nil {
		t.Fatal(err)
	}

	var logs lockedBuffer
	w := NewWatcher(dir, newTestImporter(t, st, time.Now), slog.New(slog.NewTextHandler(&logs, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stop := func() {
		t.Helper()
		cancel()
		start := time.Now()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("the stop took %v", d)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Run did not return within 3 s of the stop")
		}
	}
	stored := func(id string) func() bool {
		return func() bool { _, err := st.Article(context.Background(), id); return err == nil }
	}

	within(t, 3*time.Second, "the file after the pipe", stored("good"))
	within(t, time.Second, "the pipe and the link to be logged", func() bool {
		l := logs.String()
		return strings.Contains(l, "a-pipe.json") && strings.Contains(l, "named pipe") &&
			strings.Contains(l, "c-link.json") && strings.Contains(l, "symbolic link")
	})

	// Made while watching: a pipe, a link, then a good file.
	mkfifo(t, filepath.Join(dir, "d-pipe.jsonl"))
	if err := os.Symlink(secret, filepath.Join(dir, "e-link.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f-good.json"), []byte(`{"id":"good-2","title":"Tốt nữa","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	within(t, 3*time.Second, "the file after the new pipe", stored("good-2"))
	within(t, time.Second, "the new pipe and link to be logged", func() bool {
		l := logs.String()
		return strings.Contains(l, "d-pipe.jsonl") && strings.Contains(l, "e-link.json")
	})
	if _, err := st.Article(context.Background(), "secret"); err == nil {
		t.Error("the file outside the watch folder was published through a link")
	}
	stop()
}

// TestIngestFolderSkipsFIFOs: `bantin ingest DIR` skips a named pipe met
// in the folder and reads the rest; a pipe named alone is rejected; a link
// the admin names, or keeps in their own folder, is read.
func TestIngestFolderSkipsFIFOs(t *testing.T) {
	st := openStore(t)
	dir := t.TempDir()
	mkfifo(t, filepath.Join(dir, "a-pipe.json"))
	if err := os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"id":"b","title":"B","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "c.json")
	if err := os.WriteFile(target, []byte(`{"id":"c","title":"C","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, "c-link.json")); err != nil {
		t.Fatal(err)
	}
	lonePipe := filepath.Join(t.TempDir(), "lone.jsonl")
	mkfifo(t, lonePipe)

	var skipped []string
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rejected []string
	s, err := newTestImporter(t, st, time.Now).Run(ctx, Files(FilesOptions{Paths: []string{dir, lonePipe},
		Skipped: func(path, reason string) { skipped = append(skipped, filepath.Base(path)+": "+reason) }}),
		func(r Result) {
			if r.Err != nil {
				rejected = append(rejected, r.Origin.String()+": "+r.Err.Error())
			}
		})
	if err != nil {
		t.Fatalf("import: %v (after %v)", err, s)
	}
	if s.Created != 2 || s.Rejected != 1 {
		t.Errorf("summary %+v; want b and c created, the lone pipe rejected", s)
	}
	if want := "a-pipe.json: a named pipe (FIFO)"; len(skipped) != 1 || skipped[0] != want {
		t.Errorf("skipped %q, want [%q]", skipped, want)
	}
	if len(rejected) != 1 || !strings.Contains(rejected[0], "lone.jsonl: a named pipe (FIFO); only regular files are read") {
		t.Errorf("rejected %q", rejected)
	}
}

// TestImportFileRefusesMoreThanLimitsCategories: in a file, an article
// with more categories than limits.categories, or an id with a control
// character, is rejected with its line and a reason; the others go in.
func TestImportFileRefusesMoreThanLimitsCategories(t *testing.T) {
	st := openStore(t)
	cats := make([]string, article.DefaultMaxCategories+1)
	for i := range cats {
		cats[i] = fmt.Sprintf(`"Mục %d"`, i)
	}
	lines := []string{
		`{"id":"ok-1","title":"Một","summary":"x"}`,
		`{"id":"many","title":"Nhiều mục","summary":"x","categories":[` + strings.Join(cats, ",") + `]}`,
		`{"id":"ok-2","title":"Hai","summary":"x","categories":[` + strings.Join(cats[:article.DefaultMaxCategories], ",") + `]}`,
		`{"id":"tin\u202Efdp.exe","title":"Ba","summary":"x"}`,
		`{"id":"dong\nhai","title":"Bốn","summary":"x"}`,
	}
	path := filepath.Join(t.TempDir(), "batch.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var rejected []string
	s, err := newTestImporter(t, st, time.Now).Run(context.Background(), Paths([]string{path}, nil, ""), func(r Result) {
		if r.Err != nil {
			rejected = append(rejected, fmt.Sprintf("%d: %v", r.Origin.Line, r.Err))
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Created != 2 || s.Rejected != 3 {
		t.Errorf("summary %+v; want 2 created, 3 rejected", s)
	}
	want := []string{
		fmt.Sprintf("2: categories: %d distinct categories; at most %d (limits.categories)", article.DefaultMaxCategories+1, article.DefaultMaxCategories),
		"4: id: holds the control character U+202E; an id is one line of visible text",
		"5: id: holds the control character U+000A; an id is one line of visible text",
	}
	if strings.Join(rejected, "\n") != strings.Join(want, "\n") {
		t.Errorf("rejected\n%s\nwant\n%s", strings.Join(rejected, "\n"), strings.Join(want, "\n"))
	}
	if a, err := st.Article(context.Background(), "ok-2"); err != nil || len(a.Categories) != article.DefaultMaxCategories {
		t.Errorf("ok-2: %d categories, %v", len(a.Categories), err)
	}
}

// TestPollKeepsFirstLimitsCategories: a feed entry with 3,000 categories
// goes in with the first limits.categories of them (the source's own
// category among them), and the log says how many were dropped.
func TestPollKeepsFirstLimitsCategories(t *testing.T) {
	var cats strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&cats, "<category>Mục %d</category>", i)
	}
	feed := `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>T</title><link>https://nguon.vn/</link>
<item><title>Nhiều mục</title><link>https://nguon.vn/a</link><guid>a</guid><description>x</description>` + cats.String() + `</item>
<item><title>Ít mục</title><link>https://nguon.vn/b</link><guid>b</guid><description>x</description><category>Một</category></item>
</channel></rss>`
	up := newUpstream(t)
	up.set("/rss", []byte(feed), "application/rss+xml")
	st := openStore(t)
	var logs lockedBuffer
	p := NewPoller(PollerOptions{
		Sources: []Source{{Name: "nguon", URL: up.srv.URL + "/rss", Category: "Đối tác", Interval: time.Hour, Enabled: true}},
		Store:   st, Importer: newTestImporter(t, st, time.Now), Location: hcm,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Client: &http.Client{Timeout: 5 * time.Second},
	})
	res, err := p.PollNow(context.Background(), "nguon")
	if err != nil || res.Err != nil {
		t.Fatalf("poll: %v, %v", err, res.Err)
	}
	if res.Summary.Created != 2 || res.Summary.Rejected != 0 {
		t.Errorf("summary %+v; want both entries created", res.Summary)
	}
	a, err := st.Article(context.Background(), "nguon:a")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Categories) != article.DefaultMaxCategories {
		t.Errorf("%d categories stored, want %d", len(a.Categories), article.DefaultMaxCategories)
	}
	slugs := map[string]bool{}
	for _, c := range a.Categories {
		slugs[c.Slug] = true
	}
	if !slugs["muc-0"] || !slugs["muc-48"] || slugs["muc-49"] || !slugs["doi-tac"] {
		t.Errorf("categories %v; want Mục 0 to Mục 48 and the source's Đối tác", a.Categories)
	}
	l := logs.String()
	for _, want := range []string{"more categories than limits.categories", "source=nguon", "entry=nguon:a", "limit=50", "dropped=2951"} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if strings.Count(l, "limits.categories") != 1 {
		t.Errorf("want one log line for the one entry over the limit:\n%s", l)
	}
}

// TestPollerRunPollsSubMinuteIntervalOnTime: a source polled every 2 s is
// polled every 2 s, not once a minute (the loop used to sleep a minute
// after each round whatever the intervals).
func TestPollerRunPollsSubMinuteIntervalOnTime(t *testing.T) {
	up := newUpstream(t)
	up.serve(t, "/a", "partner.json", "application/feed+json")
	st := openStore(t)
	p := NewPoller(PollerOptions{
		Sources: []Source{{Name: "a", URL: up.srv.URL + "/a", Interval: 2 * time.Second, Enabled: true}},
		Store:   st, Importer: newTestImporter(t, st, time.Now), Location: hcm,
		Logger: quietLogger(), Client: &http.Client{Timeout: 2 * time.Second},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	// Polls at about 0, 2 and 4 s (±10%): three by 5 s.
	time.Sleep(5 * time.Second)
	cancel()
	<-done
	up.mu.Lock()
	defer up.mu.Unlock()
	if n := up.requests["/a"]; n < 3 || n > 4 {
		t.Errorf("%d polls in 5 s of a 2 s interval; want 3", n)
	}
}
