package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// manyCategories is an article in as many categories as the test asks.
func manyCategories(id string, n int) string {
	cats := make([]string, n)
	for i := range cats {
		cats[i] = fmt.Sprintf("Mục lạ %d", i)
	}
	b, _ := json.Marshal(map[string]any{"id": id, "title": "Bài có " + strconv.Itoa(n) + " chuyên mục",
		"summary": "Một bài gắn nhiều chuyên mục.", "content_html": "<p>Nội dung.</p>", "categories": cats})
	return string(b)
}

// TestManyCategoriesFreshWithLimitsCategories2000: one article in 2,000
// categories (limits.categories raised to let it in) costs the next,
// unrelated ingest nothing: it is in /feeds/rss.xml within 2 s. Before,
// each change rendered every category feed, each reading every category.
// The home page then links the busiest limits.home_categories category
// feeds, while the OPML lists them all; and SIGTERM stops serve promptly.
func TestManyCategoriesFreshWithLimitsCategories2000(t *testing.T) {
	const token, cats, home = "limits-token", 2000, 5
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, serveConfig(addr, token)+fmt.Sprintf(`feeds:
  items: 10
  websub_allow_private: true
limits:
  categories: %d
  home_categories: %d
log:
  level: warn
`, cats, home))
	d := startServe(t, dir, addr)
	base := "http://" + addr
	// Read the feeds, so that a change renders what is being read.
	if code, _ := httpGet(t, base+"/feeds/rss.xml", ""); code != 200 {
		t.Fatalf("/feeds/rss.xml: %d", code)
	}
	for i := range 3 {
		body := fmt.Sprintf(`{"id": "thuong-%d", "title": "Tin thường %d", "summary": "x", "content_html": "<p>x</p>", "categories": ["Thời sự"]}`, i, i)
		if code, out := httpDo(t, "POST", base+"/api/v1/articles", "application/json", body, token); code/100 != 2 {
			t.Fatalf("POST article: %d %s", code, out)
		}
	}
	start := time.Now()
	if code, out := httpDo(t, "POST", base+"/api/v1/articles", "application/json", manyCategories("nhieu-muc", cats), token); code/100 != 2 {
		t.Fatalf("POST the article of %d categories: %d %.300s", cats, code, out)
	}
	t.Logf("article of %d categories stored in %v", cats, time.Since(start))
	if code, _ := httpGet(t, base+"/feeds/rss.xml", ""); code != 200 {
		t.Fatalf("/feeds/rss.xml: %d", code)
	}

	// A reader (an aggregator, or WebSub before it rendered only the
	// subscribed feeds) fetches category feeds: each render looks up its
	// own category, not all 2,000. (Each still holds the article of 2,000
	// categories; limits.categories keeps that small in practice.)
	crawl := time.Now()
	for i := range 100 {
		if code, _ := httpGet(t, fmt.Sprintf("%s/feeds/muc-la-%d/rss.xml", base, i), ""); code != 200 {
			t.Fatalf("/feeds/muc-la-%d/rss.xml: %d", i, code)
		}
	}
	t.Logf("100 category feeds fetched in %v", time.Since(crawl))

	posted := time.Now()
	if code, out := httpDo(t, "POST", base+"/api/v1/articles", "application/json",
		`{"id": "khong-lien-quan", "title": "Tin không liên quan", "summary": "x", "content_html": "<p>x</p>", "categories": ["Kinh tế"]}`, token); code/100 != 2 {
		t.Fatalf("POST the unrelated article: %d %s", code, out)
	}
	var seen time.Duration
	waitFor(t, 30*time.Second, "the unrelated article in /feeds/rss.xml", func() bool {
		_, body := httpGet(t, base+"/feeds/rss.xml", "")
		seen = time.Since(posted)
		return strings.Contains(body, "Tin không liên quan")
	})
	t.Logf("unrelated article in the feed %v after its POST", seen)
	if seen > 2*time.Second {
		t.Errorf("the unrelated article reached /feeds/rss.xml after %v; want within 2s", seen)
	}

	// Any category feed still renders, on demand.
	if code, body := httpGet(t, base+"/feeds/muc-la-1234/atom.xml", ""); code != 200 || !strings.Contains(body, "Mục lạ 1234") {
		t.Errorf("/feeds/muc-la-1234/atom.xml: %d %.200s", code, body)
	}
	// The home page: site-wide feeds and the busiest categories, not 2,000.
	code, page := httpGet(t, base+"/", "")
	alternates := regexp.MustCompile(`<link rel="alternate"[^>]*href="([^"]+)"`).FindAllStringSubmatch(page, -1)
	if code != 200 || len(alternates) != 3*(1+home) {
		t.Errorf("home page: %d, %d autodiscovery links (%d bytes); want 200 and %d (site-wide and %d categories, 3 formats each)",
			code, len(alternates), len(page), 3*(1+home), home)
	}
	if !strings.Contains(page, "/feeds/thoi-su/rss.xml") {
		t.Error("home page lacks the busiest category, thoi-su")
	}
	if code, opml := httpGet(t, base+"/feeds.opml", ""); code != 200 || strings.Count(opml, "<outline ") != 1+cats+2 {
		t.Errorf("OPML: %d, %d outlines; want every feed, %d", code, strings.Count(opml, "<outline "), 1+cats+2)
	}

	// SIGTERM right after a change: serve stops promptly.
	if code, _ := httpDo(t, "POST", base+"/api/v1/articles", "application/json",
		`{"id": "cuoi", "title": "Tin cuối", "summary": "x", "content_html": "<p>x</p>"}`, token); code/100 != 2 {
		t.Fatalf("POST: %d", code)
	}
	stop := time.Now()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("serve after SIGINT: %v", err)
		}
		t.Logf("serve stopped %v after the signal", time.Since(stop))
	case <-time.After(10 * time.Second):
		t.Errorf("serve still running 10s after the signal")
	}
}

