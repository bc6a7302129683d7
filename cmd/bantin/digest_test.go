package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/mail/smtptest"
)

// digestDir writes a config that sends through the SMTP server at port,
// with one newsletter, and an article to send.
func digestDir(t *testing.T, addr string, port int) string {
	t.Helper()
	dir := t.TempDir()
	config := serveConfig(addr, "digest-token") + fmt.Sprintf(`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
mail:
  from: "Báo Mẫu <news@baomau.vn>"
  transport: smtp
  smtp: {host: 127.0.0.1, port: %d, tls: none, connections: 4}
`, port)
	writeConfig(t, dir, config)
	page := `{"id": "bai-1", "title": "Công tác dân vận góp phần gắn kết", "author": "Ngọc Nữ",
"summary": "Ngày 19/3, đoàn cán bộ đã có buổi khảo sát.", "content_html": "<p>Nội dung.</p>", "categories": ["xa-hoi"]}`
	if err := os.WriteFile(filepath.Join(dir, "bai-1.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "ingest", "bai-1.json")
	return dir
}

// daemon is one serve process.
type daemon struct {
	cmd    *exec.Cmd
	logs   *syncBuffer
	exited chan error
}

func startServe(t *testing.T, dir, addr string) *daemon {
	t.Helper()
	return startServeEnv(t, dir, addr)
}

// startServeEnv starts serve with extra environment variables (KEY=VALUE)
// on top of a clean environment.
func startServeEnv(t *testing.T, dir, addr string, env ...string) *daemon {
	t.Helper()
	d := &daemon{cmd: exec.Command(binary(t), "serve"), logs: &syncBuffer{}, exited: make(chan error, 1)}
	d.cmd.Dir = dir
	d.cmd.Env = append(cleanEnv(), env...)
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { d.exited <- d.cmd.Wait() }()
	t.Cleanup(func() {
		_ = d.cmd.Process.Kill()
		if t.Failed() {
			t.Logf("serve log:\n%s", d.logs.String())
		}
	})
	waitFor(t, 10*time.Second, "serve to answer /healthz", func() bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return d
}

func (d *daemon) kill(t *testing.T) {
	t.Helper()
	if err := d.cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	<-d.exited
}

// api calls the admin API and decodes its JSON answer.
func api(t *testing.T, method, url string, into any) int {
	t.Helper()
	code, body := httpDo(t, method, url, "", "", "digest-token")
	if into != nil {
		if err := json.Unmarshal([]byte(body), into); err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
	}
	return code
}

func received(counts map[string]int) (total, distinct int) {
	for _, n := range counts {
		total += n
		distinct++
	}
	return total, distinct
}

// TestDigestSurvivesKills sends an issue to 3,000 subscribers through
// serve, kills serve with SIGKILL three times while the SMTP server has
// some but not all of the copies, and restarts it each time. At the end
// every subscriber has the issue, and the only copies sent twice are
// transactions in flight at a kill: at most kills × connections.
func TestDigestSurvivesKills(t *testing.T) {
	const subscribers, kills, connections = 3000, 3, 4
	srv := smtptest.Start(t, smtptest.Options{Delay: 2 * time.Millisecond})
	addr := freeAddr(t)
	dir := digestDir(t, addr, srv.Port)
	var csv bytes.Buffer
	for i := range subscribers {
		fmt.Fprintf(&csv, "doc-gia-%04d@example.vn,Độc giả %d\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "subs.csv"), csv.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "subscribers", "import", "sang", "subs.csv", "--confirmed")

	d := startServe(t, dir, addr)
	var made struct {
		Issue struct {
			Number int `json:"number"`
		} `json:"issue"`
		Deliveries int `json:"deliveries"`
	}
	if code := api(t, "POST", "http://"+addr+"/api/v1/newsletters/sang/send", &made); code != http.StatusCreated || made.Deliveries != subscribers {
		t.Fatalf("send: %d %+v", code, made)
	}
	// Kill at random moments while the copies go out.
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0))
	var at []int
	for k := range kills {
		at = append(at, (k*subscribers)/(kills+1)+rng.IntN(subscribers/(kills+1)/2)+50)
	}
	t.Logf("seed %d: kills after %v copies", seed, at)
	// An editor runs `bantin digest send` while serve sends: the command
	// finds nothing new and helps deliver the issue in progress; claims
	// keep the two from sending any copy twice.
	cli := make(chan string, 1)
	go func() {
		code, out, errOut := bantin(t, dir, "", "digest", "send", "sang")
		cli <- fmt.Sprintf("exit %d: %s%s", code, out, errOut)
	}()
	for _, n := range at {
		waitFor(t, 60*time.Second, fmt.Sprintf("%d copies at the SMTP server", n), func() bool {
			total, _ := received(srv.Counts())
			return total >= n
		})
		d.kill(t)
		if total, _ := received(srv.Counts()); total >= subscribers {
			t.Fatalf("every copy was out before kill at %d: the test proves nothing", n)
		}
		d = startServe(t, dir, addr)
	}
	// Claims of a killed process run out after their lease (15 s); then the
	// last daemon sends them.
	waitFor(t, 90*time.Second, "every subscriber to have the issue", func() bool {
		_, distinct := received(srv.Counts())
		return distinct >= subscribers
	})
	waitFor(t, 10*time.Second, "the issue to be marked sent", func() bool {
		var list struct {
			Issues []struct {
				Status string         `json:"status"`
				Counts map[string]int `json:"counts"`
			} `json:"issues"`
		}
		api(t, "GET", "http://"+addr+"/api/v1/newsletters/sang/issues", &list)
		return len(list.Issues) == 1 && list.Issues[0].Status == "sent" && list.Issues[0].Counts["sent"] == subscribers
	})
	cliOut := <-cli
	if !strings.Contains(cliOut, "no new articles") || !strings.Contains(cliOut, "sang: ") {
		t.Errorf("digest send beside serve: %s", cliOut)
	}
	t.Logf("digest send beside serve: %s", strings.TrimSpace(cliOut[strings.LastIndex(cliOut, "sang: "):]))
	counts := srv.Counts()
	total, distinct := received(counts)
	dups := total - distinct
	t.Logf("%d copies to %d subscribers: %d duplicates after %d kills with %d connections", total, distinct, dups, kills, connections)
	for i := range subscribers {
		if e := fmt.Sprintf("doc-gia-%04d@example.vn", i); counts[e] == 0 {
			t.Errorf("%s got nothing", e)
		}
	}
	if dups > kills*connections {
		t.Errorf("%d duplicates; at most %d transactions were in flight at the kills", dups, kills*connections)
	}
	// SIGTERM stops the last daemon cleanly.
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("serve after SIGINT: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Error("serve did not stop within 20 s of SIGINT")
	}
	if !strings.Contains(d.logs.String(), "digest: issue sent") {
		t.Error("the log does not say the issue was sent")
	}
}

// TestDigestCommands drives preview, send (dry run, test copy, real) and
// cancel as an editor would, with mail written to files.
func TestDigestCommands(t *testing.T) {
	dir := subscribersDir(t)
	page := `{"id": "bai-1", "title": "Giá lúa tăng nhẹ", "summary": "Giá lúa tăng 200 đồng/kg.", "content_html": "<p>Giá lúa tăng 200 đồng/kg.</p><p>Nông dân vui mừng.</p>"}`
	if err := os.WriteFile(filepath.Join(dir, "bai-1.json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "ingest", "bai-1.json")
	mustRun(t, dir, 0, "subscribers", "add", "ban-tin-sang", "an@example.vn", "--name", "An", "--confirmed")
	mustRun(t, dir, 0, "subscribers", "add", "ban-tin-sang", "binh@example.vn", "--confirmed")

	out, _ := mustRun(t, dir, 0, "digest", "preview", "ban-tin-sang", "--format", "text")
	if !strings.Contains(out, "Giá lúa tăng nhẹ") || !strings.Contains(out, "Xem trên trình duyệt") || !strings.Contains(out, "Nông dân vui mừng.") {
		t.Errorf("text preview:\n%s", out)
	}
	mustRun(t, dir, 2, "digest", "preview", "ban-tin-sang", "--format", "pdf")
	out, _ = mustRun(t, dir, 0, "digest", "send", "ban-tin-sang", "--dry-run")
	if !strings.Contains(out, "issue 1 would hold 1 article for 2 confirmed subscribers") || len(emlFiles(t, filepath.Join(dir, "data", "outbox"))) != 0 {
		t.Errorf("dry run: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "digest", "send", "ban-tin-sang", "--to", "editor@example.vn")
	if !strings.Contains(out, "test copy of ban-tin-sang issue 1") || len(emlFiles(t, filepath.Join(dir, "data", "outbox"))) != 1 {
		t.Errorf("test copy: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "digest", "send", "ban-tin-sang")
	if !strings.Contains(out, "ban-tin-sang: 2 sent, 0 failed, 0 skipped") {
		t.Errorf("send: %s", out)
	}
	emls := emlFiles(t, filepath.Join(dir, "data", "outbox"))
	if len(emls) != 3 {
		t.Fatalf("%d messages written, want the test copy and two issues", len(emls))
	}
	var toAn string
	for _, e := range emls {
		if strings.Contains(e, "To: \"An\" <an@example.vn>") {
			toAn = e
		}
	}
	if !strings.Contains(toAn, "Message-ID: <ban-tin-sang.1.") || !strings.Contains(toAn, "List-Unsubscribe: <http://baomau.example/unsubscribe/") {
		t.Errorf("An's copy lacks its headers:\n%.600s", toAn)
	}
	out, _ = mustRun(t, dir, 0, "digest", "send", "ban-tin-sang")
	if !strings.Contains(out, "no issue to send") {
		t.Errorf("a second send with nothing new: %s", out)
	}
	_, errOut := mustRun(t, dir, 1, "digest", "cancel", "ban-tin-sang")
	if !strings.Contains(errOut, "no issue is being sent") {
		t.Errorf("cancel with nothing in progress: %s", errOut)
	}
	_, errOut = mustRun(t, dir, 1, "digest", "send", "khong-co")
	if !strings.Contains(errOut, `newsletter "khong-co"`) || !strings.Contains(errOut, "ban-tin-sang, ban-tin-toi") {
		t.Errorf("unknown list: %s", errOut)
	}
}
