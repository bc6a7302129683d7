package store

import (
	"context"
	"sync"
)

// Signal fans a coalesced "something changed" out to its subscribers: the
// backends' Changes are one each.
type Signal struct {
	mu   sync.Mutex
	subs map[chan struct{}]struct{}
}

// Subscribe returns a channel that receives after each Notify, several
// notifications before a read counting as one. It closes when ctx ends or
// stopped closes.
func (s *Signal) Subscribe(ctx context.Context, stopped <-chan struct{}) <-chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	if s.subs == nil {
		s.subs = map[chan struct{}]struct{}{}
	}
	s.subs[ch] = struct{}{}
	s.mu.Unlock()
	out := make(chan struct{})
	go func() {
		defer close(out)
		defer func() {
			s.mu.Lock()
			delete(s.subs, ch)
			s.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case <-stopped:
				return
			case <-ch:
				select {
				case out <- struct{}{}:
				case <-ctx.Done():
					return
				case <-stopped:
					return
				}
			}
		}
	}()
	return out
}

// Notify wakes every subscriber; a pending signal absorbs the new one.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
