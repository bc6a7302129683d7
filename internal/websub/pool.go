package websub

import (
	"context"
	"sync"
	"time"
)

// slowFor is how long a host that timed out stays in the slow lane.
const slowFor = 10 * time.Minute

// maxSlowHosts bounds the memory of slow hosts.
const maxSlowHosts = 4096

// job is one call to a subscriber (or to an external hub).
type job struct {
	// host is the callback's host: calls to one host share its allowance.
	host string
	// key names what the call is about (mode, topic and callback): a newer
	// job with the same key replaces a queued one, and two jobs with one
	// key are never in flight together, so a subscriber gets its versions
	// in order and a stalled one holds at most one worker per subscription.
	key string
	// run makes the call and reports whether the host was slow: it timed
	// out rather than answered or refused.
	run func(ctx context.Context) (slow bool)
}

// pool runs jobs on a fixed number of workers from a bounded queue. A host
// has at most perHost calls in flight, and a host that timed out lately
// only one, within slowMax workers shared by all such hosts: a crowd of
// stalled callbacks holds a bounded part of the workers, and the others go
// on serving everyone else. Adding never waits.
type pool struct {
	perHost, slowMax, maxQueue int
	pending                    *sync.WaitGroup // one per job queued or running (Hub.Wait)

	ctx    context.Context // the calls'; cancelled when Close runs out of time
	cancel context.CancelFunc

	mu          sync.Mutex
	cond        *sync.Cond
	queue       []*job
	queued      map[string]*job // by key
	inFlight    map[string]bool // keys
	running     map[string]int  // by host
	slow        map[string]time.Time
	slowRunning int
	closed      bool
	workers     sync.WaitGroup
}

func newPool(workers, perHost, maxQueue int, pending *sync.WaitGroup) *pool {
	ctx, cancel := context.WithCancel(context.Background())
	p := &pool{
		perHost: perHost, slowMax: max(1, workers/4), maxQueue: maxQueue, pending: pending,
		ctx: ctx, cancel: cancel,
		queued: map[string]*job{}, inFlight: map[string]bool{}, running: map[string]int{}, slow: map[string]time.Time{},
	}
	p.cond = sync.NewCond(&p.mu)
	p.workers.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// add queues a job, or replaces the queued one with the same key. It
// reports false when the queue is full or the pool closed.
func (p *pool) add(j *job) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if q, ok := p.queued[j.key]; ok {
		q.run = j.run
		return true
	}
	if len(p.queue) >= p.maxQueue {
		return false
	}
	p.queue = append(p.queue, j)
	p.queued[j.key] = j
	p.pending.Add(1)
	p.cond.Signal()
	return true
}

// next takes the first queued job that may run now; nil if none. p.mu is
// held.
func (p *pool) next() *job {
	now := time.Now()
	for i, j := range p.queue {
		if p.inFlight[j.key] {
			continue
		}
		limit := p.perHost
		if until, ok := p.slow[j.host]; ok && now.Before(until) {
			if p.slowRunning >= p.slowMax {
				continue
			}
			limit = 1
		}
		if p.running[j.host] >= limit {
			continue
		}
		p.queue = append(p.queue[:i], p.queue[i+1:]...)
		delete(p.queued, j.key)
		return j
	}
	return nil
}

func (p *pool) work() {
	defer p.workers.Done()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		j := p.next()
		for j == nil {
			if p.closed {
				return
			}
			p.cond.Wait()
			j = p.next()
		}
		if p.closed {
			p.queue = append(p.queue, j) // dropped by Close with the rest
			return
		}
		until, wasSlow := p.slow[j.host]
		wasSlow = wasSlow && time.Now().Before(until)
		p.inFlight[j.key] = true
		p.running[j.host]++
		if wasSlow {
			p.slowRunning++
		}
		p.mu.Unlock()
		slow := j.run(p.ctx)
		p.mu.Lock()
		delete(p.inFlight, j.key)
		if p.running[j.host]--; p.running[j.host] == 0 {
			delete(p.running, j.host)
		}
		if wasSlow {
			p.slowRunning--
		}
		if slow {
			p.markSlow(j.host)
		} else {
			delete(p.slow, j.host)
		}
		p.pending.Done()
		// A job held back for this host or key may go now.
		p.cond.Broadcast()
	}
}

// markSlow puts a host in the slow lane. p.mu is held.
func (p *pool) markSlow(host string) {
	now := time.Now()
	if len(p.slow) >= maxSlowHosts {
		for h, until := range p.slow {
			if now.After(until) {
				delete(p.slow, h)
			}
		}
		for h := range p.slow {
			if len(p.slow) < maxSlowHosts {
				break
			}
			delete(p.slow, h)
		}
	}
	p.slow[host] = now.Add(slowFor)
}

// Close drops the queued jobs, lets the calls in flight finish until ctx
// ends, then cancels them and waits for the workers.
func (p *pool) Close(ctx context.Context) {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
	}
	p.cond.Broadcast()
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		p.cancel()
		<-done
	}
	p.cancel()
	p.mu.Lock()
	dropped := len(p.queue)
	p.queue, p.queued = nil, map[string]*job{}
	p.mu.Unlock()
	for range dropped {
		p.pending.Done()
	}
}
