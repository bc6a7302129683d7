package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestSourcesEndToEnd: serve polls an upstream feed at start; an entry
// added upstream and polled with `bantin sources poll` (another process)
// shows in serve's own feed within a second and in the next digest; the
// API and `sources list` tell the state.
func TestSourcesEndToEnd(t *testing.T) {
	var mu sync.Mutex
	items := []string{`<item><title>Tin đầu tiên từ huyện</title><link>https://huyen.example/1</link><guid>h-1</guid>
<pubDate>` + time.Now().Add(-time.Hour).Format(time.RFC1123Z) + `</pubDate><description>Mô tả tin đầu tiên.</description></item>`}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Huyện</title><link>https://huyen.example/</link><description>d</description>%s</channel></rss>`,
			strings.Join(items, ""))
	}))
	defer upstream.Close()

	addr := freeAddr(t)
	dir := t.TempDir()
	config := serveConfig(addr, "src-token") + fmt.Sprintf(`ingest:
  sources:
    - {name: huyen, url: "%s/feed", category: dia-phuong, interval: 1h}
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`, upstream.URL)
	writeConfig(t, dir, config)
	mustRun(t, dir, 0, "migrate") // sources list reads a store and never makes one
	out, _ := mustRun(t, dir, 0, "sources", "list")
	if !strings.Contains(out, "huyen") || !strings.Contains(out, "never") {
		t.Errorf("sources list before any poll:\n%s", out)
	}

	d := startServe(t, dir, addr)
	base := "http://" + addr
	get := func(path string) string {
		t.Helper()
		_, body := httpGet(t, base+path, "src-token")
		return body
	}
	waitFor(t, 10*time.Second, "serve's first poll to reach the feed", func() bool {
		return strings.Contains(get("/feeds/rss.xml"), "Tin đầu tiên từ huyện")
	})
	var api struct {
		Sources []struct {
			Name       string `json:"name"`
			LastStatus int    `json:"last_status"`
			Entries    int    `json:"entries"`
			NextPoll   string `json:"next_poll"`
		} `json:"sources"`
	}
	if err := json.Unmarshal([]byte(get("/api/v1/sources")), &api); err != nil || len(api.Sources) != 1 ||
		api.Sources[0].LastStatus != 200 || api.Sources[0].Entries != 1 || api.Sources[0].NextPoll == "" {
		t.Errorf("GET /api/v1/sources: %+v (%v)", api, err)
	}

	mu.Lock()
	items = append([]string{`<item><title>Tin thứ hai</title><link>/2</link><guid>h-2</guid><description>Mới.</description></item>`}, items...)
	mu.Unlock()
	out, _ = mustRun(t, dir, 0, "sources", "poll", "huyen")
	if !strings.Contains(out, "created") || !strings.Contains(out, "huyen: 2 entries: 1 created, 0 updated, 1 unchanged") {
		t.Errorf("sources poll: %s", out)
	}
	polled := time.Now()
	waitFor(t, 5*time.Second, "the new entry in serve's feed", func() bool {
		return strings.Contains(get("/feeds/dia-phuong/rss.xml"), "Tin thứ hai")
	})
	if d := time.Since(polled); d > 1500*time.Millisecond {
		t.Errorf("the entry took %v to reach serve's feed", d)
	}
	// Each feed is fresh within a second of the other process's change; a
	// feed first rendered after the change (the category's) can be ahead
	// of one cached before it (the site's) by up to the change poll.
	waitFor(t, time.Second, "the new entry in serve's site-wide feed", func() bool {
		return strings.Contains(get("/feeds/rss.xml"), "Tin thứ hai")
	})
	if rss := get("/feeds/rss.xml"); !strings.Contains(rss, "https://huyen.example/2") {
		t.Errorf("the relative link was not resolved against the feed")
	}
	_, metrics := httpGet(t, base+"/metrics", "")
	for _, want := range []string{`bantin_source_polls_total{result="ok",source="huyen"} 1`,
		`bantin_articles_ingested_total{entry="source",result="created"} 1`, `bantin_feed_requests_total{code="200",kind="rss"}`,
		`bantin_subscribers`, `bantin_outbox_depth 0`, `bantin_feed_cache_total{kind="rss",result="hit"}`,
		`bantin_feed_cache_total{kind="rss",result="miss"}`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	out, _ = mustRun(t, dir, 0, "digest", "preview", "sang", "--format", "text")
	if !strings.Contains(out, "Tin thứ hai") || !strings.Contains(out, "Tin đầu tiên từ huyện") {
		t.Errorf("the next digest lacks the upstream entries:\n%s", out)
	}
	out, _ = mustRun(t, dir, 0, "sources", "list")
	if !strings.Contains(out, "200") || strings.Contains(out, "never") {
		t.Errorf("sources list after polls:\n%s", out)
	}
	// SIGHUP: a broken config is refused and polling goes on; a second
	// source added to the file is polled at once.
	writeConfig(t, dir, config+"bogus_key: 1\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the refusal in the log", func() bool {
		return strings.Contains(d.logs.String(), "the new config is refused")
	})
	second := strings.Replace(config, "    - {name: huyen,", fmt.Sprintf("    - {name: xa, url: \"%s/feed-xa\", interval: 1h}\n    - {name: huyen,", upstream.URL), 1)
	writeConfig(t, dir, second)
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the new source polled", func() bool {
		return strings.Contains(d.logs.String(), "source=xa")
	})
	_, errOut := mustRun(t, dir, 1, "sources", "poll", "nope")
	if !strings.Contains(errOut, "the configured sources are: xa, huyen") {
		t.Errorf("an unknown source: %s", errOut)
	}
}
