package mailbox

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/bantin/bantin/internal/bounce"
)

const (
	testUser     = "bounces@news.example.vn"
	testPassword = "s3cret-imap"
)

// fakeRecorder keeps the events it is given, or fails them all.
type fakeRecorder struct {
	mu     sync.Mutex
	events []bounce.Event
	fail   error
}

func (f *fakeRecorder) Record(_ context.Context, ev bounce.Event) (bounce.Outcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	f.events = append(f.events, ev)
	return bounce.Counted, nil
}

func (f *fakeRecorder) got() []bounce.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.events)
}

type literal struct{ *bytes.Reader }

func (l literal) Size() int64 { return l.Reader.Size() }

type quietLog struct{}

func (quietLog) Printf(string, ...any) {}

// imapServer starts an in-process IMAP server on loopback holding the
// given messages in INBOX, with caps (nil: IMAP4rev1 with MOVE and
// UIDPLUS).
func imapServer(t *testing.T, caps imap.CapSet, messages ...[]byte) (addr string, user *imapmemserver.User) {
	t.Helper()
	return testServer{caps: caps}.start(t, messages...)
}

// testServer says how an in-process IMAP server differs from the plain
// one of imapServer.
type testServer struct {
	caps imap.CapSet
	// wire gets all the connection's bytes, both ways.
	wire io.Writer
	// tls is "tls" (from the start) or "starttls", on cert's certificate.
	tls  string
	cert *tls.Config
	// wrap changes each session.
	wrap func(imapserver.Session) imapserver.Session
}

func (o testServer) start(t *testing.T, messages ...[]byte) (addr string, user *imapmemserver.User) {
	t.Helper()
	if o.caps == nil {
		o.caps = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}}
	}
	mem := imapmemserver.New()
	user = imapmemserver.NewUser(testUser, testPassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	for _, m := range messages {
		if _, err := user.Append("INBOX", literal{bytes.NewReader(m)}, &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	opts := &imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			if o.wrap != nil {
				return o.wrap(mem.NewSession()), nil, nil
			}
			return mem.NewSession(), nil, nil
		},
		Caps:         o.caps,
		InsecureAuth: true,
		Logger:       quietLog{},
		DebugWriter:  o.wire,
	}
	if o.tls == "starttls" {
		opts.TLSConfig = o.cert
	}
	srv := imapserver.New(opts)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if o.tls == "tls" {
		ln = tls.NewListener(ln, o.cert)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), user
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// held is one message in a folder as a mail client sees it.
type held struct {
	subject string
	flags   []imap.Flag
}

func (h held) has(f imap.Flag) bool {
	return slices.ContainsFunc(h.flags, func(g imap.Flag) bool { return strings.EqualFold(string(g), string(f)) })
}

// folder lists a folder's messages through a second IMAP client.
func folder(t *testing.T, addr, name string) []held {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	// EXAMINE: looking marks nothing.
	sel, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatalf("select %s: %v", name, err)
	}
	if sel.NumMessages == 0 {
		return nil
	}
	all := imap.SeqSet{{Start: 1, Stop: 0}} // 1:*
	msgs, err := c.Fetch(all, &imap.FetchOptions{Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []held
	for _, m := range msgs {
		out = append(out, held{subject: m.Envelope.Subject, flags: m.Flags})
	}
	return out
}

func newPoller(addr string, rec bounce.Recorder) *Poller {
	return New(Options{Addr: addr, Username: testUser, Password: testPassword, TLS: "none", Recorder: rec, Timeout: 5 * time.Second})
}

func subjects(hs []held) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.subject)
	}
	slices.Sort(out)
	return out
}

