package websub

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestPoolBoundsSlowHosts: one host never has more than its share of the
// workers in flight, a host that timed out only one within the slow lane,
// and the others keep being served meanwhile.
func TestPoolBoundsSlowHosts(t *testing.T) {
	var pending sync.WaitGroup
	p := newPool(8, 2, 100, &pending)
	defer func() {
		// The calls still stalled are cut.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		p.Close(ctx)
	}()
	var mu sync.Mutex
	inFlight, most := map[string]int{}, map[string]int{}
	gate := make(chan struct{})
	// open lets the calls in flight end; later calls wait again.
	open := func() {
		mu.Lock()
		old := gate
		gate = make(chan struct{})
		mu.Unlock()
		close(old)
	}
	var fastDone atomic.Int64
	stall := func(host string, slow bool) func(context.Context) bool {
		return func(ctx context.Context) bool {
			mu.Lock()
			inFlight[host]++
			most[host] = max(most[host], inFlight[host])
			wait := gate
			mu.Unlock()
			select {
			case <-wait:
			case <-ctx.Done():
			}
			mu.Lock()
			inFlight[host]--
			mu.Unlock()
			return slow
		}
	}
	// Round one: a stalled host gets two workers of eight, not more.
	for i := range 10 {
		if !p.add(&job{host: "cham.example", key: "a" + strconv.Itoa(i), run: stall("cham.example", true)}) {
			t.Fatal("queue refused a job with room left")
		}
	}
	for i := range 5 {
		p.add(&job{host: "nhanh.example", key: "f" + strconv.Itoa(i), run: func(context.Context) bool { fastDone.Add(1); return false }})
	}
	eventually(t, "the other host served while one stalls", func() bool { return fastDone.Load() == 5 })
	// The stalled calls time out: the host goes to the slow lane, one call
	// at a time.
	open()
	eventually(t, "the stalled host's first calls done", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return most["cham.example"] == 2 && inFlight["cham.example"] == 1
	})
	mu.Lock()
	most["cham.example"] = 0
	mu.Unlock()
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	if most["cham.example"] > 1 {
		t.Errorf("a host that timed out has %d calls in flight; want 1", most["cham.example"])
	}
	mu.Unlock()
	open()
}
