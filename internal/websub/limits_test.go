package websub

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// listenLoopback listens on ip, one of 127.0.0.0/8, to stand for a host
// of its own. Linux answers on all of them; a system that has only
// 127.0.0.1 skips the test, or fails it under BANTIN_TEST_ALL=1.
func listenLoopback(t *testing.T, ip string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		if os.Getenv("BANTIN_TEST_ALL") == "1" {
			t.Fatalf("listen on %s: %v", ip, err)
		}
		t.Skipf("listen on %s: %v (this system has no loopback address but 127.0.0.1)", ip, err)
	}
	return ln
}

// stalledSubscriber listens on ip (any of 127.0.0.0/8 is this machine, so
// each can be a host of its own), confirms its intent at once, and holds
// every delivery until release is closed. It counts the deliveries that
// reached it.
func stalledSubscriber(t *testing.T, ip string, arrived *atomic.Int64, release <-chan struct{}) string {
	t.Helper()
	ln := listenLoopback(t, ip)
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			io.WriteString(w, r.URL.Query().Get("hub.challenge"))
			return
		}
		arrived.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/cb"
}

func TestSixtyFourStalledCallbacksDoNotDelayAFreshSubscriber(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{allowPrivate: true})
	topic := base + "/feeds/thoi-su/atom.xml"
	var arrived atomic.Int64
	release := make(chan struct{})
	// 64 subscribers, each on a host of its own so that no per-host bound
	// shelters the others, hold every delivery.
	for i := range 64 {
		cb := stalledSubscriber(t, fmt.Sprintf("127.0.0.%d", 2+i), &arrived, release)
		if resp := f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {cb}}); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("subscribe stalled callback %d: %d", i, resp.StatusCode)
		}
	}
	t.Cleanup(func() { close(release) }) // before the servers close
	eventually(t, "64 subscriptions verified", func() bool { return len(f.subscriptions(t)) == 64 })
	f.publish(t, "a1", "Tin cho người chậm")
	eventually(t, "64 deliveries stalled", func() bool { return arrived.Load() == 64 })

	// While they hang, a fresh subscriber is verified and gets the next
	// version within seconds.
	start := time.Now()
	good := newSubscriber(t)
	resp := f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {good.srv.URL}})
	if resp.StatusCode != http.StatusAccepted {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("fresh subscribe while 64 callbacks stall: %d %s, want 202", resp.StatusCode, body)
	}
	eventually(t, "the fresh subscriber verified", func() bool { return len(f.subscriptions(t)) == 65 })
	verified := time.Since(start)
	f.publish(t, "a2", "Tin cho người nhanh")
	eventually(t, "the fresh subscriber's delivery", func() bool { _, n := good.count(); return n == 1 })
	delivered := time.Since(start)
	good.mu.Lock()
	body := good.deliveries[0].body
	good.mu.Unlock()
	if !strings.Contains(body, "Tin cho người nhanh") {
		t.Errorf("delivery without the new article: %.200s", body)
	}
	if n := arrived.Load(); n != 64 {
		t.Errorf("%d deliveries reached the stalled callbacks; want 64 (one in flight per subscription)", n)
	}
	t.Logf("with 64 callbacks stalled: verified after %v, delivered after %v", verified, delivered)

	// Closing the hub cuts the stalled calls instead of waiting for them.
	start = time.Now()
	closing, stop := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer stop()
	f.hub.Close(closing)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with 64 callbacks stalled; want it cut after its 200 ms", d)
	}
}

func TestSubscriptionsPerHostCappedAtLimitsWebSubPerHost(t *testing.T) {
	const limit = 3 // limits.websub_per_host
	f := newFixtureWith(t, fixtureOptions{allowPrivate: true, perHost: limit})
	sub := newSubscriber(t) // on 127.0.0.1
	topic := base + "/feeds/rss.xml"
	subscribe := func(callback string) (int, string) {
		t.Helper()
		resp := f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {callback}})
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	// Requests waiting for their verification count: three at once fill
	// the host before any is stored.
	for i := range limit {
		if code, body := subscribe(sub.srv.URL + "/cb" + strconv.Itoa(i)); code != http.StatusAccepted {
			t.Fatalf("subscription %d of %d: %d %s", i+1, limit, code, body)
		}
	}
	code, body := subscribe(sub.srv.URL + "/cb-more")
	if code != http.StatusForbidden || !strings.Contains(body, "limits.websub_per_host") || !strings.Contains(body, "127.0.0.1") {
		t.Errorf("subscription %d for one host: %d %q; want 403 naming the host and limits.websub_per_host", limit+1, code, body)
	}
	eventually(t, "the subscriptions within the limit", func() bool { return len(f.subscriptions(t)) == limit })
	f.hub.Wait()
	if subs := f.subscriptions(t); len(subs) != limit {
		t.Errorf("%d subscriptions stored for one host; want %d", len(subs), limit)
	}
	// Another port on the same host shares its allowance.
	other := newSubscriber(t)
	if code, _ := subscribe(other.srv.URL + "/cb"); code != http.StatusForbidden {
		t.Errorf("another port of the full host: %d, want 403", code)
	}
	// Renewing a subscription always fits.
	if code, body := subscribe(sub.srv.URL + "/cb0"); code != http.StatusAccepted {
		t.Errorf("renewal on a full host: %d %s, want 202", code, body)
	}
	// Another host has its own allowance.
	var arrived atomic.Int64
	release := make(chan struct{})
	elsewhere := stalledSubscriber(t, "127.0.0.2", &arrived, release)
	t.Cleanup(func() { close(release) })
	if code, body := subscribe(elsewhere); code != http.StatusAccepted {
		t.Errorf("another host: %d %s, want 202", code, body)
	}
	eventually(t, "the other host's subscription", func() bool { return len(f.subscriptions(t)) == limit+1 })
	// An unsubscription frees a place.
	if resp := f.post(t, url.Values{"hub.mode": {"unsubscribe"}, "hub.topic": {topic}, "hub.callback": {sub.srv.URL + "/cb1"}}); resp.StatusCode != http.StatusAccepted {
		t.Fatalf("unsubscribe: %d", resp.StatusCode)
	}
	eventually(t, "the unsubscription", func() bool { return len(f.subscriptions(t)) == limit })
	f.hub.Wait()
	if code, body := subscribe(sub.srv.URL + "/cb-more"); code != http.StatusAccepted {
		t.Errorf("after an unsubscription: %d %s, want 202", code, body)
	}
}

