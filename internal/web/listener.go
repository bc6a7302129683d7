package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"
)

// LimitConnections wraps ln so that at most n connections are open at
// once: Accept waits for one to close before it takes the next from the
// kernel's queue. It is golang.org/x/net/netutil.LimitListener's rule,
// with connections that keep the socket's ReadFrom, so that net/http
// still reaches sendfile through them (see fileSection).
func LimitConnections(ln net.Listener, n int) net.Listener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

type limitListener struct {
	net.Listener
	slots     chan struct{} // one value per open connection
	done      chan struct{} // closed by Close: Accept waits no more
	closeOnce sync.Once
}

// Accept takes a slot, then a connection.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &countedConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close stops accepting; the open connections keep their slots.
func (l *limitListener) Close() error {
	err := l.Listener.Close()
	l.closeOnce.Do(func() { close(l.done) })
	return err
}

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
		if cc, ok := c.(*countedConn); ok {
			// Inside LimitConnections: one wrapper gives both places
			// back, so reads and writes go through one layer.
			global := cc.release
			cc.release = func() { l.release(addr); global() }
			return cc, nil
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
	// more marks the next Write as the head of a response whose body
	// follows with sendfile (see ConnContext); set and used by the
	// request's own goroutine.
	more bool
}

// Write sends b, with MSG_MORE when more is set: the response's headers
// then wait in the kernel for the first pages of the file instead of
// going out as a packet of their own, which on a kept-alive connection
// is one wakeup of the client less per response (nginx's tcp_nopush).
func (c *countedConn) Write(b []byte) (int, error) {
	if c.more {
		c.more = false
		if n, handled, err := writeMore(c.Conn, b); handled {
			return n, err
		}
	}
	return c.Conn.Write(b)
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SetTimeouts gives srv the timeouts of bantin serve. A silent client is
// cut after 10 s; a request body has the route's own deadline
// (Options.FormBodyTimeout, 10 s; the admin API's, 60 s), and ReadTimeout
// stays as the whole request's bound. An idle keep-alive connection holds
// a slot of limits.connections, so it is closed after 30 s.
func SetTimeouts(srv *http.Server) {
	srv.ReadHeaderTimeout = 10 * time.Second
	srv.ReadTimeout = DefaultAPIBodyTimeout
	srv.WriteTimeout = 60 * time.Second
	srv.IdleTimeout = 30 * time.Second
}

type connKey struct{}

// ConnContext is for http.Server.ConnContext: it lets a feed response
// reach its connection (see writeRendered), when the connection is one of
// this package's listeners'.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	if cc, ok := c.(*countedConn); ok {
		return context.WithValue(ctx, connKey{}, cc)
	}
	return ctx
}

// bodyFollows tells the connection of r, when ConnContext gave it one, that
// its next Write is a head whose body follows at once.
func bodyFollows(r *http.Request) {
	if cc, ok := r.Context().Value(connKey{}).(*countedConn); ok {
		cc.more = true
	}
}

// ReadFrom lets net/http send a body with the socket's own ReadFrom
// (sendfile, splice) through the wrapper.
func (c *countedConn) ReadFrom(r io.Reader) (int64, error) {
	c.more = false // the head has gone by now; a flag left over would hold up the next response's
	return readFrom(c.Conn, r)
}
