package digest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/mail/smtptest"
	"github.com/bantin/bantin/internal/store"
)

// TestDeliveryWaitsForRelayThatCannotBeReached: an issue sent to a relay
// that accepts and never greets, or refuses, ends after a few tries of the
// relay shared by every connection (a few dials, not one per batch or per
// copy) with every copy still queued and no bounce counted; when a relay
// that talks comes up on that address, the next run delivers every copy,
// once.
func TestDeliveryWaitsForRelayThatCannotBeReached(t *testing.T) {
	tests := []struct {
		name  string
		relay func(t *testing.T) (addr string, dials func() int, stop func())
	}{
		{"silent", func(t *testing.T) (string, func() int, func()) {
			s := smtptest.StartSilent(t)
			return s.Addr, s.Dials, s.Close
		}},
		{"refused", func(t *testing.T) (string, func() int, func()) {
			return smtptest.ClosedPort(t), nil, func() {}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			addr, dials, stop := tt.relay(t)
			_, portText, _ := net.SplitHostPort(addr)
			port, _ := strconv.Atoi(portText)
			transport, err := mail.NewSMTPTransport(mail.SMTPOptions{Host: "127.0.0.1", Port: port, TLS: "none", Connections: 4,
				GreetingTimeout: 300 * time.Millisecond, CommandTimeout: 300 * time.Millisecond, DataTimeout: 300 * time.Millisecond,
				RelayTries: 3, RelayBackoff: 100 * time.Millisecond, RelayPauseMax: 400 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { transport.Close() })
			now := time.Date(2024, 3, 28, 6, 0, 0, 0, time.UTC)
			f := newFixture(t, now, transport, newsletter(t, "sang", "0 6 * * *", "UTC"))
			f.article(t, "a1", "", now.Add(-time.Hour), now.Add(-time.Hour))
			var emails []string
			for i := range 200 {
				emails = append(emails, fmt.Sprintf("doc-gia-%03d@example.vn", i))
			}
			f.subscribe(t, "sang", emails...)
			made, err := f.svc.SendNow(ctx, "sang")
			if err != nil {
				t.Fatal(err)
			}

			start := time.Now()
			r, err := f.svc.DeliverDue(ctx, nil)
			elapsed := time.Since(start)
			var relay *mail.RelayError
			if !errors.As(err, &relay) || relay.Relay != addr || !relay.GaveUp {
				t.Fatalf("DeliverDue = %+v, %v; want a RelayError naming %s", r, err, addr)
			}
			if r.Sent != 0 || r.Failed != 0 {
				t.Errorf("report %+v: want nothing sent and nothing failed", r)
			}
			counts, err := f.store.DeliveryCounts(ctx, made.Issue.ID)
			if err != nil {
				t.Fatal(err)
			}
			if counts[store.DeliveryQueued] != 200 || counts[store.DeliveryFailed] != 0 {
				t.Errorf("deliveries %v; want all 200 queued, none failed", counts)
			}
			// Three tries of the relay are about 1.2 s, whatever the
			// number of copies.
			if elapsed > 3*time.Second {
				t.Errorf("the run took %v; want the relay given up on after 3 tries (~1.2 s)", elapsed)
			}
			if dials != nil {
				// 20 batches of 10: one dial per batch is the old way.
				if d := dials(); d > 6 {
					t.Errorf("the relay saw %d dials; want 4 together and a probe per later try, not one per batch", d)
				}
			}
			// While the relay is given up on, a run claims nothing.
			if r, err := f.svc.DeliverDue(ctx, nil); !errors.As(err, new(*mail.RelayError)) || r != (Report{}) {
				t.Errorf("a second run: %+v, %v; want nothing done and the RelayError", r, err)
			}

			stop()
			srv := smtptest.Start(t, smtptest.Options{Addr: addr})
			deadline := time.Now().Add(10 * time.Second)
			for {
				if sending, _ := f.store.SendingIssues(ctx); len(sending) == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the issue is still being sent 10 s after the relay came back")
				}
				_, err := f.svc.DeliverDue(ctx, nil)
				if errors.As(err, &relay) {
					time.Sleep(time.Until(relay.Until))
				} else if err != nil {
					t.Fatal(err)
				}
			}
			got := srv.Counts()
			for _, e := range emails {
				if got[e] != 1 {
					t.Errorf("%s got %d copies, want 1", e, got[e])
				}
			}
			for _, e := range []string{emails[0], emails[199]} {
				sub, err := f.store.SubscriberByEmail(ctx, e)
				if err != nil {
					t.Fatal(err)
				}
				if sub.Bounces != 0 || sub.Bounced {
					t.Errorf("%s: %d bounces (bounced %v); a relay down is no bounce", e, sub.Bounces, sub.Bounced)
				}
			}
		})
	}
}
