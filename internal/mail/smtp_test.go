package mail

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/quotedprintable"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

func newSMTP(t *testing.T, ts *testServer, change func(*SMTPOptions)) *SMTPTransport {
	t.Helper()
	opts := SMTPOptions{
		Host:        "127.0.0.1",
		Port:        ts.port,
		TLS:         "none",
		Connections: 1,
		// Short pauses: a relay that cannot be reached is waited for
		// through three tries.
		GreetingTimeout: 2 * time.Second,
		CommandTimeout:  2 * time.Second,
		RelayBackoff:    20 * time.Millisecond,
		HELO:            "client.test",
		Location:        time.UTC,
	}
	if change != nil {
		change(&opts)
	}
	st, err := NewSMTPTransport(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestSMTPDeliversIntact(t *testing.T) {
	ts := newTestServer(t)
	st := newSMTP(t, ts, nil)
	results := st.Send(context.Background(), []Message{vietnamese("a@example.com")})
	if results[0].Status != Sent || results[0].MessageID != "issue-7.sub-3@example.vn" {
		t.Fatalf("result = %+v, want Sent issue-7.sub-3@example.vn", results[0])
	}
	got := ts.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if got[0].from != "news@example.vn" || got[0].to != "a@example.com" {
		t.Errorf("envelope = %s -> %s, want news@example.vn -> a@example.com", got[0].from, got[0].to)
	}
	checkMessage(t, got[0].data, "a@example.com", time.UTC)
}

// TestSMTPDotStuffing: lines that start with a dot arrive as written, and
// the message is not cut short by a line holding a lone dot.
func TestSMTPDotStuffing(t *testing.T) {
	ts := newTestServer(t)
	st := newSMTP(t, ts, nil)
	m := vietnamese("a@example.com")
	m.Text = ".dòng đầu có dấu chấm\n..hai dấu chấm\n.\ngiữa\n."
	m.HTML = ""
	if r := st.Send(context.Background(), []Message{m})[0]; r.Status != Sent {
		t.Fatalf("result = %+v", r)
	}
	got := ts.messages()
	if len(got) != 1 {
		t.Fatalf("server received %d messages", len(got))
	}
	parsed, err := netmail.ReadMessage(bytes.NewReader(got[0].data))
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(quotedprintable.NewReader(parsed.Body))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.ReplaceAll(m.Text, "\n", "\r\n") + "\r\n"; string(body) != want {
		t.Errorf("body arrived as %q, want %q", body, want)
	}
}

// TestSMTPClassifies checks the outcome of every kind of failure, for
// unsigned messages and DKIM-signed ones alike, over one pooled session
// redialled as needed.
func TestSMTPClassifies(t *testing.T) {
	for _, signed := range []bool{false, true} {
		t.Run(map[bool]string{false: "unsigned", true: "DKIM"}[signed], func(t *testing.T) {
			ts := newTestServer(t)
			st := newSMTP(t, ts, func(o *SMTPOptions) {
				if signed {
					o.DKIM = &DKIM{Domain: "example.vn", Selector: "sel", Signer: testKeys(t)[1].signer}
				}
			})
			bad := vietnamese("ok5@example.com")
			bad.Headers["List-Id"] = "x\r\nBcc: victim@example.com"
			tests := []struct {
				to       string
				msg      *Message
				want     Status
				wantCode int
			}{
				{to: "ok1@example.com", want: Sent},
				{to: "temp@example.com", want: Temporary, wantCode: 450},
				{to: "perm@example.com", want: Permanent, wantCode: 550},
				{to: "ok2@example.com", want: Sent}, // the session survives a refused RCPT
				{to: "reject@example.com", want: Permanent, wantCode: 554},
				{to: "bye@example.com", want: Temporary, wantCode: 421},
				{to: "ok3@example.com", want: Sent}, // after a redial
				{to: "drop@example.com", want: Temporary, wantCode: 0},
				{to: "ok5@example.com", msg: &bad, want: Permanent}, // injection: never sent
				{to: "ok4@example.com", want: Sent},                 // after a redial
			}
			msgs := make([]Message, len(tests))
			for i, tt := range tests {
				msgs[i] = vietnamese(tt.to)
				if tt.msg != nil {
					msgs[i] = *tt.msg
				}
			}
			results := st.Send(context.Background(), msgs)
			for i, tt := range tests {
				t.Run(tt.to, func(t *testing.T) {
					got := results[i]
					if got.Status != tt.want || got.Code != tt.wantCode {
						t.Errorf("got %v %d (%v), want %v %d", got.Status, got.Code, got.Err, tt.want, tt.wantCode)
					}
					if (got.Err == nil) != (tt.want == Sent) {
						t.Errorf("Err = %v with status %v", got.Err, got.Status)
					}
				})
			}
			var to []string
			for _, r := range ts.messages() {
				to = append(to, r.to)
			}
			if got, want := strings.Join(to, " "), "ok1@example.com ok2@example.com ok3@example.com ok4@example.com"; got != want {
				t.Errorf("server received for %q, want %q", got, want)
			}
			// One session until 421, one until the drop, one after.
			if sessions, _ := ts.counts(); sessions != 3 {
				t.Errorf("sessions = %d, want 3 (reuse, redial after 421 and after the drop)", sessions)
			}
		})
	}
}

func TestSMTPParallelAndReuse(t *testing.T) {
	ts := newTestServer(t)
	ts.dataDelay = 10 * time.Millisecond
	st := newSMTP(t, ts, func(o *SMTPOptions) { o.Connections = 3 })
	var msgs []Message
	for i := range 30 {
		m := vietnamese(fmt.Sprintf("r%02d@example.com", i))
		m.MessageID = fmt.Sprintf("m%02d@example.vn", i)
		msgs = append(msgs, m)
	}
	// Two Sends at once still share the three connections.
	var wg sync.WaitGroup
	var results [2][]Result
	for k := range 2 {
		wg.Go(func() { results[k] = st.Send(context.Background(), msgs[k*15:(k+1)*15]) })
	}
	wg.Wait()
	for k := range 2 {
		for i, r := range results[k] {
			if want := msgs[k*15+i].MessageID; r.Status != Sent || r.MessageID != want {
				t.Errorf("result %d/%d = %v %s (%v), want Sent %s", k, i, r.Status, r.MessageID, r.Err, want)
			}
		}
	}
	if got := len(ts.messages()); got != 30 {
		t.Errorf("received %d messages, want 30", got)
	}
	sessions, maxOpen := ts.counts()
	if maxOpen > 3 {
		t.Errorf("%d sessions open at once, want at most 3", maxOpen)
	}
	if sessions > 3 {
		t.Errorf("%d sessions for 30 messages, want at most 3 (reused)", sessions)
	}
	if maxOpen < 2 {
		t.Errorf("at most %d session open at once, want parallel sessions", maxOpen)
	}

	// A later Send reuses the open sessions.
	if r := st.Send(context.Background(), msgs[:3]); r[0].Status != Sent {
		t.Fatalf("second send: %+v", r[0])
	}
	if again, _ := ts.counts(); again != sessions {
		t.Errorf("sessions went from %d to %d on a later Send, want reuse", sessions, again)
	}
}

func TestSMTPRate(t *testing.T) {
	ts := newTestServer(t)
	st := newSMTP(t, ts, func(o *SMTPOptions) { o.Connections = 4; o.Rate = 20 })
	msgs := make([]Message, 10)
	for i := range msgs {
		msgs[i] = vietnamese(fmt.Sprintf("r%d@example.com", i))
	}
	start := time.Now()
	results := st.Send(context.Background(), msgs)
	elapsed := time.Since(start)
	for i, r := range results {
		if r.Status != Sent {
			t.Errorf("message %d: %v (%v)", i, r.Status, r.Err)
		}
	}
	// 10 messages at 20/s with burst 1: at least 9 gaps of 50 ms.
	if elapsed < 400*time.Millisecond {
		t.Errorf("10 messages at 20/s took %v, want at least ~450ms", elapsed)
	}
}

func TestSMTPStall(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // the transport's command timeout
		ctxWait time.Duration // when the caller gives up
	}{
		{"command timeout", 300 * time.Millisecond, 0},
		{"context cancelled", 10 * time.Second, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTestServer(t)
			st := newSMTP(t, ts, func(o *SMTPOptions) { o.CommandTimeout, o.DataTimeout = tt.timeout, tt.timeout })
			ctx := context.Background()
			if tt.ctxWait > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctxWait)
				defer cancel()
			}
			start := time.Now()
			got := st.Send(ctx, []Message{vietnamese("stall@example.com")})[0]
			if elapsed := time.Since(start); elapsed > 3*time.Second {
				t.Errorf("stalled send took %v, want it cut off", elapsed)
			}
			if got.Status != Temporary {
				t.Errorf("status = %v (%v), want Temporary", got.Status, got.Err)
			}
		})
	}
}

