package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// stallingSubscriber is a WebSub subscriber on ip (any of 127.0.0.0/8 is
// this machine, so each can be a callback host of its own) that confirms
// its intent at once and holds every delivery until released or cut. It
// counts the verifications and the deliveries that reached it.
func stallingSubscriber(t *testing.T, ip string, verified, arrived *atomic.Int64, release <-chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		// Linux answers on all of 127.0.0.0/8; a system with only
		// 127.0.0.1 skips, or fails under BANTIN_TEST_ALL=1.
		if os.Getenv("BANTIN_TEST_ALL") == "1" {
			t.Fatalf("listen on %s: %v", ip, err)
		}
		t.Skipf("listen on %s: %v (this system has no loopback address but 127.0.0.1)", ip, err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			verified.Add(1)
			io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			return
		}
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestWebSubServesWhileCallbacksStallLimitsWebSubPerHost4: 64 subscribed
// callbacks on 16 hosts hold every delivery; meanwhile a fresh subscriber
// through the running serve is verified and gets the next version within
// seconds, a 5th subscription for a host (limits.websub_per_host: 4) gets
// 403, and SIGTERM stops serve without waiting for the stalled callbacks.
// Before, 16 stalled calls filled the hub's one pool: subscribe answered
// 503 and the distribution waited.
func TestWebSubServesWhileCallbacksStallLimitsWebSubPerHost4(t *testing.T) {
	const token, hosts, perHost = "websub-token", 16, 4
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, serveConfig(addr, token)+fmt.Sprintf(`feeds:
  websub_allow_private: true
limits:
  websub_per_host: %d
`, perHost))
	d := startServe(t, dir, addr)
	base := "http://" + addr
	topic := base + "/feeds/atom.xml"
	post := func(id, title string) {
		t.Helper()
		body := fmt.Sprintf(`{"id": %q, "title": %q, "summary": "x", "categories": ["Thời sự"]}`, id, title)
		if code, out := httpDo(t, "POST", base+"/api/v1/articles", "application/json", body, token); code/100 != 2 {
			t.Fatalf("POST article: %d %s", code, out)
		}
	}
	subscribe := func(callback string) (int, string) {
		t.Helper()
		form := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {callback}}
		return httpDo(t, "POST", base+"/websub", "application/x-www-form-urlencoded", form.Encode(), "")
	}
	post("tin-0", "Tin đầu")

	var verified, arrived atomic.Int64
	release := make(chan struct{})
	var stalled []string
	for h := range hosts {
		stalled = append(stalled, stallingSubscriber(t, fmt.Sprintf("127.0.0.%d", 2+h), &verified, &arrived, release))
	}
	t.Cleanup(func() { close(release) }) // before the servers close
	for _, srv := range stalled {
		for i := range perHost {
			if code, body := subscribe(fmt.Sprintf("%s/cb%d", srv, i)); code != http.StatusAccepted {
				t.Fatalf("subscribe %s/cb%d: %d %s", srv, i, code, body)
			}
		}
	}
	code, body := subscribe(stalled[0] + "/one-too-many")
	if code != http.StatusForbidden || !strings.Contains(body, "limits.websub_per_host") {
		t.Errorf("subscription %d for one host: %d %q; want 403 naming limits.websub_per_host", perHost+1, code, body)
	}
	waitFor(t, 10*time.Second, "64 subscriptions verified", func() bool { return verified.Load() == hosts*perHost })
	time.Sleep(200 * time.Millisecond) // stored after the answer
	post("tin-1", "Tin cho người chậm")
	// Two calls in flight per host, the others waiting their turn.
	waitFor(t, 5*time.Second, "deliveries stalled on every host", func() bool { return arrived.Load() == hosts*2 })

	pushes := make(chan string, 10)
	var goodVerified atomic.Int64
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			goodVerified.Add(1)
			io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			return
		}
		b, _ := io.ReadAll(r.Body)
		pushes <- string(b)
	}))
	t.Cleanup(good.Close)
	start := time.Now()
	if code, body := subscribe(good.URL + "/cb"); code != http.StatusAccepted {
		t.Fatalf("fresh subscribe while 64 callbacks stall: %d %s, want 202", code, body)
	}
	waitFor(t, 3*time.Second, "the fresh subscriber's verification", func() bool { return goodVerified.Load() == 1 })
	time.Sleep(200 * time.Millisecond) // stored after the answer
	verifiedAfter := time.Since(start)
	post("tin-2", "Tin cho người nhanh")
	select {
	case p := <-pushes:
		if !strings.Contains(p, "Tin cho người nhanh") {
			t.Errorf("push without the new article: %.200s", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no push to the fresh subscriber within 5 s while the others stall")
	}
	t.Logf("64 callbacks on %d hosts stalled: fresh subscriber verified within %v, served after %v", hosts, verifiedAfter, time.Since(start))
	if n := arrived.Load(); n != hosts*2 {
		t.Errorf("%d deliveries reached the stalled hosts; want %d (two in flight per host)", n, hosts*2)
	}

	// SIGTERM: serve does not wait for the stalled callbacks.
	start = time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(8 * time.Second):
		t.Fatal("serve still running 8 s after SIGTERM with callbacks stalled")
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("serve took %v to stop with callbacks stalled; want under 5 s", took)
	} else {
		t.Logf("stopped %v after SIGTERM", took)
	}
}