func TestNoSubscribersNoFeedRenders(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{allowPrivate: true})
	// distributed publishes and waits for the distributions that follow;
	// it says how many there were and how many feed documents the hub
	// asked for meanwhile (after a change, each is a render).
	distributed := func(id, title string) (distributions, gets int64) {
		t.Helper()
		g, reads := f.gets.n.Load(), f.reads.n.Load()
		f.publish(t, id, title)
		eventually(t, "a distribution", func() bool { return f.reads.n.Load() > reads })
		time.Sleep(300 * time.Millisecond) // the store's echo of the change may bring another
		return f.reads.n.Load() - reads, f.gets.n.Load() - g
	}
	if d, n := distributed("a1", "Tin không ai theo dõi"); n != 0 {
		t.Errorf("%d feed documents rendered in %d distributions with no subscriber; want 0", n, d)
	}

	// Two subscribers of one feed: that feed is rendered once a change.
	topic := base + "/feeds/thoi-su/atom.xml"
	subs := []*subscriber{newSubscriber(t), newSubscriber(t)}
	for _, s := range subs {
		if resp := f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {s.srv.URL}}); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("subscribe: %d", resp.StatusCode)
		}
	}
	eventually(t, "two subscriptions", func() bool { return len(f.subscriptions(t)) == 2 })
	f.hub.Wait()
	// (The last distribution may have read the subscriptions but not
	// yet the feed.)
	if d, n := distributed("a2", "Tin có người theo dõi"); n < 1 || n > d {
		t.Errorf("%d feed documents rendered in %d distributions with one feed subscribed; want one each", n, d)
	}
	for i, s := range subs {
		eventually(t, fmt.Sprintf("subscriber %d's delivery", i), func() bool { _, n := s.count(); return n == 1 })
	}
}

func TestLeaseSecondsClampedToMaxLease(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{allowPrivate: true})
	sub := newSubscriber(t)
	topic := base + "/feeds/rss.xml"
	for i, tc := range []struct {
		asked string
		want  time.Duration
	}{
		{"9223372036854775807", MaxLease},
		{"99999999999999999999", MaxLease},
		{"2592001", MaxLease},
		{"7200", 2 * time.Hour},
		{"60", MinLease},
		{"0", DefaultLease},
		{"-5", DefaultLease},
		{"-9223372036854775809", DefaultLease},
		{"mai", DefaultLease},
		{"", DefaultLease},
	} {
		callback := sub.srv.URL + "/cb" + strconv.Itoa(i)
		start := time.Now()
		if resp := f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {callback}, "hub.lease_seconds": {tc.asked}}); resp.StatusCode != http.StatusAccepted {
			t.Errorf("hub.lease_seconds=%q: %d, want 202", tc.asked, resp.StatusCode)
			continue
		}
		f.hub.Wait()
		sub.mu.Lock()
		q := sub.verified[len(sub.verified)-1]
		sub.mu.Unlock()
		if got := q.Get("hub.lease_seconds"); got != strconv.Itoa(int(tc.want/time.Second)) {
			t.Errorf("hub.lease_seconds=%q: verification grants %s s, want %d", tc.asked, got, int(tc.want/time.Second))
		}
		found := false
		for _, s := range f.subscriptions(t) {
			if s.Callback != callback {
				continue
			}
			found = true
			if got := s.ExpiresAt.Sub(start); got < tc.want-time.Minute || got > tc.want+time.Minute {
				t.Errorf("hub.lease_seconds=%q: stored lease %v, want %v", tc.asked, got, tc.want)
			}
		}
		if !found {
			t.Errorf("hub.lease_seconds=%q: no subscription stored", tc.asked)
		}
	}
}

