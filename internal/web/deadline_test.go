package web_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

// deadlineServer is a server whose body deadlines are short enough to
// watch: 300 ms for forms, 3 s for the admin API.
func deadlineServer(t *testing.T) string {
	t.Helper()
	st := sqlitetest.Open(t)
	n, err := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ingest.ParseDate})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	s := web.New(web.Options{
		Site:       web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		Store:      st,
		Normalizer: n,
		Templates:  tmpl,
		AdminToken: token,
		// Logging on: the request log's wrapper sits between the
		// connection and the admin API's deadline.
		Logger:          discardLogger(),
		FormBodyTimeout: 300 * time.Millisecond,
		APIBodyTimeout:  3 * time.Second,
	})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// slowRequest sends head and then body in pieces, one every gap, and
// returns the status line the server answered (or "" for a connection
// closed without one) and when.
func slowRequest(t *testing.T, addr, head string, pieces []string, gap time.Duration) (string, time.Duration) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Without a deadline of the server's, the old code held the
	// connection for good: the client gives up at 10 s.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte(head)); err != nil {
		t.Fatal(err)
	}
	answered := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(c).ReadString('\n')
		answered <- strings.TrimSpace(line)
	}()
	for _, p := range pieces {
		select {
		case line := <-answered:
			return line, time.Since(start)
		case <-time.After(gap):
		}
		_, _ = c.Write([]byte(p))
	}
	line := <-answered
	return line, time.Since(start)
}

// TestSlowFormBodyCutAtFormBodyTimeout: a form body that trickles in is
// cut at FormBodyTimeout; it held the connection for the server's whole
// read timeout before.
func TestSlowFormBodyCutAtFormBodyTimeout(t *testing.T) {
	addr := deadlineServer(t)
	head := "POST /subscribe HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nemail=a"
	line, took := slowRequest(t, addr, head, []string{"b", "c", "d"}, 5*time.Second)
	if took > 3*time.Second {
		t.Fatalf("a slow form body held the connection %s (answer %q), want it cut at about 300ms", took.Round(time.Millisecond), line)
	}
	if strings.Contains(line, " 200 ") || strings.Contains(line, " 303 ") {
		t.Errorf("a cut form body was answered %q", line)
	}
}

// TestSlowAdminBodyGetsAPIBodyTimeout: the admin API, past its token,
// reads a body that takes longer than FormBodyTimeout; without the token
// the same slow body is cut at FormBodyTimeout.
func TestSlowAdminBodyGetsAPIBodyTimeout(t *testing.T) {
	addr := deadlineServer(t)
	body := `{"id": "cham", "title": "Bài gửi chậm", "summary": "Tóm tắt."}`
	pieces := []string{body[:10], body[10:30], body[30:]}
	req := func(auth string) string {
		return fmt.Sprintf("POST /api/v1/articles HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n",
			addr, auth, len(body))
	}
	// Three gaps of 400 ms: past the 300 ms form deadline, within the 3 s
	// of the API.
	line, took := slowRequest(t, addr, req("Authorization: Bearer "+token+"\r\n"), pieces, 400*time.Millisecond)
	if !strings.Contains(line, " 200 ") && !strings.Contains(line, " 201 ") {
		t.Fatalf("a slow admin body with the token: %q after %s, want 200 or 201", line, took.Round(time.Millisecond))
	}
	if took < time.Second {
		t.Errorf("the admin body was answered after %s, before all of it was sent", took)
	}
	line, took = slowRequest(t, addr, req(""), pieces, 2*time.Second)
	if took > 1500*time.Millisecond {
		t.Errorf("a slow API body without the token held the connection %s (answer %q), want it cut at about 300ms", took.Round(time.Millisecond), line)
	}
}

// TestSecurityHeadersOnEveryResponse: errors of every kind, JSON, plain
// text and redirects carry nosniff and refuse framing; a page keeps its
// own Content-Security-Policy.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	addr := deadlineServer(t)
	for _, tt := range []struct{ method, path, auth string }{
		{"GET", "/healthz", ""},
		{"GET", "/no/such/page", ""},
		{"GET", "/articles/khong-co", ""},
		{"GET", "/api/v1/articles", ""},
		{"GET", "/api/v1/articles", "Bearer " + token},
		{"GET", "/api/v1/khong-co", "Bearer " + token},
		{"DELETE", "/healthz", ""},
		{"GET", "/feeds/rss.xml", ""},
		{"GET", "/", ""},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, "http://"+addr+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if got := h.Values("X-Content-Type-Options"); len(got) != 1 || got[0] != "nosniff" {
				t.Errorf("%d: X-Content-Type-Options = %q, want nosniff", resp.StatusCode, got)
			}
			if got := h.Get("X-Frame-Options"); got != "DENY" {
				t.Errorf("%d: X-Frame-Options = %q, want DENY", resp.StatusCode, got)
			}
			csp := h.Values("Content-Security-Policy")
			if len(csp) != 1 || !strings.Contains(csp[0], "frame-ancestors 'none'") {
				t.Errorf("%d: Content-Security-Policy = %q, want one with frame-ancestors 'none'", resp.StatusCode, csp)
			}
		})
	}
	// The home page's own policy, which its subscribe form needs, stays.
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); strings.Contains(csp, "base-uri") || !strings.Contains(csp, "form-action 'self'") {
		t.Errorf("the home page's CSP is %q, not its own", csp)
	}
}
