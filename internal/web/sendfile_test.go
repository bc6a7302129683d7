package web_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

// TestFeedSendfileAnswersAsFromMemory serves one feed service behind two
// listeners: serve's own (web.LimitConnections and web.LimitPerClient,
// whose connections send a cached document's memory file with sendfile,
// the head before it with MSG_MORE) and a plain one (net/http copies the
// bytes). Every answer a reader can
// ask for, identity, gzip, 304 for each, HEAD and a Range request (not
// supported: the whole document, 200), must be the same from both, and a
// body must be the cached bytes.
func TestFeedSendfileAnswersAsFromMemory(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st := sqlitetest.Open(t)
	n, _ := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ingest.ParseDate})
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	svc := feed.NewService(feed.ServiceOptions{
		Renderer: feed.NewRenderer(feed.Options{Site: feed.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm}, FullContent: true}),
		Source:   st, Items: 50, Logger: discardLogger(),
	})
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	handler := web.New(web.Options{
		Site:  web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		Store: st, Normalizer: n, Templates: tmpl, AdminToken: token, Logger: discardLogger(), Feeds: svc,
	})
	plain := httptest.NewServer(handler)
	served := httptest.NewUnstartedServer(handler)
	served.Listener = web.LimitPerClient(web.LimitConnections(served.Listener, 100), 10, nil)
	served.Config.ConnContext = web.ConnContext // as serve: the head goes with MSG_MORE
	served.Start()
	t.Cleanup(func() { served.Close(); plain.Close(); cancel(); <-done })

	// 40 articles of about 4 KB each, both encodings large enough for
	// memory files.
	// Words drawn at random (a fixed seed) so that gzip leaves over 32 KB.
	rng := rand.New(rand.NewPCG(1, 2))
	words := strings.Fields("tin tức hôm nay thời sự kinh tế thế giới thể thao văn hóa giáo dục sức khỏe pháp luật xe cộ du lịch khoa học số hóa bất động sản")
	var batch []string
	for i := range 40 {
		var body strings.Builder
		for range 20 {
			body.WriteString("<p>")
			for range 30 {
				fmt.Fprintf(&body, "%s%d ", words[rng.IntN(len(words))], rng.IntN(1000))
			}
			body.WriteString("</p>")
		}
		cats := `[]`
		if i < 3 { // a category feed of 3 articles: over 4 KB, under a memory file's 32 KB
			cats = `["Nhỏ"]`
		}
		batch = append(batch, fmt.Sprintf(`{"id":"s%d","title":"Bài %d","content_html":%q,"categories":%s,"published_at":"2024-12-%02dT08:00:00+07:00"}`, i, i, body.String(), cats, 1+i%28))
	}
	(&feedFixture{url: plain.URL}).post(t, "["+strings.Join(batch, ",")+"]")

	// Waits for the change to reach the feeds and for the cache to keep
	// the document, with its memory files (a request that rendered it, or
	// waited on its render, holds the copy without them).
	var doc *feed.Rendered
	waitUntil(t, 5*time.Second, "the articles in the cached feed, with memory files", func() bool {
		doc, err = svc.Get(ctx, "", 1, feed.RSS)
		return err == nil && bytes.Contains(doc.Body, []byte("Bài 39")) &&
			(runtime.GOOS != "linux" || doc.BodyFile != nil && doc.GzipFile != nil)
	})

	// One client for each server, so that its requests share a kept-alive
	// connection.
	clients := map[string]*http.Client{}
	for _, base := range []string{served.URL, plain.URL} {
		tr := &http.Transport{DisableCompression: true}
		t.Cleanup(tr.CloseIdleConnections)
		clients[base] = &http.Client{Transport: tr}
	}
	get := func(base, method string, header map[string]string) (*http.Response, []byte) {
		t.Helper()
		path := "/feeds/rss.xml"
		if p := header["path"]; p != "" {
			path = p
		}
		req, _ := http.NewRequest(method, base+path, nil)
		for k, v := range header {
			if k != "path" {
				req.Header.Set(k, v)
			}
		}
		resp, err := clients[base].Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	small, err := svc.Get(ctx, "nho", 1, feed.RSS)
	if err != nil || len(small.Body) <= 4<<10 || small.BodyFile != nil {
		t.Fatalf("category feed: %d bytes, memory file %v, %v; want over 4 KB, none", len(small.Body), small.BodyFile != nil, err)
	}
	for _, tc := range []struct {
		name, method string
		header       map[string]string
		status       int
		body         []byte
	}{
		{"identity", "GET", nil, 200, doc.Body},
		{"gzip", "GET", map[string]string{"Accept-Encoding": "gzip"}, 200, doc.Gzip},
		{"identity 304", "GET", map[string]string{"If-None-Match": doc.ETag}, 304, nil},
		{"gzip 304", "GET", map[string]string{"Accept-Encoding": "gzip", "If-None-Match": doc.GzipETag}, 304, nil},
		{"identity HEAD", "HEAD", nil, 200, nil},
		{"gzip HEAD", "HEAD", map[string]string{"Accept-Encoding": "gzip"}, 200, nil},
		{"Range, whole document", "GET", map[string]string{"Range": "bytes=0-99"}, 200, doc.Body},
		{"gzip, Range, whole document", "GET", map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=100-"}, 200, doc.Gzip},
		// Sent from its bytes, the head marked to wait for the rest.
		{"no memory file", "GET", map[string]string{"path": "/feeds/nho/rss.xml"}, 200, small.Body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Twice over one connection each: the second answer follows a
			// sent file on the same socket.
			for range 2 {
				sresp, sbody := get(served.URL, tc.method, tc.header)
				presp, pbody := get(plain.URL, tc.method, tc.header)
				if sresp.StatusCode != tc.status || presp.StatusCode != tc.status {
					t.Fatalf("status %d (sendfile), %d (plain); want %d", sresp.StatusCode, presp.StatusCode, tc.status)
				}
				if !bytes.Equal(sbody, tc.body) || !bytes.Equal(pbody, tc.body) {
					t.Errorf("body of %d bytes (sendfile), %d (plain); want the cached %d", len(sbody), len(pbody), len(tc.body))
				}
				for _, h := range []http.Header{sresp.Header, presp.Header} {
					h.Del("Date")
					h.Del("X-Request-Id")
				}
				if got, want := fmt.Sprint(sresp.Header), fmt.Sprint(presp.Header); got != want {
					t.Errorf("headers differ:\nsendfile %s\nplain    %s", got, want)
				}
			}
		})
	}
}

// TestLimitConnectionsKeepsToN: with n open, the next connection is
// accepted only once one closes, and closing one twice frees one slot.
func TestLimitConnectionsKeepsToN(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := web.LimitConnections(raw, 2)
	accepted := make(chan net.Conn, 10)
	go func() {
		defer close(accepted)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	for range 4 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	none := func(when string) {
		t.Helper()
		select {
		case <-accepted:
			t.Fatalf("%s: one more connection accepted than limits.connections", when)
		case <-time.After(200 * time.Millisecond):
		}
	}
	first, second := <-accepted, <-accepted
	none("two open")
	first.Close()
	first.Close()
	third := <-accepted
	none("one closed twice")
	second.Close()
	fourth := <-accepted
	third.Close()
	fourth.Close()
	ln.Close()
	if _, ok := <-accepted; ok {
		t.Error("accepted after Close")
	}
}