// TestArchiveCrawlStaysUnderLimitsFeedCache: a reader crawling every page
// of a 2,000-article archive, in every format, both encodings, leaves the
// feed cache (bantin_feed_cache_bytes) within limits.feed_cache, and the
// first page, polled meanwhile, is still served from the cache.
func TestArchiveCrawlStaysUnderLimitsFeedCache(t *testing.T) {
	const articles, items, limit = 2000, 10, 1 << 20
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, serveConfig(addr, "")+fmt.Sprintf(`feeds:
  items: %d
limits:
  feed_cache: 1MiB
log:
  level: warn
`, items))
	f, err := os.Create(filepath.Join(dir, "archive.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	para := strings.Repeat("Công tác dân vận góp phần gắn kết, củng cố niềm tin giữa nhân dân và chính quyền. ", 20)
	day := time.Date(2024, 1, 1, 8, 0, 0, 0, time.UTC)
	for i := range articles {
		b, _ := json.Marshal(map[string]any{"id": fmt.Sprint("luu-tru-", i), "title": fmt.Sprint("Bài lưu trữ số ", i),
			"published_at": day.Add(time.Duration(i) * time.Hour).Format(time.RFC3339), "summary": "Tóm tắt.",
			"content_html": "<p>" + para + strconv.Itoa(i) + "</p>", "categories": []string{"Thời sự"}})
		w.Write(b)
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	mustRun(t, dir, 0, "ingest", "archive.jsonl")
	d := startServe(t, dir, addr)
	base := "http://" + addr

	cacheBytes := func() float64 {
		_, body := httpGet(t, base+"/metrics", "")
		m := regexp.MustCompile(`(?m)^bantin_feed_cache_bytes (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatal("/metrics has no bantin_feed_cache_bytes")
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	hits := func() float64 {
		_, body := httpGet(t, base+"/metrics", "")
		m := regexp.MustCompile(`(?m)^bantin_feed_cache_total\{kind="rss",result="hit"\} (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			return 0
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		return v
	}
	get := func(path string, gzip bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if gzip {
			req.Header.Set("Accept-Encoding", "gzip")
		}
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d", path, resp.StatusCode)
		}
	}
	get("/feeds/rss.xml", true)
	pages := articles / items
	var most float64
	start := time.Now()
	for p := 1; p <= pages; p++ {
		for _, file := range []string{"rss.xml", "atom.xml", "feed.json"} {
			path := "/feeds/" + file
			if p > 1 {
				path = fmt.Sprintf("/feeds/page/%d/%s", p, file)
			}
			get(path, false)
			get(path, true)
		}
		if p%20 == 0 {
			most = max(most, cacheBytes())
		}
	}
	most = max(most, cacheBytes())
	t.Logf("crawled %d pages × 3 formats × 2 encodings in %v; most cache bytes seen %.0f (limit %d); serve %s",
		pages, time.Since(start), most, limit, memory(t, d.cmd.Process.Pid))
	if most > limit || most == 0 {
		t.Errorf("bantin_feed_cache_bytes reached %.0f during the crawl; want above 0, at most limits.feed_cache %d", most, limit)
	}
	// The first page, read before the crawl, is still cached.
	before := hits()
	get("/feeds/rss.xml", true)
	if after := hits(); after != before+1 {
		t.Errorf("first page after the crawl: rss cache hits %v → %v; want one more (still cached)", before, after)
	}
}

// memory reads a process's peak and current resident memory.
func memory(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "(memory not readable: " + err.Error() + ")"
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") || strings.HasPrefix(line, "VmRSS:") {
			out = append(out, strings.Join(strings.Fields(line), " "))
		}
	}
	return strings.Join(out, ", ")
}
