package mail

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// lineRelay is a relay of a few lines that offers PIPELINING or not and
// notes, for each command, whether the next one had already arrived when
// it was read (the client did not wait for its answer).
type lineRelay struct {
	port int
	mu   sync.Mutex
	cmds []string // each command, with " +" when more was waiting behind it
	data []string
}

// startLineRelayTransport starts a lineRelay and an SMTP transport of one
// connection to it, closed when the test ends.
func startLineRelayTransport(t *testing.T, pipelining bool) (*lineRelay, *SMTPTransport) {
	t.Helper()
	r := startLineRelay(t, pipelining)
	st, err := NewSMTPTransport(SMTPOptions{Host: "127.0.0.1", Port: r.port, TLS: "none", Connections: 1,
		HELO: "client.test", GreetingTimeout: 2 * time.Second, CommandTimeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return r, st
}

func startLineRelay(t *testing.T, pipelining bool) *lineRelay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	r := &lineRelay{port: ln.Addr().(*net.TCPAddr).Port}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c, pipelining)
		}
	}()
	return r
}

func (r *lineRelay) serve(c net.Conn, pipelining bool) {
	defer c.Close()
	br := bufio.NewReader(c)
	say := func(s string) { c.Write([]byte(s + "\r\n")) }
	say("220 relay.test ESMTP")
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(cmd, ":", 2)[0])
		verb = strings.Fields(verb + " ")[0]
		if verb != "EHLO" && verb != "QUIT" && verb != "NOOP" {
			// The rest of a pipelined group comes in the same write.
			time.Sleep(20 * time.Millisecond)
			note := cmd
			if br.Buffered() > 0 {
				note += " +"
			}
			r.mu.Lock()
			r.cmds = append(r.cmds, note)
			r.mu.Unlock()
		}
		switch verb {
		case "EHLO":
			if pipelining {
				say("250-relay.test")
				say("250 PIPELINING")
			} else {
				say("250 relay.test")
			}
		case "MAIL", "RSET", "NOOP":
			say("250 ok")
		case "RCPT":
			if strings.Contains(cmd, "refused@") {
				say("550 no such user")
			} else {
				say("250 ok")
			}
		case "DATA":
			if strings.Contains(r.last(2), "refused@") {
				say("554 no valid recipients")
				continue
			}
			say("354 go on")
			var msg strings.Builder
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				msg.WriteString(l)
			}
			r.mu.Lock()
			r.data = append(r.data, msg.String())
			r.mu.Unlock()
			say("250 queued")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("502 no")
		}
	}
}

// last returns the command n before the latest one.
func (r *lineRelay) last(n int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.cmds) < n {
		return ""
	}
	return r.cmds[len(r.cmds)-n]
}

// TestSMTPPipelining: to a relay that offers PIPELINING, MAIL, RCPT and DATA
// go out together; to one that does not, each waits for its answer. Both
// get the message whole, envelope addresses in angle brackets, and a
// refused recipient is a Permanent refusal of the recipient after which the
// session carries the next message.
func TestSMTPPipelining(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		name := map[bool]string{true: "offered", false: "not offered"}[pipelining]
		t.Run(name, func(t *testing.T) {
			r, st := startLineRelayTransport(t, pipelining)
			res := st.Send(context.Background(), []Message{vietnamese("a@example.com"), vietnamese("refused@example.com"), vietnamese("b@example.com")})
			if res[0].Status != Sent || res[2].Status != Sent {
				t.Fatalf("results %+v; want the first and last sent", res)
			}
			if res[1].Status != Permanent || !res[1].Rejected || res[1].Code != 550 {
				t.Errorf("refused recipient: %+v; want Permanent 550, recipient refused", res[1])
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			want := []string{"MAIL FROM:<news@example.vn>", "RCPT TO:<a@example.com>", "DATA"}
			if pipelining {
				want = []string{"MAIL FROM:<news@example.vn> +", "RCPT TO:<a@example.com> +", "DATA"}
			}
			if got := r.cmds[:3]; strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("commands %q, want %q", got, want)
			}
			if len(r.data) != 2 || !strings.Contains(r.data[0], "To: ") || !strings.HasSuffix(r.data[0], "\r\n") {
				t.Errorf("relay got %d messages, want 2 whole ones", len(r.data))
			}
			if !strings.Contains(strings.Join(r.cmds, "|"), "RSET") {
				t.Errorf("no RSET after the refused recipient: %q", r.cmds)
			}
		})
	}
}
