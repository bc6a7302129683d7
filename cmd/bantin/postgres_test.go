package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/mail/smtptest"
	"github.com/bantin/bantin/internal/store/postgres/pgtest"
)

// TestServeOnPostgres runs the binary on a PostgreSQL schema of its own:
// migrate, ingest, serve; an ingest by another process is in serve's feed
// within a second, and an issue made through the API is delivered.
func TestServeOnPostgres(t *testing.T) {
	dsn := pgtest.Schema(t)
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "digest-token")+fmt.Sprintf(`storage:
  driver: postgres
  dsn: %q
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`, dsn))
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

// TestThreeProcessesOnPostgres: three serve processes on one database and
// 5,000 confirmed subscribers; an issue sent through A's API while B is
// killed with SIGKILL. Every subscriber gets it, copies sent twice are at
// most B's transactions in flight, one issue exists, all three delivered,
// and an article ingested through A is served by C within a second.
func TestThreeProcessesOnPostgres(t *testing.T) {
	const subscribers, connections = 5000, 4
	dsn := pgtest.Schema(t)
	srv := smtptest.Start(t, smtptest.Options{Delay: time.Millisecond})
	var dirs, addrs []string
	for range 3 {
		dir, addr := t.TempDir(), freeAddr(t)
		writeConfig(t, dir, serveConfig(addr, "digest-token")+fmt.Sprintf(`storage:
  driver: postgres
  dsn: %q
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
mail:
  from: "Báo Mẫu <news@baomau.vn>"
  transport: smtp
  smtp: {host: 127.0.0.1, port: %d, tls: none, connections: %d}
log: {level: debug}
`, dsn, srv.Port, connections))
		dirs, addrs = append(dirs, dir), append(addrs, addr)
	}
	a := dirs[0]
	var csv strings.Builder
	for i := range subscribers {
		fmt.Fprintf(&csv, "doc-gia-%04d@example.vn,Độc giả %d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(a, "subs.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	body := `{"id": "bai-1", "title": "Bài đầu tiên", "summary": "Tóm tắt.", "content_html": "<p>Nội dung.</p>"}`
	if err := os.WriteFile(filepath.Join(a, "bai-1.json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, a, 0, "ingest", "bai-1.json")
	mustRun(t, a, 0, "subscribers", "import", "sang", "subs.csv", "--confirmed")
	var procs []*daemon
	for i := range 3 {
		procs = append(procs, startServe(t, dirs[i], addrs[i]))
	}

	// Freshness: an article through A's API is in C's feed within a second.
	req, _ := http.NewRequest("POST", "http://"+addrs[0]+"/api/v1/articles",
		strings.NewReader(`{"id": "bai-2", "title": "Bài qua tiến trình A", "summary": "Tóm tắt.", "content_html": "<p>Nội dung.</p>"}`))
	req.Header.Set("Authorization", "Bearer digest-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("ingest through A: %v %v", err, resp)
	}
	resp.Body.Close()
	ingested := time.Now()
	waitFor(t, 3*time.Second, "A's article in C's feed", func() bool {
		_, rss := httpGet(t, "http://"+addrs[2]+"/feeds/rss.xml", "")
		return strings.Contains(rss, "Bài qua tiến trình A")
	})
	if d := time.Since(ingested); d > time.Second {
		t.Errorf("A's article took %v to reach C's feed", d)
	}

	var made struct {
		Deliveries int `json:"deliveries"`
	}
	if code := api(t, "POST", "http://"+addrs[0]+"/api/v1/newsletters/sang/send", &made); code != http.StatusCreated || made.Deliveries != subscribers {
		t.Fatalf("send through A: %d %+v", code, made)
	}
	waitFor(t, 60*time.Second, "every process sending", func() bool {
		for _, d := range procs {
			if !strings.Contains(d.logs.String(), `msg="digest: batch"`) {
				return false
			}
		}
		return true
	})
	if total, _ := received(srv.Counts()); total >= subscribers {
		t.Fatal("every copy was out before B was killed: the test proves nothing")
	}
	procs[1].kill(t)
	waitFor(t, 90*time.Second, "every subscriber to have the issue", func() bool {
		_, distinct := received(srv.Counts())
		return distinct >= subscribers
	})
	total, distinct := received(srv.Counts())
	if dups := total - distinct; dups > connections {
		t.Errorf("%d copies sent twice; B had at most %d transactions in flight", dups, connections)
	}
	var list struct {
		Issues []struct {
			Status string `json:"status"`
		} `json:"issues"`
	}
	waitFor(t, 10*time.Second, "the issue marked sent", func() bool {
		api(t, "GET", "http://"+addrs[2]+"/api/v1/newsletters/sang/issues", &list)
		return len(list.Issues) == 1 && list.Issues[0].Status == "sent"
	})
	for i, d := range procs {
		sent := 0
		for _, line := range strings.Split(d.logs.String(), "\n") {
			if strings.Contains(line, `msg="digest: batch"`) {
				var n int
				if _, err := fmt.Sscanf(line[strings.Index(line, " sent=")+1:], "sent=%d", &n); err == nil {
					sent += n
				}
			}
		}
		t.Logf("process %c sent %d", 'A'+i, sent)
		if sent == 0 {
			t.Errorf("process %c delivered nothing", 'A'+i)
		}
	}
	t.Logf("%d copies to %d subscribers, %d sent twice", total, distinct, total-distinct)
}

// TestSchedulerFailover: of two serve processes on one database, one
// leads the scheduler; killed, the other takes over and makes the issue
// at the next run.
func TestSchedulerFailover(t *testing.T) {
	dsn := pgtest.Schema(t)
	var dirs, addrs []string
	for range 2 {
		dir, addr := t.TempDir(), freeAddr(t)
		writeConfig(t, dir, serveConfig(addr, "")+fmt.Sprintf(`storage:
  driver: postgres
  dsn: %q
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "* * * * *"}
`, dsn))
		dirs, addrs = append(dirs, dir), append(addrs, addr)
	}
	body := `{"id": "bai-1", "title": "Bài đầu tiên", "summary": "Tóm tắt.", "content_html": "<p>Nội dung.</p>"}`
	if err := os.WriteFile(filepath.Join(dirs[0], "bai-1.json"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dirs[0], 0, "ingest", "bai-1.json")
	procs := []*daemon{startServe(t, dirs[0], addrs[0]), startServe(t, dirs[1], addrs[1])}
	leader := -1
	waitFor(t, 15*time.Second, "a scheduler leader", func() bool {
		for i, d := range procs {
			if strings.Contains(d.logs.String(), "leading=true") {
				leader = i
				return true
			}
		}
		return false
	})
	procs[leader].kill(t)
	other := procs[1-leader]
	waitFor(t, 15*time.Second, "the other process to take the lead", func() bool {
		return strings.Contains(other.logs.String(), "leading=true")
	})
	waitFor(t, 75*time.Second, "the new leader to make the issue at the next run", func() bool {
		return strings.Contains(other.logs.String(), "digest: issue made")
	})
	if strings.Count(other.logs.String(), "digest: issue made") != 1 {
		t.Errorf("the new leader made more than one issue:\n%s", other.logs.String())
	}
}
