package main

import (
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestEnclosureLengthFromHEADImageLookup2s: with ingest.image_lookup on
// (the default), images ingested without a
// length get the one their server answers to a HEAD request, in every
// feed (RSS enclosure length, Atom link length, JSON Feed size_in_bytes);
// an image whose server cannot be reached leaves the length unknown
// (RSS length="0", as the RSS Best Practices Profile asks; nothing in Atom
// and JSON Feed) without failing the import, and within the 2 s timeout.
func TestEnclosureLengthFromHEADImageLookup2s(t *testing.T) {
	var heads atomic.Int64
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			heads.Add(1)
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Content-Length", "48213")
		if r.Method == http.MethodGet {
			_, _ = w.Write(make([]byte, 48213))
		}
	}))
	defer images.Close()
	gone := httptest.NewServer(http.NotFoundHandler())
	goneURL := gone.URL
	gone.Close() // a refused connection

	dir := t.TempDir()
	articles := `{"id": "co-anh", "title": "Có ảnh", "summary": "x", "published_at": "2024-03-28T08:00:00+07:00",
  "image": {"url": "` + images.URL + `/anh/cau.jpg", "caption": "Cây cầu"}}
{"id": "anh-mat", "title": "Ảnh mất", "summary": "y", "published_at": "2024-03-28T07:00:00+07:00",
  "image": {"url": "` + goneURL + `/anh/mat.jpg"}}
`
	if err := os.WriteFile(filepath.Join(dir, "bai.jsonl"), []byte(strings.ReplaceAll(articles, "\n  ", " ")), 0o644); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, "site:\n  base_url: https://baomau.vn\n")
	start := time.Now()
	runEnv(t, dir, []string{"BANTIN_TEST_IMAGE_LOOKUP_PRIVATE=1"}, "ingest", "bai.jsonl")
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the import took %v", d)
	}
	if n := heads.Load(); n != 1 {
		t.Errorf("%d HEAD requests to the image server, want 1", n)
	}
	runEnv(t, dir, nil, "feeds", "build", "--out", "out")
	rss, atom, jf := readOut(t, dir, "rss.xml"), readOut(t, dir, "atom.xml"), readOut(t, dir, "feed.json")

	if want := `<enclosure url="` + images.URL + `/anh/cau.jpg" length="48213" type="image/jpeg">`; !strings.Contains(rss, want) {
		t.Errorf("RSS has no %s:\n%s", want, rss)
	}
	if want := `<enclosure url="` + goneURL + `/anh/mat.jpg" length="0" type="image/jpeg">`; !strings.Contains(rss, want) {
		t.Errorf("RSS has no %s for an image of unknown length:\n%s", want, rss)
	}
	if want := `href="` + images.URL + `/anh/cau.jpg" rel="enclosure" type="image/jpeg" length="48213"`; !strings.Contains(atom, want) {
		t.Errorf("Atom has no %s:\n%s", want, atom)
	}
	if strings.Contains(atom, `length="0"`) {
		t.Errorf("Atom says length=\"0\":\n%s", atom)
	}
	var doc struct {
		Items []struct {
			ID          string           `json:"id"`
			Attachments []map[string]any `json:"attachments"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(jf), &doc); err != nil {
		t.Fatal(err)
	}
	sizes := map[string]any{}
	for _, it := range doc.Items {
		if len(it.Attachments) != 1 {
			t.Fatalf("item %s: attachments %v", it.ID, it.Attachments)
		}
		sizes[it.ID] = it.Attachments[0]["size_in_bytes"]
	}
	for id, want := range map[string]any{"co-anh": 48213.0, "anh-mat": nil} {
		var got any
		for k, v := range sizes {
			if strings.HasSuffix(k, ":"+id) {
				got = v
			}
		}
		if got != want {
			t.Errorf("JSON Feed %s size_in_bytes = %v, want %v", id, got, want)
		}
	}

	// Without the test option, a loopback image server is never asked.
	heads.Store(0)
	other := strings.ReplaceAll(articles, `"co-anh"`, `"co-anh-2"`)
	other = strings.ReplaceAll(other, `"anh-mat"`, `"anh-mat-2"`)
	if err := os.WriteFile(filepath.Join(dir, "bai2.jsonl"), []byte(strings.ReplaceAll(other, "\n  ", " ")), 0o644); err != nil {
		t.Fatal(err)
	}
	runEnv(t, dir, nil, "ingest", "bai2.jsonl")
	if n := heads.Load(); n != 0 {
		t.Errorf("%d HEAD requests to a loopback address without the test option", n)
	}

	// ingest.image_lookup: false asks nothing, even where it could.
	writeConfig(t, dir, "site:\n  base_url: https://baomau.vn\ningest:\n  image_lookup: false\n")
	third := strings.ReplaceAll(articles, `"co-anh"`, `"co-anh-3"`)
	third = strings.ReplaceAll(third, `"anh-mat"`, `"anh-mat-3"`)
	if err := os.WriteFile(filepath.Join(dir, "bai3.jsonl"), []byte(strings.ReplaceAll(third, "\n  ", " ")), 0o644); err != nil {
		t.Fatal(err)
	}
	runEnv(t, dir, []string{"BANTIN_TEST_IMAGE_LOOKUP_PRIVATE=1"}, "ingest", "bai3.jsonl")
	if n := heads.Load(); n != 0 {
		t.Errorf("%d HEAD requests with ingest.image_lookup: false", n)
	}
}

// TestPlainTitlesAndBlockSummaries: a title that looks like markup keeps
// every character and is escaped by every output (feeds, the article
// page, the digest); a summary made from a Markdown body keeps its
// heading, quote and list items apart.
func TestPlainTitlesAndBlockSummaries(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "")+`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`)
	const title = "Sản lượng năm ‹kỷ lục> a <b> c & x < y > z"
	md := "---\ntitle: \"" + title + "\"\nid: ky-luc\n---\n" +
		"Mùa này đạt cao hơn vụ trước.\n\n## Đầu ra ổn định\n\n> Ông Trần nói giá tốt\n\n- Lúa\n- Ngô\n"
	if err := os.WriteFile(filepath.Join(dir, "ky-luc.md"), []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "ingest", "ky-luc.md")
	const summary = "Mùa này đạt cao hơn vụ trước. Đầu ra ổn định. Ông Trần nói giá tốt. Lúa. Ngô"

	startServe(t, dir, addr)
	base := "http://" + addr
	_, rss := httpGet(t, base+"/feeds/rss.xml", "")
	if want := "<title>Sản lượng năm ‹kỷ lục&#x3E; a &#x3C;b&#x3E; c &#x26; x &#x3C; y &#x3E; z</title>"; !strings.Contains(rss, want) {
		t.Errorf("RSS has no %s:\n%s", want, rss)
	}
	if want := "<description>" + summary + "</description>"; !strings.Contains(rss, want) {
		t.Errorf("RSS has no %s:\n%s", want, rss)
	}
	_, atom := httpGet(t, base+"/feeds/atom.xml", "")
	if want := "<title>Sản lượng năm ‹kỷ lục&gt; a &lt;b&gt; c &amp; x &lt; y &gt; z</title>"; !strings.Contains(atom, want) {
		t.Errorf("Atom has no %s:\n%s", want, atom)
	}
	_, jf := httpGet(t, base+"/feeds/feed.json", "")
	var doc struct {
		Items []struct{ Title, Summary string } `json:"items"`
	}
	if err := json.Unmarshal([]byte(jf), &doc); err != nil || len(doc.Items) != 1 {
		t.Fatalf("JSON Feed: %v\n%s", err, jf)
	}
	if doc.Items[0].Title != title || doc.Items[0].Summary != summary {
		t.Errorf("JSON Feed title %q and summary %q, want %q and %q", doc.Items[0].Title, doc.Items[0].Summary, title, summary)
	}

	escaped := html.EscapeString(title)
	_, home := httpGet(t, base+"/", "")
	if !strings.Contains(home, escaped) {
		t.Errorf("the home page does not show %q", escaped)
	}
	i := strings.Index(home, `href="/articles/`)
	if i < 0 {
		t.Fatalf("the home page links no article:\n%.800s", home)
	}
	path := home[i+len(`href="`):]
	path = path[:strings.IndexByte(path, '"')]
	_, page := httpGet(t, base+path, "")
	if strings.Count(page, escaped) < 2 { // <title> and <h1>
		t.Errorf("the article page shows %q %d times, want at least 2 (title and heading)", escaped, strings.Count(page, escaped))
	}
	preview, _ := mustRun(t, dir, 0, "digest", "preview", "sang", "--format", "html", "--since", "2000-01-01T00:00:00Z")
	if !strings.Contains(preview, escaped) {
		t.Errorf("the digest does not show %q:\n%.1500s", escaped, preview)
	}
	text, _ := mustRun(t, dir, 0, "digest", "preview", "sang", "--format", "text", "--since", "2000-01-01T00:00:00Z")
	if !strings.Contains(text, title) {
		t.Errorf("the digest's text part does not show %q:\n%.1500s", title, text)
	}
}

// runEnv runs the binary in dir with extra environment variables and
// fails the test unless it exits 0.
func runEnv(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("bantin %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readOut(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "out", "feeds", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
