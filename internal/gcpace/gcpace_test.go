package gcpace

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercentFor(t *testing.T) {
	for _, c := range []struct {
		headroom, live uint64
		want           int
	}{
		{32 << 20, 8 << 20, 400},   // a small heap grows by the headroom
		{32 << 20, 32 << 20, 100},  // from here on, GOGC=100's rule
		{32 << 20, 300 << 20, 100}, // never below it
		{32 << 20, 3 << 20, 875},   // the smallest goal (4 MB x 8.75) stays within 3 + 32 MB
		{32 << 20, 0, 800},         // before the first collection: a 32 MB goal
	} {
		if got := percentFor(c.headroom, c.live); got != c.want {
			t.Errorf("headroom %d, live %d: %d%%, want %d%%", c.headroom, c.live, got, c.want)
		}
	}
}

// gogc is the percent the collector runs with.
func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// waitPercent collects until the percent passes ok, or fails.
func waitPercent(t *testing.T, what string, ok func(uint64) bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		runtime.GC()
		if ok(gogc()) {
			return
		}
	}
	t.Fatalf("GOGC %d%% after 5 s of collections, want %s", gogc(), what)
}

// Keep leaves GOGC from the environment alone, and otherwise follows the
// live heap after each collection: raised while it is small, back to 100
// once it is large.
func TestKeepFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	t.Setenv("GOGC", "100")
	defer Keep(Headroom)()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	if p := gogc(); p != 100 {
		t.Fatalf("GOGC=100 in the environment: the collector runs at %d%%", p)
	}
	os.Unsetenv("GOGC")

	stop := Keep(Headroom)
	defer stop()
	waitPercent(t, "over 100% for a heap of a few MB", func(p uint64) bool { return p > 100 })
	big := make([][]byte, 96)
	for i := range big {
		big[i] = make([]byte, 1<<20)
	}
	waitPercent(t, "about 100% (within the tenth a change must pass) for a 96 MB heap", func(p uint64) bool { return p <= 110 })
	runtime.KeepAlive(big)
	big = nil
	waitPercent(t, "over 100% again once the heap is small", func(p uint64) bool { return p > 100 })
	stop()
	waitPercent(t, "100% once stopped", func(p uint64) bool { return p == 100 })
}
