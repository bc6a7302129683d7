package mail

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestSMTPBeforeEnd: a message's BeforeEnd is called once, after its data
// and before the relay has it; when it fails, the relay never gets the end
// of data (so it does not take the message), the result is Temporary with
// that error, and the next message goes out on a new session.
func TestSMTPBeforeEnd(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		name := map[bool]string{true: "pipelining", false: "no pipelining"}[pipelining]
		t.Run(name, func(t *testing.T) {
			r, st := startLineRelayTransport(t, pipelining)
			taken := func() int {
				r.mu.Lock()
				defer r.mu.Unlock()
				return len(r.data)
			}
			ctx := context.Background()

			calls := 0
			a := vietnamese("a@example.com")
			a.BeforeEnd = func() error {
				calls++
				if n := taken(); n != 0 {
					t.Errorf("BeforeEnd called with %d messages taken by the relay; want it before the end of data", n)
				}
				return nil
			}
			if res := st.Send(ctx, []Message{a})[0]; res.Status != Sent || calls != 1 {
				t.Fatalf("a: %+v, BeforeEnd called %d times; want Sent, once", res, calls)
			}

			hold := errors.New("the mark before failed")
			b := vietnamese("b@example.com")
			b.BeforeEnd = func() error { return hold }
			res := st.Send(ctx, []Message{b})[0]
			if res.Status != Temporary || !errors.Is(res.Err, hold) || res.Code != 0 || res.Rejected {
				t.Errorf("b: %+v; want Temporary with BeforeEnd's error", res)
			}

			if res := st.Send(ctx, []Message{vietnamese("c@example.com")})[0]; res.Status != Sent {
				t.Fatalf("c: %+v; want Sent on a new session", res)
			}
			r.mu.Lock()
			defer r.mu.Unlock()
			if len(r.data) != 2 || !strings.Contains(r.data[0], "a@example.com") || !strings.Contains(r.data[1], "c@example.com") {
				t.Errorf("relay took %d messages; want a's and c's, not b's", len(r.data))
			}
		})
	}
}