func TestSMTPUnreachable(t *testing.T) {
	ts := newTestServer(t)
	st := newSMTP(t, ts, func(o *SMTPOptions) { o.Port = 1; o.Connections = 2 })
	results := st.Send(context.Background(), []Message{vietnamese("a@example.com"), vietnamese("b@example.com"), vietnamese("c@example.com")})
	for i, r := range results {
		if r.Status != Temporary || r.Err == nil {
			t.Errorf("message %d: %v (%v), want Temporary with an error", i, r.Status, r.Err)
		}
	}
}

func TestSMTPClosed(t *testing.T) {
	ts := newTestServer(t)
	st := newSMTP(t, ts, nil)
	if r := st.Send(context.Background(), []Message{vietnamese("a@example.com")}); r[0].Status != Sent {
		t.Fatalf("send: %+v", r[0])
	}
	if err := st.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if r := st.Send(context.Background(), []Message{vietnamese("a@example.com")}); r[0].Status != Temporary {
		t.Errorf("send after Close: %+v, want Temporary", r[0])
	}
}

func TestNewSMTPTransportOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    SMTPOptions
		wantErr string
	}{
		{"defaults", SMTPOptions{Host: "localhost"}, ""},
		{"no host", SMTPOptions{}, "mail.smtp.host"},
		{"bad tls", SMTPOptions{Host: "h", TLS: "ssl"}, "mail.smtp.tls"},
		{"bad port", SMTPOptions{Host: "h", Port: 70000}, "mail.smtp.port"},
		{"negative rate", SMTPOptions{Host: "h", Rate: -1}, "mail.smtp.rate"},
		{"negative connections", SMTPOptions{Host: "h", Connections: -1}, "mail.smtp.connections"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := NewSMTPTransport(tt.opts)
			if st != nil {
				defer st.Close()
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tt.wantErr) || (tt.wantErr == "") != (err == nil) {
				t.Errorf("error = %q, want one containing %q", got, tt.wantErr)
			}
		})
	}
}

