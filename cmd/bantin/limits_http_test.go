package main

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawRequest sends head on a new connection to addr and returns the
// connection and a channel that gets the status line the server answers
// ("" when it closes the connection without one) and how long after the
// send it came.
func rawRequest(t *testing.T, addr, head string) (net.Conn, <-chan answer) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	// The old server held a slow body for its 60 s read timeout: give up
	// before that.
	_ = c.SetDeadline(time.Now().Add(40 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	got := make(chan answer, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		got <- answer{line: strings.TrimSpace(line), after: time.Since(start)}
	}()
	return c, got
}

type answer struct {
	line  string
	after time.Duration
}

// TestSlowFormBodiesFreeLimitsConnections20: with limits.connections: 20,
// twenty clients that send a sign-up form a byte at a time take every
// connection; a twenty-first request waits in the kernel's queue rather
// than costing an open file, and is answered once the form deadline (10 s)
// has cut the slow ones. Before, each slow body held its connection for
// the 60 s read timeout, and nothing bounded how many there were.
func TestSlowFormBodiesFreeLimitsConnections20(t *testing.T) {
	const limit = 20
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "")+`limits:
  connections: 20
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`)
	startServe(t, dir, addr)
	// The readiness probe's keep-alive connection would hold a slot.
	http.DefaultClient.CloseIdleConnections()
	time.Sleep(200 * time.Millisecond)

	slow := "POST /subscribe HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=a"
	var cuts []<-chan answer
	for range limit {
		_, got := rawRequest(t, addr, slow)
		cuts = append(cuts, got)
	}
	// Let the server take them all before the next one comes.
	time.Sleep(500 * time.Millisecond)
	_, health := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: "+addr+"\r\nConnection: close\r\n\r\n")

	h := <-health
	if !strings.Contains(h.line, " 200 ") {
		t.Fatalf("GET /healthz behind %d slow bodies: %q after %s, want 200", limit, h.line, h.after.Round(time.Millisecond))
	}
	// The slow ones are cut 10 s after they came, 9.5 s after /healthz.
	if h.after < 5*time.Second {
		t.Errorf("GET /healthz was answered after %s while %d slow bodies held limits.connections: %d; the cap did not hold",
			h.after.Round(time.Millisecond), limit, limit)
	}
	if h.after > 25*time.Second {
		t.Errorf("GET /healthz was answered only after %s: the slow bodies were not cut at the form deadline", h.after.Round(time.Millisecond))
	}
	for i, got := range cuts {
		a := <-got
		if a.after > 25*time.Second {
			t.Errorf("slow sign-up %d held its connection %s (answer %q), want it cut at about 10 s", i, a.after.Round(time.Millisecond), a.line)
		}
	}
	t.Logf("GET /healthz answered after %s behind %d slow bodies", h.after.Round(time.Millisecond), limit)
}

// TestNosniffOnEveryResponseType: feeds, JSON Feed, /metrics, a 404 and the
// admin API's errors tell browsers not to sniff them into HTML.
func TestNosniffOnEveryResponseType(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "nosniff-token"))
	if err := os.WriteFile(filepath.Join(dir, "bai.json"), []byte(`{"id": "bai", "title": "Bài", "summary": "Tóm tắt."}`), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "ingest", "bai.json")
	startServe(t, dir, addr)
	for _, tt := range []struct {
		path, token string
		status      int
	}{
		{"/feeds/rss.xml", "", 200},
		{"/feeds/atom.xml", "", 200},
		{"/feeds/feed.json", "", 200},
		{"/feeds.opml", "", 200},
		{"/metrics", "", 200},
		{"/khong-co", "", 404},
		{"/articles/khong-co", "", 404},
		{"/api/v1/articles", "", 401},
		{"/api/v1/khong-co", "nosniff-token", 404},
		{"/newsletters/khong-co", "", 404},
	} {
		req, err := http.NewRequest("GET", "http://"+addr+tt.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tt.token != "" {
			req.Header.Set("Authorization", "Bearer "+tt.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status {
			t.Errorf("GET %s: %d, want %d", tt.path, resp.StatusCode, tt.status)
		}
		if got := resp.Header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s (%d): X-Content-Type-Options %q, want nosniff", tt.path, resp.StatusCode, got)
		}
	}
}

// TestConfigCheckRunsServesChecks: a config that config check called
// valid made serve exit 1 (a missing DKIM key) or start and fail every
// preview and send (a template set that does not exist, a subject naming
// no field). Now config check and serve both exit 2 naming the key, and a
// reload to such a config is refused.
func TestConfigCheckRunsServesChecks(t *testing.T) {
	addr := freeAddr(t)
	list := `newsletters:
  - id: sang
    title: "Bản tin sáng"
    schedule: "0 6 * * *"
`
	// serveConfig is 5 lines: the keys below start on line 6.
	for _, tt := range []struct{ name, config, key string }{
		{"missing DKIM key", `mail:
  dkim:
    domain: baomau.vn
    selector: s1
    key_file: khong-co/dkim.pem
` + list, "a.yaml:10: mail.dkim.key_file"},
		{"no such template set", list + "    template: nope\n", "a.yaml:10: newsletters[0].template"},
		{"subject naming no field", list + "    subject: \"{{.Nope}}\"\n", "a.yaml:10: newsletters[0].subject"},
		// The overrides of a folder that is not there were silently left out.
		{"templates_dir not a folder", "templates_dir: khong-co\n" + list, "a.yaml:6: templates_dir"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte(serveConfig(addr, "")+tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			key := tt.key
			for _, args := range [][]string{{"config", "check"}, {"config", "check", "--print"}, {"serve"}} {
				code, stderr := runBounded(t, dir, append([]string{"--config", "a.yaml"}, args...)...)
				if code != 2 || !strings.Contains(stderr, key) {
					t.Errorf("bantin %s: exit %d, stderr:\n%s\nwant exit 2 naming %s", strings.Join(args, " "), code, stderr, key)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, "data")); err == nil {
				t.Error("serve made its data folder before refusing the config")
			}
		})
	}

	// A reload to the bad subject is refused; the running config stays.
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "")+list)
	d := startServe(t, dir, addr)
	writeConfig(t, dir, serveConfig(addr, "")+list+"    subject: \"{{.Nope}}\"\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the reload", func() bool { return strings.Contains(d.logs.String(), "reload:") })
	if logs := d.logs.String(); !strings.Contains(logs, "the new config is refused") || !strings.Contains(logs, "newsletters[0].subject") {
		t.Errorf("a reload to a subject naming no field was not refused:\n%s", logs)
	}
	if code, _ := httpGet(t, "http://"+addr+"/healthz", ""); code != http.StatusOK {
		t.Errorf("after the refused reload /healthz answered %d", code)
	}
}

// runBounded runs the binary in dir for at most 30 s (a serve that starts
// is killed) and returns its exit status and stderr.
func runBounded(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t), args...)
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}
