package main

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

const (
	bounceBoxUser     = "bounces@news.example.vn"
	bounceBoxPassword = "imap-e2e-password-7f3a"
)

type imapLiteral struct{ *bytes.Reader }

func (l imapLiteral) Size() int64 { return l.Reader.Size() }

type imapQuiet struct{}

func (imapQuiet) Printf(string, ...any) {}

// bounceBoxServer starts an in-process IMAP server on loopback (no TLS)
// whose INBOX holds the given fixtures of internal/bounce/testdata.
func bounceBoxServer(t *testing.T, fixtures ...string) int {
	t.Helper()
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(bounceBoxUser, bounceBoxPassword)
	if err := user.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(user)
	for _, name := range fixtures {
		b, err := os.ReadFile(filepath.Join("..", "..", "internal", "bounce", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := user.Append("INBOX", imapLiteral{bytes.NewReader(b)}, &imap.AppendOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapMove: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
		Logger:       imapQuiet{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// bounceBoxFolder lists a folder's messages (subject and flags) as a mail
// client sees them, read-only.
func bounceBoxFolder(t *testing.T, port int, name string) map[string][]imap.Flag {
	t.Helper()
	c, err := imapclient.DialInsecure(fmt.Sprintf("127.0.0.1:%d", port), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(bounceBoxUser, bounceBoxPassword).Wait(); err != nil {
		t.Fatal(err)
	}
	data, err := c.Select(name, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		return nil // no such folder yet
	}
	out := map[string][]imap.Flag{}
	if data.NumMessages == 0 {
		return out
	}
	msgs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{Flags: true, Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		out[m.Envelope.Subject] = m.Flags
	}
	return out
}

func TestServeReadsBounceMailboxOverIMAP(t *testing.T) {
	port := bounceBoxServer(t, "postfix-user-unknown.eml", "arf-abuse.eml", "ordinary.eml")
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, serveConfig(addr, "")+fmt.Sprintf(`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
mail:
  return_path: bounces@news.example.vn
bounces:
  imap:
    host: 127.0.0.1
    port: %d
    username: %s
    tls: none
    interval: 1h
`, port, bounceBoxUser))
	// The reader who will complain, and one who never bounces.
	mustRun(t, dir, 0, "subscribers", "add", "sang", "Angry.Reader@fbl.example.net", "--confirmed")
	mustRun(t, dir, 0, "subscribers", "add", "sang", "calm@example.org", "--confirmed")

	// The password from the environment, as the example config advises.
	d := startServeEnv(t, dir, addr, "BANTIN_BOUNCES_IMAP_PASSWORD="+bounceBoxPassword)
	waitFor(t, 15*time.Second, "serve to log its first round of the bounce mailbox", func() bool {
		return strings.Contains(d.logs.String(), "bounce mailbox read")
	})
	logs := d.logs.String()
	if !strings.Contains(logs, "read=3") || !strings.Contains(logs, "moved=2") || !strings.Contains(logs, "skipped=1") || !strings.Contains(logs, "errors=0") {
		t.Errorf("serve's round line does not say 3 read, 2 moved, 1 skipped, 0 errors:\n%s", logs)
	}
	if strings.Contains(logs, bounceBoxPassword) {
		t.Errorf("serve's log shows the mailbox password:\n%s", logs)
	}

	inbox := bounceBoxFolder(t, port, "INBOX")
	flags, ok := inbox["Re: Ban tin sang - undeliverable promise?"]
	if len(inbox) != 1 || !ok {
		t.Fatalf("INBOX holds %v, want only the ordinary email", inbox)
	}
	if slices.Contains(flags, imap.FlagSeen) || slices.Contains(flags, imap.FlagDeleted) {
		t.Errorf("the ordinary email's flags are %v: it must stay unread and undeleted", flags)
	}
	processed := bounceBoxFolder(t, port, "bantin-processed")
	if len(processed) != 2 {
		t.Errorf("bantin-processed holds %v, want the bounce and the complaint", processed)
	}

	// The complaint unsubscribed its reader (no longer listed as
	// confirmed); the other stays.
	out, _ := mustRun(t, dir, 0, "subscribers", "list", "sang")
	calm := false
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if strings.Contains(strings.ToLower(line), "angry.reader@fbl.example.net") && strings.Contains(line, "confirmed") {
			t.Errorf("complainer after the round: %q, want unsubscribed", line)
		}
		calm = calm || strings.Contains(line, "calm@example.org") && strings.Contains(line, "confirmed")
	}
	if !calm {
		t.Errorf("subscribers list after the round:\n%s\nwant calm@example.org still confirmed", out)
	}

	// serve stops promptly with the mailbox configured.
	start := time.Now()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("serve took %s to stop", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s of SIGINT")
	}
}

// bounceBoxConfig is a serve config reading the bounce mailbox at port.
func bounceBoxConfig(addr string, port int, interval string) string {
	return serveConfig(addr, "") + fmt.Sprintf(`bounces:
  imap:
    host: 127.0.0.1
    port: %d
    username: %s
    password: %s
    tls: none
    interval: %s
`, port, bounceBoxUser, bounceBoxPassword, interval)
}

func TestServeStopsPromptlyWhileBounceMailboxIsSilentTimeout30s(t *testing.T) {
	// A server that takes the connection and never greets: serve waits up
	// to 30 s for an answer, but a SIGINT does not wait for it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			defer c.Close()
		}
	}()
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, bounceBoxConfig(addr, ln.Addr().(*net.TCPAddr).Port, "1h"))
	d := startServe(t, dir, addr)
	waitFor(t, 10*time.Second, "serve to connect to the bounce mailbox", func() bool { return accepted.Load() > 0 })
	time.Sleep(200 * time.Millisecond) // waiting for the greeting now

	start := time.Now()
	if err := d.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("serve after SIGINT: %v", err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("serve took %s to stop while the mailbox was silent", took)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not stop within 20s of SIGINT while the bounce mailbox was silent")
	}
	if logs := d.logs.String(); strings.Contains(logs, bounceBoxPassword) {
		t.Errorf("serve's log shows the mailbox password:\n%s", logs)
	}
}

func TestServeReloadSaysBounceMailboxTakesRestart(t *testing.T) {
	port := bounceBoxServer(t)
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, bounceBoxConfig(addr, port, "1h"))
	d := startServe(t, dir, addr)
	waitFor(t, 10*time.Second, "the first round of the bounce mailbox", func() bool {
		return strings.Contains(d.logs.String(), "bounce mailbox read")
	})
	writeConfig(t, dir, bounceBoxConfig(addr, port, "10m"))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the reload to say bounces.imap takes a restart", func() bool {
		logs := d.logs.String()
		i := strings.Index(logs, "take a restart")
		return i >= 0 && strings.Contains(logs[i:], "bounces.imap")
	})
}
