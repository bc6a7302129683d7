package web

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"testing"
	"time"
)

// TestLimitPerClientClosesConnectionsOverLimitsConnectionsPerClient opens
// more connections from one address than its share and checks that the
// extra ones are closed at once while another address is still served,
// and that a closed connection gives its place back.
func TestLimitPerClientClosesConnectionsOverLimitsConnectionsPerClient(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const share = 3
	ln := LimitPerClient(raw, share, func(a netip.Addr) bool { return a == netip.MustParseAddr("127.0.0.9") })
	defer ln.Close()
	accepted := make(chan net.Conn, 100)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dialFrom := func(ip string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 2 * time.Second}
		c, err := d.Dial("tcp", raw.Addr().String())
		if err != nil {
			if os.Getenv("BANTIN_TEST_ALL") == "1" {
				t.Fatalf("cannot dial from %s (a loopback address other than 127.0.0.1 is needed); BANTIN_TEST_ALL=1 makes that a failure: %v", ip, err)
			}
			t.Skipf("cannot dial from %s (a loopback address other than 127.0.0.1 is needed): %v", ip, err)
		}
		return c
	}
	take := func(what string) net.Conn {
		t.Helper()
		select {
		case c := <-accepted:
			return c
		case <-time.After(2 * time.Second):
			t.Fatalf("%s was not accepted", what)
			return nil
		}
	}

	var held []net.Conn
	for i := 0; i < share; i++ {
		dialFrom("127.0.0.2")
		held = append(held, take("a connection within the share"))
	}
	over := dialFrom("127.0.0.2")
	over.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := over.Read(make([]byte, 1)); err == nil {
		t.Fatalf("a connection over the share of %d was kept open", share)
	}
	dialFrom("127.0.0.3")
	take("a connection from another address")
	for i := 0; i < share+2; i++ {
		dialFrom("127.0.0.9")
		take("a connection from an exempt address (a trusted proxy)")
	}

	held[0].Close()
	dialFrom("127.0.0.2")
	take("a connection after one of the share was closed")
	select {
	case c := <-accepted:
		t.Fatalf("an unexpected connection from %s was accepted", c.RemoteAddr())
	default:
	}
}

// TestConnectionDeadlinesHold: a real http.Server over bantin's listeners,
// whose connections are wrappers, must still cut a client that sends half
// a header, one that keeps a connection idle, and one that does not read a
// large response, each at its timeout, and keep answering request after
// request on one kept-alive connection (its watch for a hang-up is ended
// by a deadline in the past, which must reach a read already waiting).
// Both ways to a connection are checked: the global cap's alone, and the
// per-client share's inside it.
func TestConnectionDeadlinesHold(t *testing.T) {
	const timeout = 300 * time.Millisecond
	big := bytes.Repeat([]byte("bản tin "), 1<<20) // 10 MiB: more than loopback's buffers hold
	for _, perClient := range []bool{false, true} {
		t.Run(fmt.Sprintf("per-client share %v", perClient), func(t *testing.T) {
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ln := LimitConnections(raw, 100)
			if perClient {
				ln = LimitPerClient(ln, 100, nil)
			}
			srv := &http.Server{
				Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					switch r.URL.Path {
					case "/big":
						w.Write(big)
						return
					case "/slow":
						// Long enough for the server's watch for a
						// hang-up to be waiting in a read.
						time.Sleep(50 * time.Millisecond)
					}
					io.WriteString(w, "ok")
				}),
				ReadHeaderTimeout: timeout,
				ReadTimeout:       2 * timeout,
				WriteTimeout:      timeout,
				IdleTimeout:       timeout,
				ConnContext:       ConnContext,
			}
			go srv.Serve(ln)
			t.Cleanup(func() { srv.Close() })
			addr := raw.Addr().String()
			dial := func() net.Conn {
				t.Helper()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				c.SetDeadline(time.Now().Add(20 * timeout))
				return c
			}
			// cut waits for the server to close c, reading what comes,
			// and says how long that took.
			cut := func(c net.Conn) time.Duration {
				start := time.Now()
				io.Copy(io.Discard, c)
				return time.Since(start)
			}

			// Many requests on one connection, then silence.
			c := dial()
			r := bufio.NewReader(c)
			for i := range 200 {
				path := fmt.Sprint("/", i)
				if i%50 == 49 {
					path = "/slow"
				}
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
				resp, err := http.ReadResponse(r, nil)
				if err != nil {
					t.Fatalf("request %d on a kept-alive connection: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if took := cut(c); took < timeout-50*time.Millisecond || took > 5*timeout {
				t.Errorf("an idle connection was closed after %s, want about the idle timeout, %s", took, timeout)
			}

			c = dial()
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n")
			if took := cut(c); took < timeout-50*time.Millisecond || took > 5*timeout {
				t.Errorf("half a header was cut after %s, want about the header timeout, %s", took, timeout)
			}

			c = dial()
			io.WriteString(c, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
			time.Sleep(3 * timeout) // read nothing past the write timeout
			if n, _ := io.Copy(io.Discard, c); n >= int64(len(big)) {
				t.Errorf("a client that did not read got all %d bytes: the write timeout did not cut it", n)
			}
		})
	}
}

// TestBothCapsGiveTheirPlacesBack: a client's connection inside both the
// global cap and its per-client share is one wrapper; closing it must give
// both places back, or a few connections would fill limits.connections
// for good.
func TestBothCapsGiveTheirPlacesBack(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := LimitPerClient(LimitConnections(raw, 2), 1, nil)
	defer ln.Close()
	for i := range 5 {
		c, err := net.Dial("tcp", raw.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		accepted := make(chan net.Conn, 1)
		go func() {
			if sc, err := ln.Accept(); err == nil {
				accepted <- sc
			}
		}()
		select {
		case sc := <-accepted:
			if _, ok := sc.(*countedConn); !ok {
				t.Fatalf("connection %d is a %T, want one *countedConn", i, sc)
			}
			sc.Close()
		case <-time.After(2 * time.Second):
			t.Fatalf("connection %d, after %d opened and closed one at a time, was not accepted: a place was not given back", i, i)
		}
		c.Close()
	}
}