func TestRoundMovesBouncesAndLeavesOrdinaryEmailUnseen(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps imap.CapSet
	}{
		{"MOVE", nil},
		{"COPY and UID EXPUNGE", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}},
		{"IMAP4rev2", imap.CapSet{imap.CapIMAP4rev2: {}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ordinary := fixture(t, "ordinary.eml")
			addr, _ := imapServer(t, tc.caps,
				fixture(t, "postfix-user-unknown.eml"), fixture(t, "arf-abuse.eml"),
				fixture(t, "autoreply-vacation.eml"), ordinary)
			rec := &fakeRecorder{}
			p := newPoller(addr, rec)
			st, err := p.Round(context.Background())
			if err != nil {
				t.Fatalf("round: %v", err)
			}
			if want := (Stats{Read: 4, Recorded: 3, Moved: 3, Skipped: 1}); st != want {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
			var got []string
			for _, ev := range rec.got() {
				if ev.Source != "imap" || !(strings.HasPrefix(ev.ID, "msg:") || strings.HasPrefix(ev.ID, "imap:")) {
					t.Errorf("event %+v: want source imap and an ID", ev)
				}
				got = append(got, string(ev.Kind)+" "+ev.Recipient)
			}
			slices.Sort(got)
			if len(got) != 3 || !strings.HasPrefix(got[0], "auto-reply ") || !strings.HasPrefix(got[1], "complaint ") || !strings.HasPrefix(got[2], "hard ") {
				t.Errorf("recorded %q, want one auto-reply, one complaint, one hard bounce", got)
			}

			inbox := folder(t, addr, "INBOX")
			if len(inbox) != 1 || inbox[0].subject != "Re: Ban tin sang - undeliverable promise?" {
				t.Fatalf("INBOX holds %q, want only the ordinary email", subjects(inbox))
			}
			if inbox[0].has(imap.FlagSeen) || inbox[0].has(imap.FlagDeleted) {
				t.Errorf("ordinary email's flags %v: it must stay unread and undeleted", inbox[0].flags)
			}
			if !inbox[0].has(SkippedKeyword) {
				t.Errorf("ordinary email's flags %v: want %s so later rounds pass it by", inbox[0].flags, SkippedKeyword)
			}
			if processed := folder(t, addr, DefaultProcessed); len(processed) != 3 {
				t.Errorf("%s holds %q, want the three bounces", DefaultProcessed, subjects(processed))
			}

			st, err = p.Round(context.Background())
			if err != nil {
				t.Fatalf("second round: %v", err)
			}
			if st != (Stats{}) || len(rec.got()) != 3 {
				t.Errorf("second round: stats %+v and %d events in all, want nothing read or recorded again", st, len(rec.got()))
			}
		})
	}
}

func TestRoundWithoutMoveExpungesOnlyItsOwnMessages(t *testing.T) {
	addr, _ := imapServer(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}},
		fixture(t, "postfix-user-unknown.eml"), fixture(t, "ordinary.eml"))
	// Someone else marked the ordinary email deleted without expunging:
	// bantin's UID EXPUNGE must not take it.
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(testUser, testPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	c.Close()

	rec := &fakeRecorder{}
	st, err := newPoller(addr, rec).Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Read: 1, Recorded: 1, Moved: 1}); st != want {
		t.Errorf("stats = %+v, want %+v (a message marked deleted is not read)", st, want)
	}
	inbox := folder(t, addr, "INBOX")
	if len(inbox) != 1 || !inbox[0].has(imap.FlagDeleted) {
		t.Errorf("INBOX holds %+v, want the other client's deleted message still there", inbox)
	}
}

func TestRoundLeavesMessageWhenRecorderFails(t *testing.T) {
	addr, _ := imapServer(t, nil, fixture(t, "postfix-user-unknown.eml"))
	rec := &fakeRecorder{fail: errors.New("store is down")}
	p := newPoller(addr, rec)
	st, err := p.Round(context.Background())
	if err != nil {
		t.Fatalf("round: %v", err)
	}
	if want := (Stats{Read: 1, Errors: 1}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	inbox := folder(t, addr, "INBOX")
	if len(inbox) != 1 || inbox[0].has(imap.FlagSeen) || inbox[0].has(SkippedKeyword) {
		t.Fatalf("INBOX holds %+v, want the bounce still there, unread and not marked skipped", inbox)
	}

	// The next round, with the store back, takes it.
	rec.mu.Lock()
	rec.fail = nil
	rec.mu.Unlock()
	st, err = p.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Read: 1, Recorded: 1, Moved: 1}); st != want {
		t.Errorf("next round: stats = %+v, want %+v", st, want)
	}
	if inbox := folder(t, addr, "INBOX"); len(inbox) != 0 {
		t.Errorf("INBOX still holds %q", subjects(inbox))
	}
}