func TestVerificationQueueFullGets503WithRetryAfter(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{allowPrivate: true, perHost: 2 * verifyQueue})
	topic := base + "/feeds/rss.xml"
	release := make(chan struct{})
	var asked atomic.Int64
	ln := listenLoopback(t, "127.0.0.2")
	// A host that never answers a verification.
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	subscribe := func(callback string) *http.Response {
		return f.post(t, url.Values{"hub.mode": {"subscribe"}, "hub.topic": {topic}, "hub.callback": {callback}})
	}
	// Two in flight to the host, the rest queued: the queue fills.
	for i := range hostInFlight + verifyQueue {
		if resp := subscribe(fmt.Sprintf("%s/cb%d", srv.URL, i)); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d of %d: %d", i+1, hostInFlight+verifyQueue, resp.StatusCode)
		}
		if i < hostInFlight {
			eventually(t, "a verification in flight", func() bool { return asked.Load() == int64(i+1) })
		}
	}
	resp := subscribe(srv.URL + "/one-more")
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "waiting for verification") {
		t.Errorf("with the verification queue full: %d, Retry-After %q, %q; want 503 with Retry-After saying why", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// A request the queue already holds is replaced, not refused.
	if resp := subscribe(srv.URL + "/cb5"); resp.StatusCode != http.StatusAccepted {
		t.Errorf("the same request again with the queue full: %d, want 202", resp.StatusCode)
	}
}

// TestQueuedSubscribeReplacedByUnsubscribeFreesLimitsWebSubPerHost: an
// unsubscription that replaces a subscription still queued for its
// verification gives back the place the subscription held.
func TestQueuedSubscribeReplacedByUnsubscribeFreesLimitsWebSubPerHost(t *testing.T) {
	const limit = 3 // limits.websub_per_host
	f := newFixtureWith(t, fixtureOptions{allowPrivate: true, perHost: limit})
	topic := base + "/feeds/rss.xml"
	gate := make(chan struct{})
	var asked atomic.Int64
	ln := listenLoopback(t, "127.0.0.2")
	// Confirms every intent, once the gate opens.
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, r.URL.Query().Get("hub.challenge"))
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	opened := false
	t.Cleanup(func() {
		if !opened {
			close(gate)
		}
	})
	send := func(mode, callback string) int {
		return f.post(t, url.Values{"hub.mode": {mode}, "hub.topic": {topic}, "hub.callback": {callback}}).StatusCode
	}
	for i := range hostInFlight {
		if code := send("subscribe", fmt.Sprintf("%s/cb%d", srv.URL, i)); code != http.StatusAccepted {
			t.Fatalf("subscribe cb%d: %d", i, code)
		}
		eventually(t, "a verification in flight", func() bool { return asked.Load() == int64(i+1) })
	}
	if code := send("subscribe", srv.URL+"/queued"); code != http.StatusAccepted {
		t.Fatalf("subscribe, queued: %d", code)
	}
	if code := send("subscribe", srv.URL+"/full"); code != http.StatusForbidden {
		t.Fatalf("subscription %d while %d wait: %d, want 403", limit+1, limit, code)
	}
	if code := send("unsubscribe", srv.URL+"/queued"); code != http.StatusAccepted {
		t.Fatalf("unsubscribe the queued one: %d", code)
	}
	close(gate)
	opened = true
	f.hub.Wait()
	if n := len(f.subscriptions(t)); n != hostInFlight {
		t.Fatalf("%d subscriptions stored; want %d", n, hostInFlight)
	}
	if code := send("subscribe", srv.URL+"/after"); code != http.StatusAccepted {
		t.Errorf("with %d of %d stored and none waiting: %d, want 202", hostInFlight, limit, code)
	}
}

// TestSubscribeFloodReadsStoreOnceLimitsWebSubPerHost: checking requests
// against limits.websub_per_host costs a read of the subscriptions every
// few seconds, not one a request.
func TestSubscribeFloodReadsStoreOnceLimitsWebSubPerHost(t *testing.T) {
	f := newFixtureWith(t, fixtureOptions{allowPrivate: true, perHost: 1000})
	sub := newSubscriber(t)
	sub.mu.Lock()
	sub.confirm = false // verified and refused: nothing is stored
	sub.mu.Unlock()
	reads := f.reads.n.Load()
	for i := range 200 {
		form := url.Values{"hub.mode": {"subscribe"}, "hub.topic": {base + "/feeds/rss.xml"}, "hub.callback": {sub.srv.URL + "/cb" + strconv.Itoa(i)}}
		if resp := f.post(t, form); resp.StatusCode != http.StatusAccepted {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
	}
	f.hub.Wait()
	if n := f.reads.n.Load() - reads; n > 2 {
		t.Errorf("200 subscription requests read the subscriptions %d times; want at most 2", n)
	}
}
