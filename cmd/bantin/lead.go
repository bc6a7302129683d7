package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// leases is what whileLeading needs of the store.
type leases interface {
	AcquireLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

// leaseTTL is how long a lease lasts without renewal; whileLeading renews
// it every second.
const leaseTTL = 10 * time.Second

// processName names this process to the others sharing the store.
func processName() string {
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), rand.Text()[:8])
}

// whileLeading runs run while this process holds the lease called name:
// with several processes on one store, work that must happen once (polling
// upstream feeds, WebSub pushes) runs in one of them, and another takes it
// over within leaseTTL when that one dies. run's context ends when the
// lease is lost or ctx ends.
func whileLeading(ctx context.Context, st leases, name, holder string, logger *slog.Logger, run func(context.Context)) {
	var (
		cancel  context.CancelFunc
		done    chan struct{}
		renewed time.Time
	)
	start := func() (context.CancelFunc, chan struct{}) {
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); run(runCtx) }()
		return cancel, done
	}
	stop := func() {
		if cancel != nil {
			cancel()
			<-done
			cancel = nil
		}
	}
	defer func() {
		stop()
		release, end := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer end()
		if err := st.ReleaseLease(release, name, holder); err != nil {
			logger.Warn("giving up a lease", "lease", name, "err", err)
		}
	}()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		// A renewal stuck behind a long write must not outlast the lease.
		renew, cancelRenew := context.WithTimeout(ctx, leaseTTL/3)
		held, err := st.AcquireLease(renew, name, holder, time.Now(), leaseTTL)
		cancelRenew()
		switch {
		case err != nil:
			// A store that does not answer for a while: stop before the
			// lease could run out and pass to another process.
			if cancel != nil && time.Since(renewed) > leaseTTL/2 {
				logger.Warn("lease not renewed; stopping its work", "lease", name, "err", err)
				stop()
			}
		case held:
			renewed = time.Now()
			if cancel == nil {
				cancel, done = start()
				logger.Info("leading", "lease", name, "holder", holder)
			}
		case cancel != nil:
			logger.Info("lease lost to another process", "lease", name)
			stop()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
