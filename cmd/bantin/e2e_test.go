package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildBinary builds bantin once per test run.
var buildBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "bantin-e2e-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "bantin")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

func binary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test builds the binary; skipped with -short")
	}
	bin, err := buildBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// bantin runs the binary in dir and returns its exit status and output.
func bantin(t *testing.T, dir string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// cleanEnv keeps the test's own BANTIN_* variables away from the binary.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BANTIN_") {
			env = append(env, kv)
		}
	}
	return env
}

// httpGet GETs url, with the admin token when token is not empty, and
// returns the status and body.
func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	return httpDo(t, "GET", url, "", "", token)
}

// httpDo sends a request to the running server, with the admin token when
// token is not empty, and returns the status and body.
func httpDo(t *testing.T, method, url, contentType, body, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// serveConfig is the head of a test config: the site and the server on
// addr, with the admin API when token is not empty.
func serveConfig(addr, token string) string {
	c := fmt.Sprintf("site:\n  title: Báo Mẫu\n  base_url: http://%s\nserver:\n  listen: %s\n", addr, addr)
	if token != "" {
		c += "  admin_token: " + token + "\n"
	}
	return c
}

// writeConfig writes config/bantin.yaml under dir.
func writeConfig(t *testing.T, dir, config string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "bantin.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// syncBuffer collects a process's output while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestEndToEnd(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	copyDir(t, "testdata/e2e", filepath.Join(dir, "articles"))
	config := fmt.Sprintf(`site:
  title: Báo Mẫu
  base_url: http://%s
server:
  listen: %s
  admin_token: e2e-secret-token
ingest:
  watch_dir: inbox
feeds:
  websub_allow_private: true
`, addr, addr)
	writeConfig(t, dir, config)

	// A folder with one bad article: the others go in, the bad one is
	// named with file and line, exit status 1.
	code, out, errOut := bantin(t, dir, "", "ingest", "articles")
	if code != 1 || !strings.Contains(out, "2 created") || !strings.Contains(errOut, "articles/tin.jsonl:2") || !strings.Contains(errOut, "title") {
		t.Fatalf("ingest folder: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	code, out, _ = bantin(t, dir, "", "ingest", "articles/cau-moi.txt")
	if code != 0 || !strings.Contains(out, "1 unchanged") {
		t.Fatalf("ingest again: exit %d, %s; want 0 and unchanged", code, out)
	}
	code, out, _ = bantin(t, dir, "", "articles", "list")
	if code != 0 || !strings.Contains(out, "thanh-pho-khanh-thanh-cau-moi-noi-hai-bo-kenh") || !strings.Contains(out, "cms-100") {
		t.Fatalf("articles list: exit %d\n%s", code, out)
	}

	// serve on the config.
	cmd := exec.Command(binary(t), "serve")
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("serve log:\n%s", logs.String())
		}
	})
	base := "http://" + addr
	waitFor(t, 10*time.Second, "serve to answer /healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	get := func(path string, auth bool) (int, string) {
		t.Helper()
		token := ""
		if auth {
			token = "e2e-secret-token"
		}
		return httpGet(t, base+path, token)
	}
	if status, body := get("/readyz", false); status != 200 {
		t.Errorf("/readyz: %d %s", status, body)
	}
	status, page := get("/articles/thanh-pho-khanh-thanh-cau-moi-noi-hai-bo-kenh", false)
	for _, want := range []string{"Thành phố khánh thành cầu mới", "Thứ Hai, ngày 4 tháng 11 năm 2024", "Quốc Bảo", "(Baomau.vn) - Sáng 4/11"} {
		if status != 200 || !strings.Contains(page, want) {
			t.Errorf("article page (%d) lacks %q", status, want)
		}
	}
	if strings.Contains(page, "Ý kiến bạn đọc") {
		t.Error("article page shows the page chrome")
	}
	if status, _ := get("/api/v1/articles", false); status != http.StatusUnauthorized {
		t.Errorf("API without token: %d, want 401", status)
	}

	// WebSub: a subscriber on this machine subscribes to the site-wide Atom
	// feed through the running server's hub and gets the next version.
	type push struct {
		body, signature string
	}
	pushes := make(chan push, 10)
	subscriber := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			return
		}
		b, _ := io.ReadAll(r.Body)
		pushes <- push{string(b), r.Header.Get("X-Hub-Signature")}
	}))
	defer subscriber.Close()
	topic := base + "/feeds/atom.xml"
	if !strings.Contains(func() string { _, b := get("/feeds/atom.xml", false); return b }(), `href="`+base+`/websub" rel="hub"`) {
		t.Error("the Atom feed does not name the built-in hub")
	}
	resp, err := http.PostForm(base+"/websub", url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic},
		"hub.callback": {subscriber.URL + "/cb"}, "hub.secret": {"e2e-secret"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("subscribe: %d, want 202", resp.StatusCode)
	}
	waitFor(t, 5*time.Second, "the hub to verify the subscription", func() bool {
		return strings.Contains(logs.String(), "websub: subscribed")
	})

	// The admin API creates an article; it is listed at once.
	req, _ := http.NewRequest("POST", base+"/api/v1/articles", strings.NewReader(`{"id":"api-1","title":"Tin từ CMS","summary":"Tóm tắt"}`))
	req.Header.Set("Authorization", "Bearer e2e-secret-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("POST article: %d, want 201", resp.StatusCode)
	}
	select {
	case p := <-pushes:
		if !strings.Contains(p.body, "Tin từ CMS") || !strings.HasPrefix(p.signature, "sha256=") {
			t.Errorf("WebSub push: signature %q, body without the new article: %.200s", p.signature, p.body)
		}
	case <-time.After(5 * time.Second):
		t.Error("no WebSub push within 5 s of the API ingest")
	}
	waitFor(t, 2*time.Second, "the push counted in /metrics", func() bool {
		_, m := get("/metrics", false)
		return strings.Contains(m, `bantin_websub_deliveries_total{result="delivered"}`)
	})
	if _, m := get("/metrics", false); !strings.Contains(m, `bantin_articles_ingested_total{entry="api",result="created"}`) {
		t.Error("the article posted to the API is not counted in /metrics")
	}
	var list struct {
		Articles []struct{ ID, Slug string } `json:"articles"`
	}
	_, body := get("/api/v1/articles?limit=100", true)
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Articles) != 3 {
		t.Errorf("API list: %v, %d articles; want 3\n%s", err, len(list.Articles), body)
	}

	// An ingest by another process while serve runs is served at once.
	if code, out, errOut := bantin(t, dir, `{"id":"cli-1","title":"Tin nhập từ dòng lệnh","summary":"x"}`+"\n", "ingest", "-"); code != 0 {
		t.Fatalf("ingest - while serving: %d %s %s", code, out, errOut)
	}
	if status, _ := get("/articles/tin-nhap-tu-dong-lenh", false); status != 200 {
		t.Errorf("article ingested by another process: %d, want 200", status)
	}
	waitFor(t, time.Second, "the other process's article in the served feed", func() bool {
		_, body := get("/feeds/rss.xml", false)
		return strings.Contains(body, "Tin nhập từ dòng lệnh")
	})

	// feeds build writes what serve sends, byte for byte.
	if code, out, errOut := bantin(t, dir, "", "feeds", "build", "--out", "public"); code != 0 {
		t.Fatalf("feeds build: %d %s %s", code, out, errOut)
	}
	built := 0
	err = filepath.WalkDir(filepath.Join(dir, "public"), func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(dir, "public"), path)
		want, _ := os.ReadFile(path)
		status, got := get("/"+filepath.ToSlash(rel), false)
		if status != 200 || got != string(want) {
			t.Errorf("%s: served %d with %d bytes, built %d bytes; want the same bytes", rel, status, len(got), len(want))
		}
		built++
		return nil
	})
	if err != nil || built < 7 {
		t.Errorf("feeds build wrote %d files (%v); want the site-wide feeds, the category feeds and the OPML", built, err)
	}

	// The watch folder: a file renamed into place is in within a second;
	// a bad file is logged by name and the watcher goes on.
	inbox := filepath.Join(dir, "inbox")
	write := func(name, body string) time.Time {
		t.Helper()
		tmp := filepath.Join(inbox, "."+name+".tmp")
		if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(inbox, name)); err != nil {
			t.Fatal(err)
		}
		return time.Now()
	}
	waitFor(t, 5*time.Second, "the watch folder to exist", func() bool { _, err := os.Stat(inbox); return err == nil })
	time.Sleep(200 * time.Millisecond) // the watcher starts after the folder exists
	write("hong.json", `{"title": "Hỏng"`)
	start := write("moi.json", `{"id":"watch-1","title":"Tin từ thư mục theo dõi","summary":"x"}`)
	waitFor(t, time.Second, "the watched file to be served", func() bool {
		status, _ := get("/articles/tin-tu-thu-muc-theo-doi", false)
		return status == 200
	})
	t.Logf("watched file served %v after the rename", time.Since(start).Round(time.Millisecond))
	waitFor(t, 2*time.Second, "the bad file to be logged by name", func() bool {
		return strings.Contains(logs.String(), "hong.json")
	})

	// A backup while serve runs: a checked copy; never over a file.
	out, _ = mustRun(t, dir, 0, "backup", "copy.db")
	if !strings.Contains(out, "checked") {
		t.Errorf("backup: %s", out)
	}
	if _, errOut := mustRun(t, dir, 1, "backup", "copy.db"); !strings.Contains(errOut, "exists") {
		t.Errorf("a backup over an existing file: %s", errOut)
	}

	// SIGHUP does not end it.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Second, "the reload to be logged", func() bool { return strings.Contains(logs.String(), "reload:") })
	if status, _ := get("/healthz", false); status != 200 {
		t.Errorf("after SIGHUP /healthz answered %d", status)
	}

	// SIGTERM stops it cleanly.
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10 s of SIGTERM")
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("serve log lacks the stop line")
	}
}

func TestExitCodesAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name   string
		config string
		args   []string
		code   int
		stderr []string
	}{
		{"unknown command", "", []string{"nope"}, 2, []string{"unknown command"}},
		{"unknown flag", "", []string{"articles", "list", "--nope"}, 2, []string{"unknown flag"}},
		{"missing argument", "", []string{"articles", "show"}, 2, []string{"argument"}},
		{"unknown subcommand", "", []string{"articles", "lst"}, 2, []string{"no subcommand \"lst\"", "list"}},
		{"group alone", "", []string{"config"}, 2, []string{"needs a subcommand", "check"}},
		{"typo in key", "feeds:\n  itmes: 20\n", []string{"config", "check"}, 2, []string{"bantin.yaml:2", "feeds.itmes", "feeds.items"}},
		{"float for int", "feeds:\n  items: 12.7\n", []string{"serve"}, 2, []string{"bantin.yaml:2", "feeds.items"}},
		{"bad timezone", "site:\n  timezone: Asia/Saigon_City\n", []string{"serve"}, 2, []string{"site.timezone"}},
		{"missing article", "", []string{"articles", "show", "khong-co"}, 1, []string{`no article with id "khong-co"`, "articles list"}},
		{"valid", "", []string{"config", "check"}, 0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			work := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			if err := os.MkdirAll(filepath.Join(work, "config"), 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.config != "" {
				if err := os.WriteFile(filepath.Join(work, "config", "bantin.yaml"), []byte(tc.config), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if tc.name == "missing article" {
				// articles show reads a store and never makes one.
				bantin(t, work, "", "migrate")
			}
			code, _, errOut := bantin(t, work, "", tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d; stderr: %s", code, tc.code, errOut)
			}
			for _, want := range tc.stderr {
				if !strings.Contains(errOut, want) {
					t.Errorf("stderr lacks %q: %s", want, errOut)
				}
			}
		})
	}
}

func TestConfigPrintMasksSecrets(t *testing.T) {
	dir := t.TempDir()
	cmd := exec.Command(binary(t), "config", "check", "--print")
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), "BANTIN_SERVER_ADMIN_TOKEN=very-secret-token", "BANTIN_MAIL_SMTP_PASSWORD=hunter2")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if strings.Contains(string(out), "very-secret-token") || strings.Contains(string(out), "hunter2") || !strings.Contains(string(out), "********") {
		t.Errorf("config check --print shows a secret or no mask:\n%s", out)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	for {
		if ok() {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
