package mail

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	smtp "github.com/emersion/go-smtp"
)

// testServer is a real SMTP server on loopback whose backend records what it
// receives and misbehaves on purpose, chosen by the recipient's local part:
//
//	temp...   450 to RCPT
//	perm...   550 to RCPT
//	bye...    421 to RCPT, then hangs up
//	drop...   hangs up in the middle of DATA
//	stall...  never answers DATA
//	reject... 554 after DATA
type testServer struct {
	port    int
	release chan struct{} // closed at cleanup to free stalled sessions

	// dataDelay is how long DATA takes, so that sessions overlap.
	dataDelay time.Duration

	mu       sync.Mutex
	received []received
	sessions int // sessions ever opened
	open     int // sessions open now
	maxOpen  int
}

type received struct {
	from, to string
	session  int
	tls      bool
	data     []byte
}

func newTestServer(t *testing.T) *testServer {
	t.Helper()
	return startTestServer(t, "none", nil)
}

// startTestServer starts a server offering STARTTLS (mode "starttls"), speaking
// TLS from the first byte ("tls") or plain ("none").
func startTestServer(t *testing.T, mode string, cfg *tls.Config) *testServer {
	t.Helper()
	ts := &testServer{release: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if mode == "tls" {
		l = tls.NewListener(l, cfg)
	}
	ts.port = l.Addr().(*net.TCPAddr).Port
	srv := smtp.NewServer(smtp.BackendFunc(ts.newSession))
	srv.Domain = "localhost"
	if mode == "starttls" {
		srv.TLSConfig = cfg
	}
	srv.AllowInsecureAuth = true
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	t.Cleanup(func() { close(ts.release) }) // runs first: frees stalled sessions
	return ts
}

func (ts *testServer) newSession(c *smtp.Conn) (smtp.Session, error) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	ts.sessions++
	ts.open++
	ts.maxOpen = max(ts.maxOpen, ts.open)
	s := &testSession{ts: ts, conn: c, id: ts.sessions}
	return s, nil
}

func (ts *testServer) messages() []received {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return append([]received(nil), ts.received...)
}

func (ts *testServer) counts() (sessions, maxOpen int) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	return ts.sessions, ts.maxOpen
}

type testSession struct {
	ts   *testServer
	conn *smtp.Conn
	id   int
	from string
	to   []string
}

// AuthMechanisms offers PLAIN, accepting user "bantin" with password "secret".
func (s *testSession) AuthMechanisms() []string { return []string{sasl.Plain} }

// Auth checks PLAIN credentials.
func (s *testSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != "bantin" || password != "secret" {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		return nil
	}), nil
}

func (s *testSession) Reset() { s.from, s.to = "", nil }

func (s *testSession) Logout() error {
	s.ts.mu.Lock()
	defer s.ts.mu.Unlock()
	s.ts.open--
	return nil
}

func (s *testSession) Mail(from string, _ *smtp.MailOptions) error {
	s.from = from
	return nil
}

func (s *testSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	switch {
	case strings.HasPrefix(to, "temp"):
		return &smtp.SMTPError{Code: 450, EnhancedCode: smtp.EnhancedCode{4, 2, 1}, Message: "mailbox busy, try later"}
	case strings.HasPrefix(to, "perm"):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	case strings.HasPrefix(to, "bye"):
		io.WriteString(s.conn.Conn(), "421 4.3.2 shutting down\r\n")
		s.conn.Conn().Close()
		return errors.New("closed")
	}
	s.to = append(s.to, to)
	return nil
}

func (s *testSession) Data(r io.Reader) error {
	rcpt := strings.Join(s.to, ",")
	switch {
	case strings.HasPrefix(rcpt, "drop"):
		io.ReadFull(r, make([]byte, 64))
		s.conn.Conn().Close()
		io.Copy(io.Discard, r)
		return errors.New("dropped")
	case strings.HasPrefix(rcpt, "stall"):
		io.Copy(io.Discard, r)
		select {
		case <-s.ts.release:
		case <-time.After(5 * time.Second):
		}
		return errors.New("stalled")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if strings.HasPrefix(rcpt, "reject") {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "message refused"}
	}
	time.Sleep(s.ts.dataDelay)
	s.ts.mu.Lock()
	defer s.ts.mu.Unlock()
	_, isTLS := s.conn.TLSConnectionState()
	s.ts.received = append(s.ts.received, received{from: s.from, to: rcpt, session: s.id, tls: isTLS, data: data})
	return nil
}

// testCert returns a server config with a self-signed certificate for
// 127.0.0.1 and a client config that trusts it.
func testCert(t *testing.T) (server, client *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	return server, &tls.Config{RootCAs: pool}
}
