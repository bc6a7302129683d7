package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/store/postgres/pgtest"
)

// TestServeOnPostgres runs the binary on a PostgreSQL schema of its own:
// migrate, ingest, serve; an ingest by another process is in serve's feed
// within a second, and an issue made through the API is delivered.
func TestServeOnPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, fmt.Sprintf(`site:
  title: Báo Mẫu
  base_url: http://%s
server:
  listen: %s
  admin_token: digest-token
storage:
  driver: postgres
  dsn: %q
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`, addr, addr, dsn))
	out, _ := mustRun(t, dir, 0, "migrate")
	if !strings.Contains(out, "00001_articles.sql") {
		t.Errorf("migrate on PostgreSQL: %s", out)
	}
	write := func(name, title string) {
		t.Helper()
		body := fmt.Sprintf(`{"id": %q, "title": %q, "summary": "Tóm tắt.", "content_html": "<p>Nội dung.</p>"}`, name, title)
		if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bai-1", "Bài đầu tiên")
	mustRun(t, dir, 0, "ingest", "bai-1.json")
	mustRun(t, dir, 0, "subscribers", "add", "sang", "an@example.vn", "--confirmed")

	startServe(t, dir, addr)
	base := "http://" + addr
	if code, body := httpGet(t, base+"/readyz", ""); code != http.StatusOK {
		t.Fatalf("/readyz on PostgreSQL: %d %s", code, body)
	}
	if _, rss := httpGet(t, base+"/feeds/rss.xml", ""); !strings.Contains(rss, "Bài đầu tiên") {
		t.Fatalf("the feed lacks the article:\n%.400s", rss)
	}
	write("bai-2", "Bài thứ hai")
	mustRun(t, dir, 0, "ingest", "bai-2.json")
	ingested := time.Now()
	waitFor(t, 3*time.Second, "the other process's article in serve's feed", func() bool {
		_, rss := httpGet(t, base+"/feeds/rss.xml", "")
		return strings.Contains(rss, "Bài thứ hai")
	})
	if d := time.Since(ingested); d > 1200*time.Millisecond {
		t.Errorf("the article took %v to reach serve's feed", d)
	}
	var made struct {
		Deliveries int `json:"deliveries"`
	}
	if code := api(t, "POST", base+"/api/v1/newsletters/sang/send", &made); code != http.StatusCreated || made.Deliveries != 1 {
		t.Fatalf("send: %d %+v", code, made)
	}
	waitFor(t, 5*time.Second, "the copy written", func() bool {
		return len(emlFiles(t, filepath.Join(dir, "data", "outbox"))) == 1
	})
}