func TestSMTPTLS(t *testing.T) {
	serverCfg, clientCfg := testCert(t)
	tests := []struct {
		name       string
		serverMode string
		clientMode string
		want       Status
		wantTLS    bool
	}{
		{"starttls", "starttls", "starttls", Sent, true},
		{"implicit tls", "tls", "tls", Sent, true},
		{"starttls required but not offered", "none", "starttls", Temporary, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startTestServer(t, tt.serverMode, serverCfg)
			st := newSMTP(t, ts, func(o *SMTPOptions) { o.TLS = tt.clientMode; o.TLSConfig = clientCfg })
			got := st.Send(context.Background(), []Message{vietnamese("a@example.com")})[0]
			if got.Status != tt.want {
				t.Fatalf("status = %v (%v), want %v", got.Status, got.Err, tt.want)
			}
			received := ts.messages()
			if tt.want == Sent && (len(received) != 1 || received[0].tls != tt.wantTLS) {
				t.Errorf("received %d messages, want 1 over TLS", len(received))
			}
			if tt.want != Sent && len(received) != 0 {
				t.Errorf("received %d messages in clear, want none", len(received))
			}
		})
	}
}

func TestSMTPAuth(t *testing.T) {
	serverCfg, clientCfg := testCert(t)
	tests := []struct {
		name, password string
		want           Status
	}{
		{"right password", "secret", Sent},
		// A relay refusing our login is not the subscriber's bounce.
		{"wrong password", "wrong", Temporary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := startTestServer(t, "starttls", serverCfg)
			st := newSMTP(t, ts, func(o *SMTPOptions) {
				o.TLS, o.TLSConfig = "starttls", clientCfg
				o.Username, o.Password = "bantin", tt.password
			})
			got := st.Send(context.Background(), []Message{vietnamese("a@example.com")})[0]
			if got.Status != tt.want {
				t.Errorf("status = %v (%v), want %v", got.Status, got.Err, tt.want)
			}
		})
	}
}
