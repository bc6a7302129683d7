package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// dialFrom opens a connection to addr from the loopback address ip.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		if os.Getenv("BANTIN_TEST_ALL") == "1" {
			t.Fatalf("dial from %s: %v (loopback addresses beyond 127.0.0.1 are needed; BANTIN_TEST_ALL=1 makes that a failure)", ip, err)
		}
		t.Skipf("dial from %s: %v (loopback addresses beyond 127.0.0.1 are needed)", ip, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestOneClientHoldsLimitsConnectionsPerClient5: one client address that
// opens thirty slow sign-ups holds five connections (limits.connections_per_client)
// and the rest are closed at once, so a reader at another address is
// answered straight away instead of queueing behind them. Before, the
// thirty held their slots for the whole form deadline.
func TestOneClientHoldsLimitsConnectionsPerClient5(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "")+`limits:
  connections: 20
  connections_per_client: 5
`)
	startServe(t, dir, addr)
	slow := "POST /subscribe HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail=a"
	closed := make(chan bool, 30)
	for range 30 {
		c := dialFrom(t, "127.0.0.2", addr)
		_, _ = c.Write([]byte(slow))
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			_, err := bufio.NewReader(c).ReadString('\n')
			// Closed by the server (EOF or reset) rather than timed out.
			ne, timedOut := err.(net.Error)
			closed <- err != nil && !(timedOut && ne.Timeout())
		}()
	}
	start := time.Now()
	c := dialFrom(t, "127.0.0.3", addr)
	_ = c.SetDeadline(time.Now().Add(8 * time.Second))
	if _, err := c.Write([]byte("GET /healthz HTTP/1.1\r\nHost: " + addr + "\r\nConnection: close\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || !strings.Contains(line, " 200 ") {
		t.Fatalf("GET /healthz from another client behind 30 slow connections of one: %q, %v", line, err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("GET /healthz from another client took %s behind one client's slow connections; it should not queue behind them", took.Round(time.Millisecond))
	}
	var cut int
	for range 30 {
		if <-closed {
			cut++
		}
	}
	if cut != 25 {
		t.Errorf("%d of 30 connections from one client were closed at once, want 25 (limits.connections_per_client: 5)", cut)
	}
}

// TestEmptyAdminTokenVariableSwitchesTheAPIOff: BANTIN_SERVER_ADMIN_TOKEN=
// (set, empty) wins over the file's token, as every variable does, so an
// operator can switch the admin API off without editing the file.
func TestEmptyAdminTokenVariableSwitchesTheAPIOff(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "file-token"))
	startServeEnv(t, dir, addr, "BANTIN_SERVER_ADMIN_TOKEN=")
	code, body := httpGet(t, "http://"+addr+"/api/v1/articles", "file-token")
	if code != http.StatusNotFound || !strings.Contains(body, "admin API is off") {
		t.Errorf("GET /api/v1/articles with the file's token under BANTIN_SERVER_ADMIN_TOKEN=: %d %s, want 404, the admin API is off", code, body)
	}
}