// silentServer accepts connections and never says a word.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestRoundGivesUpOnSilentServerAfterTimeout(t *testing.T) {
	addr := silentServer(t)
	p := New(Options{Addr: addr, Username: testUser, Password: testPassword, TLS: "none", Recorder: &fakeRecorder{}, Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := p.Round(context.Background())
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "no answer within 300ms") {
		t.Errorf("round on a silent server: err %v, want it to say no answer within 300ms", err)
	}
	if took > 5*time.Second {
		t.Errorf("round took %s, want about the 300ms timeout", took)
	}
	if err != nil && strings.Contains(err.Error(), testPassword) {
		t.Errorf("error %q shows the password", err)
	}

	// With TLS too: the handshake waits no longer.
	p = New(Options{Addr: addr, Username: testUser, Password: testPassword, TLS: "tls", Recorder: &fakeRecorder{}, Timeout: 300 * time.Millisecond})
	start = time.Now()
	if _, err := p.Round(context.Background()); err == nil || time.Since(start) > 5*time.Second {
		t.Errorf("TLS round on a silent server: err %v after %s, want a timeout within seconds", err, time.Since(start))
	}
}

func TestRunStopsPromptlyOnCancelWithDefaultTimeout30s(t *testing.T) {
	addr := silentServer(t)
	p := New(Options{Addr: addr, Username: testUser, Password: testPassword, TLS: "none", Recorder: &fakeRecorder{}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	time.Sleep(200 * time.Millisecond) // connected, waiting for the greeting
	start := time.Now()
	cancel()
	select {
	case <-done:
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("Run stopped %s after cancel", took)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run still waiting on a silent server 10s after cancel (its timeout is 30s)")
	}
}

func TestRoundRefusedLoginNamesNoPassword(t *testing.T) {
	addr, _ := imapServer(t, nil, fixture(t, "postfix-user-unknown.eml"))
	p := New(Options{Addr: addr, Username: testUser, Password: "wrong-password-xyz", TLS: "none", Recorder: &fakeRecorder{}, Timeout: 5 * time.Second})
	_, err := p.Round(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "login: ") {
		t.Fatalf("err = %v, want a login error", err)
	}
	if strings.Contains(err.Error(), "wrong-password-xyz") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestRoundReadsAtMostMaxBytesOfAMessage(t *testing.T) {
	// A bounce returning a 3 MiB copy, read with a 1 MiB bound: the server
	// sends at most 1 MiB and a byte, and the part naming the address
	// comes first, so it is still recorded and moved.
	big := fixture(t, "postfix-user-unknown.eml")
	big = append(big, bytes.Repeat([]byte("x"), 3<<20)...)
	var wire counter
	addr, _ := testServer{wire: &wire}.start(t, big)
	rec := &fakeRecorder{}
	p := New(Options{Addr: addr, Username: testUser, Password: testPassword, TLS: "none", Recorder: rec,
		Timeout: 5 * time.Second, Parser: bounce.Options{MaxBytes: 1 << 20}})
	st, err := p.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Read: 1, Recorded: 1, Moved: 1}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	if evs := rec.got(); len(evs) != 1 || evs[0].Kind != bounce.Hard || evs[0].Recipient == "" {
		t.Errorf("events %+v, want one hard bounce naming its address", evs)
	}
	if n := wire.n.Load(); n > 2<<20 {
		t.Errorf("%d bytes went over the connection, want little more than the 1 MiB bound", n)
	}
}

// counter counts the bytes written to it.
type counter struct{ n atomic.Int64 }

func (c *counter) Write(b []byte) (int, error) { c.n.Add(int64(len(b))); return len(b), nil }

func TestRoundOverTLSAndSTARTTLS(t *testing.T) {
	// httptest's certificate is for 127.0.0.1; the poller trusts it
	// through TLSConfig, as the system's roots would trust a real one.
	web := httptest.NewTLSServer(nil)
	defer web.Close()
	serverTLS := &tls.Config{Certificates: web.TLS.Certificates}
	roots := x509.NewCertPool()
	roots.AddCert(web.Certificate())
	for _, mode := range []string{"tls", "starttls"} {
		t.Run(mode, func(t *testing.T) {
			addr, _ := testServer{tls: mode, cert: serverTLS}.start(t, fixture(t, "postfix-user-unknown.eml"))
			rec := &fakeRecorder{}
			p := New(Options{Addr: addr, Username: testUser, Password: testPassword, TLS: mode, Recorder: rec,
				Timeout: 5 * time.Second, TLSConfig: &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}})
			st, err := p.Round(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if want := (Stats{Read: 1, Recorded: 1, Moved: 1}); st != want {
				t.Errorf("stats = %+v, want %+v", st, want)
			}
			// A certificate the poller does not trust fails the round.
			p = New(Options{Addr: addr, Username: testUser, Password: testPassword, TLS: mode, Recorder: rec, Timeout: 5 * time.Second})
			if _, err := p.Round(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
				t.Errorf("round with an untrusted certificate: err %v, want a certificate error", err)
			}
		})
	}
}

// noKeywords is a session whose mailboxes take no keywords: the
// permanent flags lack \*.
type noKeywords struct{ imapserver.Session }

func (s noKeywords) Select(name string, o *imap.SelectOptions) (*imap.SelectData, error) {
	d, err := s.Session.Select(name, o)
	if d != nil {
		d.PermanentFlags = slices.DeleteFunc(d.PermanentFlags, func(f imap.Flag) bool { return f == imap.FlagWildcard })
	}
	return d, err
}

func TestRoundOnServerWithoutKeywordsRemembersOrdinaryEmail(t *testing.T) {
	addr, _ := testServer{
		caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}},
		wrap: func(s imapserver.Session) imapserver.Session { return noKeywords{s} },
	}.start(t, fixture(t, "ordinary.eml"), fixture(t, "postfix-user-unknown.eml"))
	rec := &fakeRecorder{}
	p := newPoller(addr, rec)
	st, err := p.Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Read: 2, Recorded: 1, Moved: 1, Skipped: 1}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	inbox := folder(t, addr, "INBOX")
	if len(inbox) != 1 || inbox[0].has(SkippedKeyword) || inbox[0].has(imap.FlagSeen) {
		t.Errorf("INBOX holds %+v, want the ordinary email alone, unread and without a keyword", inbox)
	}
	// The next round does not read it again.
	if st, err := p.Round(context.Background()); err != nil || st != (Stats{}) {
		t.Errorf("next round: %+v, %v; want nothing read", st, err)
	}
}

func TestRoundLeavesSomethingThatIsNoEmail(t *testing.T) {
	addr, _ := imapServer(t, nil, []byte("\x00\x01\x02 not a header\r\n\r\nbody"))
	st, err := newPoller(addr, &fakeRecorder{}).Round(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if want := (Stats{Read: 1, Skipped: 1}); st != want {
		t.Errorf("stats = %+v, want %+v", st, want)
	}
	inbox := folder(t, addr, "INBOX")
	if len(inbox) != 1 || inbox[0].has(imap.FlagSeen) || inbox[0].has(imap.FlagDeleted) {
		t.Errorf("INBOX holds %+v, want it left unread", inbox)
	}
}
