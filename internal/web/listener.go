package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
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

// countedConn gives its client's place back once, on the first Close,
// and sets its deadlines on the socket only when a read or write needs
// them (see lazyDeadline).
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
	// more marks the next Write as the head of a response whose body
	// follows with sendfile (see ConnContext); set and used by the
	// request's own goroutine.
	more bool

	reading, writing lazyDeadline
}

// Read reads with the read deadline last set in force.
func (c *countedConn) Read(b []byte) (int, error) {
	c.reading.enter(c.Conn, setRead)
	defer c.reading.leave()
	return c.Conn.Read(b)
}

// Write sends b, with MSG_MORE when more is set: the response's headers
// then wait in the kernel for the first pages of the file instead of
// going out as a packet of their own, which on a kept-alive connection
// is one wakeup of the client less per response (nginx's tcp_nopush).
func (c *countedConn) Write(b []byte) (int, error) {
	c.writing.enter(c.Conn, setWrite)
	defer c.writing.leave()
	if c.more {
		c.more = false
		if n, handled, err := writeMore(c.Conn, b); handled {
			return n, err
		}
	}
	return c.Conn.Write(b)
}

func (c *countedConn) SetReadDeadline(t time.Time) error {
	return c.reading.want(c.Conn, t, setRead)
}

func (c *countedConn) SetWriteDeadline(t time.Time) error {
	return c.writing.want(c.Conn, t, setWrite)
}

func (c *countedConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

// lazyDeadline is one direction's deadline of a connection. Go's server
// sets seven or eight deadlines a request (the header's, the request's,
// the write's, none for the read that watches for a hang-up, the idle
// wait's), and a timer change costs about as much as the rest of a 304's
// handling: set on the socket only when a read or write is about to wait
// or waiting, most of them never are. A deadline may be met up to
// deadlineSlack early, never late: a write deadline moved a few
// milliseconds later stays where it was.
type lazyDeadline struct {
	mu       sync.Mutex
	asked    time.Time // the deadline last set; zero for none
	onSocket time.Time // the socket's deadline
	// stale is set under mu when onSocket is not asked (see isStale);
	// busy counts the reads (or writes) in progress. A read or write
	// that starts and a deadline that is set each look at the other's
	// flag after setting their own, so at least one of them sees the
	// new deadline needs the socket.
	stale atomic.Bool
	busy  atomic.Int32
}

// deadlineSlack is how much earlier than asked a deadline may fall: on a
// kept-alive connection the next request's write deadline is the last
// one plus the time between them.
const deadlineSlack = 10 * time.Millisecond

func setRead(c net.Conn, t time.Time) error  { return c.SetReadDeadline(t) }
func setWrite(c net.Conn, t time.Time) error { return c.SetWriteDeadline(t) }

// isStale reports whether the socket's deadline is not the one asked for:
// none where one is asked, one where none is, later than asked, or more
// than deadlineSlack earlier.
func (d *lazyDeadline) isStale() bool {
	if d.asked.IsZero() || d.onSocket.IsZero() {
		return d.asked.IsZero() != d.onSocket.IsZero()
	}
	ahead := d.asked.Sub(d.onSocket)
	return ahead < 0 || ahead > deadlineSlack
}

// enter puts the deadline asked for on the socket before a read or write.
// An error setting it is the connection's: the read or write reports it.
func (d *lazyDeadline) enter(c net.Conn, set func(net.Conn, time.Time) error) {
	d.busy.Add(1)
	if d.stale.Load() {
		d.mu.Lock()
		d.apply(c, set)
		d.mu.Unlock()
	}
}

func (d *lazyDeadline) leave() { d.busy.Add(-1) }

// apply sets the deadline asked for on the socket if it is not there; mu
// is held.
func (d *lazyDeadline) apply(c net.Conn, set func(net.Conn, time.Time) error) error {
	if !d.isStale() {
		d.stale.Store(false)
		return nil
	}
	if err := set(c, d.asked); err != nil {
		return err
	}
	d.onSocket = d.asked
	d.stale.Store(false)
	return nil
}

// want records t, and sets it on the socket at once when a read (or
// write) is under way: Go's server ends its watch for a hang-up that way.
func (d *lazyDeadline) want(c net.Conn, t time.Time, set func(net.Conn, time.Time) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.asked = t
	d.stale.Store(d.isStale())
	if d.busy.Load() == 0 {
		return nil
	}
	return d.apply(c, set)
}

func (c *countedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
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
	c.writing.enter(c.Conn, setWrite)
	defer c.writing.leave()
	c.more = false // the head has gone by now; a flag left over would hold up the next response's
	return readFrom(c.Conn, r)
}
