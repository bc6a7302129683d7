// Package netguard keeps bantin's outgoing calls made on a stranger's say
// (WebSub callbacks, image lookups) to public internet addresses, so a
// URL in a request or an article cannot make bantin reach its own host,
// the private network or a cloud metadata service.
package netguard

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// reserved are the blocks no such call may reach: loopback, private,
// link-local, shared (CGNAT), documentation, benchmarking, multicast,
// reserved and the IPv6 equivalents (RFC 6890 and its IANA registries).
var reserved = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
		"192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/96", "::1/128", "::ffff:0:0/96", "100::/64", "2001::/32", "2001:db8::/32", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

var (
	nat64  = netip.MustParsePrefix("64:ff9b::/96")
	sixTo4 = netip.MustParsePrefix("2002::/16")
)

// Public reports whether addr is outside every reserved block. IPv4
// carried inside IPv6 (mapped, NAT64, 6to4) is judged by the IPv4 address
// it carries.
func Public(addr netip.Addr) bool {
	if !addr.IsValid() {
		return false
	}
	// Prefix.Contains is false for any address with a zone (fe80::1%eth0).
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		b := addr.As16()
		switch {
		case nat64.Contains(addr):
			return Public(netip.AddrFrom4([4]byte(b[12:16])))
		case sixTo4.Contains(addr):
			return Public(netip.AddrFrom4([4]byte(b[2:6])))
		}
	}
	for _, p := range reserved {
		if p.Contains(addr) {
			return false
		}
	}
	return true
}

// Control is a net.Dialer Control that refuses any address but a public
// one. It checks the address actually dialled, after DNS, so a name that
// resolves to a private address is refused too. what names the caller
// and fix says how an admin allows private addresses, for the error.
func Control(what, fix string) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%s: address %q: %w", what, address, err)
		}
		addr, err := netip.ParseAddr(host)
		if err != nil || !Public(addr) {
			return fmt.Errorf("%s: %s is a loopback, private or reserved address; only public addresses are called (%s)", what, host, fix)
		}
		return nil
	}
}
