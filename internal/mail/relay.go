package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// A relay that cannot be reached (refused, no greeting, a TLS handshake
// that fails, a command or the end of DATA that times out) is one failure
// of the relay, not of each message: every connection of the transport
// shares one circuit, which pauses all of them together, lets one probe
// through when the pause ends, and after a few failures in a row answers
// at once with a *RelayError until its next probe is due. A relay that
// talks keeps its say per message: 4xx is Temporary, 5xx Permanent.

// RelayError is a relay that could not be reached or stopped answering. A
// message that carries one was not refused: it is Temporary, and no fault
// of its recipient.
type RelayError struct {
	Relay string    // host:port
	Tries int       // failures in a row
	Until time.Time // when the transport tries the relay again
	Err   error     // the last failure
	// GaveUp: the transport has given up on the relay for now, and
	// answers every message at once with this error until Until. Without
	// it the relay is paused, and the next message waits for it.
	GaveUp bool
}

func (e *RelayError) Error() string {
	return fmt.Sprintf("relay %s cannot be reached (%d tries): %v", e.Relay, e.Tries, e.Err)
}

func (e *RelayError) Unwrap() error { return e.Err }

// circuit is the state of the relay, shared by every connection.
type circuit struct {
	relay string
	tries int // failures in a row after which a caller gets a RelayError at once
	base  time.Duration
	limit time.Duration

	mu       sync.Mutex
	failures int       // failures in a row
	gen      int       // moves at each counted failure and at a recovery
	until    time.Time // no dial before this
	probing  bool      // one dial is testing the relay; the others wait for it
	changed  chan struct{}
	last     error
}

func newCircuit(relay string, tries int, base, limit time.Duration) *circuit {
	return &circuit{relay: relay, tries: tries, base: base, limit: limit, changed: make(chan struct{})}
}

// ticket is a caller's leave to open a session: the generation it began
// in (failures of sessions begun in one generation count once: four
// connections timing out together are one failure of the relay) and
// whether it is the one probe.
type ticket struct {
	gen   int
	probe bool
}

// acquire waits until a session may be opened. While the relay is paused
// after fewer than tries failures it waits for the pause to end; after
// tries failures it returns a *RelayError at once until the pause ends.
// When a pause ends, one caller probes and the others wait for its outcome.
func (c *circuit) acquire(ctx context.Context) (ticket, error) {
	for {
		c.mu.Lock()
		if c.failures == 0 {
			t := ticket{gen: c.gen}
			c.mu.Unlock()
			return t, nil
		}
		wait := c.changed
		var timer <-chan time.Time
		stop := func() bool { return false }
		now := time.Now()
		switch {
		case c.probing:
		case now.Before(c.until):
			if c.failures >= c.tries {
				err := c.errLocked()
				c.mu.Unlock()
				return ticket{}, err
			}
			tm := time.NewTimer(c.until.Sub(now))
			stop = tm.Stop
			timer = tm.C
		default:
			c.probing = true
			t := ticket{gen: c.gen, probe: true}
			c.mu.Unlock()
			return t, nil
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			stop()
			return ticket{}, ctx.Err()
		case <-wait:
		case <-timer:
		}
		stop()
	}
}

// settled answers without waiting when it can: nil while the relay is
// up, a *RelayError while it is given up on and paused. ok is false when
// a caller would have to wait (a pause before the last try, a probe in
// flight) or probe.
func (c *circuit) settled() (err error, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.failures == 0:
		return nil, true
	case c.failures >= c.tries && !c.probing && time.Now().Before(c.until):
		return c.errLocked(), true
	}
	return nil, false
}

// errLocked is the circuit's state as an error.
func (c *circuit) errLocked() *RelayError {
	return &RelayError{Relay: c.relay, Tries: c.failures, Until: c.until, Err: c.last, GaveUp: c.failures >= c.tries}
}

// opened reports a session opened on t: a probe that got through lets the
// next caller probe; the relay counts as back only once a message goes.
func (c *circuit) opened(t ticket) {
	if !t.probe {
		return
	}
	c.mu.Lock()
	c.probing = false
	c.signalLocked()
	c.mu.Unlock()
}

// abandon ends t without an outcome (the caller's context ended).
func (c *circuit) abandon(t ticket) { c.opened(t) }

// failed counts a failure of the relay on t and returns the circuit's
// state as an error.
func (c *circuit) failed(t ticket, err error) *RelayError {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.probe {
		c.probing = false
	}
	if t.gen == c.gen {
		c.failures++
		c.gen++
		c.last = err
		c.until = time.Now().Add(Backoff(c.base, c.limit, c.failures))
	}
	c.signalLocked()
	return c.errLocked()
}

// succeeded reports a message the relay answered: the relay is back.
func (c *circuit) succeeded() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failures == 0 {
		return
	}
	c.failures, c.last, c.until = 0, nil, time.Time{}
	c.gen++
	c.signalLocked()
}

// generation is the ticket of a transaction on an open session.
func (c *circuit) generation() ticket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ticket{gen: c.gen}
}

func (c *circuit) signalLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// timedOut reports a deadline that passed: the relay stopped answering.
func timedOut(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// dataTimeout bounds the message bytes and the relay's answer to their
// end: base for a small message, a minute more per MiB, at most five
// times base (RFC 5321 4.5.3.2 gives the end of data 10 minutes).
func dataTimeout(base time.Duration, size int) time.Duration {
	return min(base+time.Duration(size>>20)*time.Minute, 5*base)
}
