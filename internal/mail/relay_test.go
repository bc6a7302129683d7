package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/mail/smtptest"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
)

// relayTransport is a transport to addr with timeouts and pauses short
// enough for a test: three tries cost about 0.3 + 0.1 + 0.3 + 0.2 + 0.3 s.
func relayTransport(t *testing.T, addr string, connections int) *SMTPTransport {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	st, err := NewSMTPTransport(SMTPOptions{
		Host: host, Port: p, TLS: "none", Connections: connections, HELO: "client.test", Location: time.UTC,
		GreetingTimeout: 300 * time.Millisecond, CommandTimeout: 300 * time.Millisecond, DataTimeout: 300 * time.Millisecond,
		RelayTries: 3, RelayBackoff: 100 * time.Millisecond, RelayPauseMax: 400 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func messagesTo(n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = vietnamese(fmt.Sprintf("doc-gia-%02d@example.vn", i))
		msgs[i].MessageID = fmt.Sprintf("copy-%02d@example.vn", i)
	}
	return msgs
}

// wantRelayDown checks that every result is Temporary for the relay at
// addr, given up on: no failure, no bounce, no SMTP code.
func wantRelayDown(t *testing.T, results []Result, addr string) *RelayError {
	t.Helper()
	var last *RelayError
	for i, r := range results {
		var re *RelayError
		if r.Status != Temporary || r.Code != 0 || r.Rejected || !errors.As(r.Err, &re) || !re.GaveUp || re.Relay != addr {
			t.Fatalf("message %d: %v code %d rejected %v (%v); want Temporary with a RelayError for %s, given up",
				i, r.Status, r.Code, r.Rejected, r.Err, addr)
		}
		last = re
	}
	return last
}

// TestSilentRelayPausesEveryConnectionTogether: a relay that accepts and
// never greets costs one Send a few tries for all of its connections
// together, not a greeting timeout for each message, and the next Send is
// answered at once without a dial.
func TestSilentRelayPausesEveryConnectionTogether(t *testing.T) {
	silent := smtptest.StartSilent(t)
	st := relayTransport(t, silent.Addr, 4)
	start := time.Now()
	results := st.Send(context.Background(), messagesTo(40))
	elapsed := time.Since(start)
	wantRelayDown(t, results, silent.Addr)
	// One greeting timeout per message over 4 connections would be 3 s;
	// three tries of the relay are about 1.2 s.
	if elapsed > 2500*time.Millisecond {
		t.Errorf("40 messages to a silent relay took %v; want the relay given up on after 3 tries (~1.2 s)", elapsed)
	}
	// The 4 connections dial together once, then one probe per try.
	if d := silent.Dials(); d < 3 || d > 6 {
		t.Errorf("the relay saw %d dials; want 4 together, then a probe for each of the 2 other tries", d)
	}
	dials := silent.Dials()
	start = time.Now()
	wantRelayDown(t, st.Send(context.Background(), messagesTo(10)), silent.Addr)
	if elapsed := time.Since(start); elapsed > 100*time.Millisecond || silent.Dials() != dials {
		t.Errorf("a Send to a relay given up on took %v and %d dials; want an answer at once, no dial", elapsed, silent.Dials()-dials)
	}
	if err := st.Reachable(context.Background()); !errors.As(err, new(*RelayError)) {
		t.Errorf("Reachable = %v, want a RelayError", err)
	}
}

// TestRefusedRelayGivesUpAfterFewTries: a port that refuses connections is
// the same failure of the relay, found out at once.
func TestRefusedRelayGivesUpAfterFewTries(t *testing.T) {
	addr := smtptest.ClosedPort(t)
	st := relayTransport(t, addr, 4)
	start := time.Now()
	wantRelayDown(t, st.Send(context.Background(), messagesTo(40)), addr)
	if elapsed := time.Since(start); elapsed > 1500*time.Millisecond {
		t.Errorf("40 messages to a refusing relay took %v; want about the 0.3 s of its pauses", elapsed)
	}
}

// TestStalledRelayIsOneFailure: a relay that greets and then stops
// answering (here at the end of DATA) is a failure of the relay: the
// messages after it wait for the circuit and are given up on together,
// not each after its own timeout.
func TestStalledRelayIsOneFailure(t *testing.T) {
	ts := newTestServer(t)
	st := relayTransport(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(ts.port)), 1)
	msgs := make([]Message, 20)
	for i := range msgs {
		msgs[i] = vietnamese(fmt.Sprintf("stall-%02d@example.com", i))
	}
	start := time.Now()
	results := st.Send(context.Background(), msgs)
	elapsed := time.Since(start)
	for i, r := range results {
		if r.Status != Temporary || !errors.As(r.Err, new(*RelayError)) {
			t.Errorf("message %d: %v (%v); want Temporary with a RelayError", i, r.Status, r.Err)
		}
	}
	// 20 data timeouts would be 6 s; three are about 1.2 s.
	if elapsed > 3*time.Second {
		t.Errorf("20 messages to a stalled relay took %v; want it given up on after 3 tries", elapsed)
	}
}

// TestRelayComesBack: after the circuit gave up on a silent relay, a
// relay that talks on the same address is found by Reachable once the
// pause ends, and every message goes, once.
func TestRelayComesBack(t *testing.T) {
	silent := smtptest.StartSilent(t)
	st := relayTransport(t, silent.Addr, 4)
	re := wantRelayDown(t, st.Send(context.Background(), messagesTo(8)), silent.Addr)
	silent.Close()
	srv := smtptest.Start(t, smtptest.Options{Addr: silent.Addr})
	time.Sleep(time.Until(re.Until))
	deadline := time.Now().Add(3 * time.Second)
	for {
		err := st.Reachable(context.Background())
		if err == nil {
			break
		}
		var again *RelayError
		if !errors.As(err, &again) || time.Now().After(deadline) {
			t.Fatalf("Reachable = %v after the relay came back", err)
		}
		time.Sleep(time.Until(again.Until))
	}
	for i, r := range st.Send(context.Background(), messagesTo(8)) {
		if r.Status != Sent {
			t.Errorf("message %d: %v (%v), want Sent", i, r.Status, r.Err)
		}
	}
	for i := range 8 {
		if n := srv.Counts()[fmt.Sprintf("doc-gia-%02d@example.vn", i)]; n != 1 {
			t.Errorf("doc-gia-%02d got %d copies, want 1", i, n)
		}
	}
}

// TestOutboxKeepsMailQueuedWhileRelayDown: confirmation emails to a relay
// that cannot be reached stay queued however many tries it takes (none
// given up, none reported as a bounce), nothing more is claimed while the
// relay is down, and Run sends them by itself when it comes back.
func TestOutboxKeepsMailQueuedWhileRelayDown(t *testing.T) {
	ctx := context.Background()
	st := sqlitetest.Open(t)
	silent := smtptest.StartSilent(t)
	tr := relayTransport(t, silent.Addr, 2)
	var mu sync.Mutex
	var bounced []int64
	o := NewOutbox(OutboxOptions{Store: st, Transport: tr, MaxAttempts: 1, RetryBase: time.Millisecond, Poll: 50 * time.Millisecond,
		OnPermanent: func(_ context.Context, id int64, _ int) {
			mu.Lock()
			bounced = append(bounced, id)
			mu.Unlock()
		}})
	ids := map[string]string{}
	for i := range 6 {
		to := fmt.Sprintf("moi-%d@example.vn", i)
		sub, err := st.SaveSubscriber(ctx, store.Subscriber{Email: to}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		m := vietnamese(to)
		m.MessageID = ""
		if ids[to], err = o.Enqueue(ctx, "confirm", sub.ID, m); err != nil {
			t.Fatal(err)
		}
	}
	for round := range 3 {
		_, err := o.SendDue(ctx)
		var re *RelayError
		if !errors.As(err, &re) {
			t.Fatalf("round %d: SendDue = %v, want a RelayError", round, err)
		}
		time.Sleep(time.Until(re.Until))
	}
	for to, id := range ids {
		m, err := st.OutboxMail(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.Status != store.MailQueued || m.Attempts > 1 {
			t.Errorf("%s: %s after %d attempts (%s); want queued, claimed once", to, m.Status, m.Attempts, m.LastError)
		}
	}

	silent.Close()
	srv := smtptest.Start(t, smtptest.Options{Addr: silent.Addr})
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); o.Run(runCtx) }()
	deadline := time.Now().Add(5 * time.Second)
	for len(srv.Counts()) < len(ids) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	for to, id := range ids {
		if n := srv.Counts()[to]; n != 1 {
			t.Errorf("%s got %d copies once the relay came back, want 1", to, n)
		}
		if m, _ := st.OutboxMail(ctx, id); m.Status != store.MailSent {
			t.Errorf("%s: %s, want sent", to, m.Status)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bounced) != 0 {
		t.Errorf("bounces reported for %v; a relay down is nobody's bounce", bounced)
	}
}

// TestReachableBesideSends: callers that ask Reachable while Sends hold
// every connection (the outbox beside the digest's workers in serve) are
// answered when the relay is given up on, not left waiting for a
// connection that a Send holds while it waits for their probe.
func TestReachableBesideSends(t *testing.T) {
	silent := smtptest.StartSilent(t)
	st := relayTransport(t, silent.Addr, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { st.Send(context.Background(), messagesTo(5)) })
	}
	for range 3 {
		wg.Go(func() {
			// Asked all along, so that some ask during the pauses
			// and race the Sends to probe.
			for st.Reachable(context.Background()) == nil {
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Sends and Reachable calls beside them still wait 10 s on a relay given up on after ~1.2 s")
	}
}
