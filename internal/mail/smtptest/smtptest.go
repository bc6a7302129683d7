// Package smtptest runs a real SMTP server (emersion/go-smtp) on loopback
// for tests: it counts what it accepts per recipient and fails on purpose
// where a test's policy says so.
package smtptest

import (
	"errors"
	"io"
	"log"
	"net"
	"sync"
	"testing"
	"time"

	smtp "github.com/emersion/go-smtp"
)

// Fault is what the server does to one recipient's transaction.
type Fault int

// The faults a policy can choose.
const (
	Accept        Fault = iota
	TempRcpt            // 451 to RCPT TO: try again later
	PermRcpt            // 550 to RCPT TO: no such user (a bounce)
	DropInData          // hang up in the middle of DATA: nothing accepted
	DropAfterData       // accept the message, then hang up before the reply
	Close421            // 421 to RCPT TO and hang up
)

// Policy chooses the fault for the seq-th RCPT TO the server has seen
// (1, 2, …) to rcpt.
type Policy func(rcpt string, seq int) Fault

// Message is one accepted message.
type Message struct {
	From, To string
	Data     []byte
	Session  int
}

// Options configure a Server.
type Options struct {
	Policy Policy        // nil accepts everything
	Delay  time.Duration // added to every DATA: a slow server
	// KeepData keeps every message's bytes; without it only the first of
	// each recipient is kept (counts are always kept).
	KeepData bool
	// Addr is where to listen (a relay coming back where a silent one
	// was); a free loopback port when empty.
	Addr string
}

// Server is a running test SMTP server.
type Server struct {
	Addr string // host:port
	Port int

	opts     Options
	mu       sync.Mutex
	seq      int
	sessions int
	open     int
	maxOpen  int
	counts   map[string]int
	messages []Message
}

// Start runs a server until the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{Addr: l.Addr().String(), Port: l.Addr().(*net.TCPAddr).Port, opts: opts, counts: map[string]int{}}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.MaxRecipients = 50
	// Faults and kills make the clients hang up: not worth a log line.
	srv.ErrorLog = log.New(io.Discard, "", 0)
	go srv.Serve(l)
	tb.Cleanup(func() { srv.Close() })
	return s
}

// Counts returns how many messages each recipient was accepted.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// Messages returns the messages kept.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Sessions returns how many sessions were opened and the most open at once.
func (s *Server) Sessions() (total, maxOpen int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions, s.maxOpen
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions++
	s.open++
	s.maxOpen = max(s.maxOpen, s.open)
	return &session{srv: s, conn: c, id: s.sessions}, nil
}

type session struct {
	srv   *Server
	conn  *smtp.Conn
	id    int
	from  string
	to    []string
	fault Fault
}

func (ss *session) Reset() { ss.from, ss.to, ss.fault = "", nil, Accept }

func (ss *session) Logout() error {
	ss.srv.mu.Lock()
	defer ss.srv.mu.Unlock()
	ss.srv.open--
	return nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.srv.mu.Lock()
	ss.srv.seq++
	seq := ss.srv.seq
	ss.srv.mu.Unlock()
	fault := Accept
	if ss.srv.opts.Policy != nil {
		fault = ss.srv.opts.Policy(to, seq)
	}
	switch fault {
	case TempRcpt:
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	case PermRcpt:
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case Close421:
		_, _ = io.WriteString(ss.conn.Conn(), "421 4.3.2 shutting down\r\n")
		ss.conn.Conn().Close()
		return errors.New("closed")
	}
	ss.to = append(ss.to, to)
	ss.fault = max(ss.fault, fault)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	if ss.fault == DropInData {
		_, _ = io.ReadFull(r, make([]byte, 256))
		ss.conn.Conn().Close()
		return errors.New("dropped in DATA")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if d := ss.srv.opts.Delay; d > 0 {
		time.Sleep(d)
	}
	ss.srv.mu.Lock()
	for _, to := range ss.to {
		ss.srv.counts[to]++
		if ss.srv.opts.KeepData || ss.srv.counts[to] == 1 {
			ss.srv.messages = append(ss.srv.messages, Message{From: ss.from, To: to, Data: data, Session: ss.id})
		}
	}
	ss.srv.mu.Unlock()
	if ss.fault == DropAfterData {
		// Accepted, but the client never hears so: it will send again.
		ss.conn.Conn().Close()
		return errors.New("dropped after DATA")
	}
	return nil
}

// Silent is a relay that accepts connections and never says a word: a
// blackholed smarthost, whose clients wait for a greeting that never
// comes.
type Silent struct {
	Addr string // host:port
	Port int

	l     net.Listener
	mu    sync.Mutex
	conns []net.Conn
	done  chan struct{}
}

// StartSilent runs a silent relay until Close or the end of the test.
func StartSilent(tb testing.TB) *Silent {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Silent{Addr: l.Addr().String(), Port: l.Addr().(*net.TCPAddr).Port, l: l, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
		}
	}()
	tb.Cleanup(s.Close)
	return s
}

// Dials returns how many connections the relay has accepted.
func (s *Silent) Dials() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Close stops listening and hangs up on every connection, freeing the
// port for a relay that talks.
func (s *Silent) Close() {
	s.l.Close()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
}

// ClosedPort returns a loopback address where nothing listens: a relay
// that refuses connections.
func ClosedPort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
