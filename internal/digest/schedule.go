// Package digest makes the newsletters' issues: when each list is due,
// which articles an issue holds, and its delivery to subscribers.
package digest

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// Schedule is a list's 5-field cron expression in its time zone.
//
// robfig/cron parses it, but its runner is not used: v3.0.1 skips a run
// that falls in a spring-forward gap and may fire twice when the clock
// falls back, and it cannot take an injected clock. Next runs here are
// computed on the wall clock of the zone, so a 02:30 run on a day without
// 02:30 happens when the day's clocks pass it, and a 01:30 that occurs
// twice runs once.
type Schedule struct {
	spec cron.Schedule
	loc  *time.Location
	expr string
}

// ParseSchedule reads a 5-field cron expression for loc.
func ParseSchedule(expr string, loc *time.Location) (Schedule, error) {
	spec, err := cron.ParseStandard(expr)
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w", expr, err)
	}
	if loc == nil {
		loc = time.UTC
	}
	return Schedule{spec: spec, loc: loc, expr: expr}, nil
}

// String is the expression as written.
func (s Schedule) String() string { return s.expr }

// wall moves t's wall clock in the zone onto UTC, where no clock jumps.
func (s Schedule) wall(t time.Time) time.Time {
	l := t.In(s.loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// real turns a wall-clock time back into an instant in the zone. A time
// inside a spring-forward gap becomes the first instant after the gap.
func (s Schedule) real(w time.Time) time.Time {
	t := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, s.loc)
	if s.wall(t).Equal(w) {
		return t
	}
	// w does not exist in the zone: find where the clocks jumped.
	lo, hi := t.Add(-3*time.Hour), t.Add(3*time.Hour)
	for hi.Sub(lo) > time.Second {
		mid := lo.Add(hi.Sub(lo) / 2)
		if s.wall(mid).Before(w) {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi.Truncate(time.Second)
}

// Next returns the first run strictly after t.
func (s Schedule) Next(t time.Time) time.Time {
	w := s.wall(t)
	for {
		nw := s.spec.Next(w)
		if nw.IsZero() {
			return time.Time{}
		}
		next := s.real(nw)
		if next.After(t) {
			return next
		}
		// A wall time that repeats (clocks fell back) maps to an instant
		// already passed: it ran, move on.
		w = nw
	}
}

// Previous returns the last run at or before t: the start of the window
// of a list that has never sent an issue, so the first issue covers at
// most one schedule period.
func (s Schedule) Previous(t time.Time) time.Time {
	for _, back := range []time.Duration{2 * time.Hour, 26 * time.Hour, 8 * 24 * time.Hour, 32 * 24 * time.Hour, 367 * 24 * time.Hour} {
		var last time.Time
		for run := s.Next(t.Add(-back)); !run.IsZero() && !run.After(t); run = s.Next(run) {
			last = run
		}
		if !last.IsZero() {
			return last
		}
	}
	return time.Time{}
}

// Due reports whether a list whose last issue covered up to lastEnd has a
// run at or before now, and the run it is. However many runs were missed
// (the daemon was down), there is one: the issue covers them all.
func (s Schedule) Due(lastEnd, now time.Time) (time.Time, bool) {
	next := s.Next(lastEnd)
	if next.IsZero() || next.After(now) {
		return next, false
	}
	// The latest missed run stands for all of them.
	for {
		after := s.Next(next)
		if after.IsZero() || after.After(now) {
			return next, true
		}
		next = after
	}
}
