package netguard

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{"8.8.8.8": true, "127.0.0.1": false, "10.1.2.3": false, "192.168.1.1": false,
		"172.16.0.1": false, "169.254.169.254": false, "100.64.0.1": false, "::1": false, "fd00::1": false, "2001:4860::8888": true, "0.0.0.0": false,
		"::ffff:127.0.0.1": false, "64:ff9b::a00:1": false, "64:ff9b::808:808": true, "2002:7f00:1::1": false, "2002:808:808::1": true,
		"fec0::1": false, "::7f00:1": false, "0.1.2.3": false, "198.18.0.1": false, "240.0.0.1": false, "192.0.0.1": false, "ff02::1": false,
		"fe80::1%eth0": false, "::ffff:8.8.8.8": true} {
		if got := Public(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Public(%s) = %v, want %v", addr, got, want)
		}
	}
	if Public(netip.Addr{}) {
		t.Error("the zero Addr is public")
	}
}

// TestControlRefusesLoopbackDial: a real dial to a listening loopback
// server is refused before it connects, with the caller's name and fix.
func TestControlRefusesLoopbackDial(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the guarded dial reached the server")
	}))
	defer srv.Close()
	d := &net.Dialer{Control: Control("image lookup", "ingest.image_lookup")}
	_, err := d.DialContext(context.Background(), "tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err == nil || !strings.Contains(err.Error(), "image lookup: 127.0.0.1 is a loopback, private or reserved address") ||
		!strings.Contains(err.Error(), "ingest.image_lookup") {
		t.Fatalf("dial to %s: %v, want a refusal naming the caller and the fix", srv.URL, err)
	}
}
