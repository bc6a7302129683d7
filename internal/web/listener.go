package web

import (
	"net"
	"net/netip"
	"sync"
)

// LimitPerClient wraps ln so that one client address holds at most n
// connections at once: a connection over that is closed as soon as it is
// accepted, so one host opening slow connections by the thousand fills its
// own share, not the whole of limits.connections, and everyone else is
// still served. Addresses for which exempt reports true (loopback, trusted
// reverse proxies, whose connections carry many readers) are not counted.
func LimitPerClient(ln net.Listener, n int, exempt func(netip.Addr) bool) net.Listener {
	return &perClientListener{Listener: ln, limit: n, exempt: exempt, open: map[netip.Addr]int{}}
}

type perClientListener struct {
	net.Listener
	limit  int
	exempt func(netip.Addr) bool

	mu   sync.Mutex
	open map[netip.Addr]int
}

// Accept returns the next connection whose client is under its share.
func (l *perClientListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		addr, ok := clientAddr(c)
		if !ok || (l.exempt != nil && l.exempt(addr)) {
			return c, nil
		}
		l.mu.Lock()
		over := l.open[addr] >= l.limit
		if !over {
			l.open[addr]++
		}
		l.mu.Unlock()
		if over {
			// Closed before a byte is read: the client sees a reset
			// connection, the cheapest answer there is.
			c.Close()
			continue
		}
		return &countedConn{Conn: c, release: func() { l.release(addr) }}, nil
	}
}

func (l *perClientListener) release(addr netip.Addr) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.open[addr] <= 1 {
		delete(l.open, addr)
		return
	}
	l.open[addr]--
}

// clientAddr is the peer's IP address, IPv4-mapped addresses unmapped.
func clientAddr(c net.Conn) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(c.RemoteAddr().String())
	if err != nil {
		return netip.Addr{}, false
	}
	return ap.Addr().Unmap(), true
}

// countedConn gives its client's place back once, on the first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
