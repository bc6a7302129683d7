package web

import (
	"net"
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
