package digest

import (
	"testing"
	"time"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestNextInHoChiMinh(t *testing.T) {
	hcm := zone(t, "Asia/Ho_Chi_Minh")
	s, err := ParseSchedule("0 6 * * *", hcm)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ from, want time.Time }{
		{time.Date(2024, 3, 28, 5, 59, 0, 0, hcm), time.Date(2024, 3, 28, 6, 0, 0, 0, hcm)},
		{time.Date(2024, 3, 28, 6, 0, 0, 0, hcm), time.Date(2024, 3, 29, 6, 0, 0, 0, hcm)},
		{time.Date(2024, 12, 31, 22, 0, 0, 0, time.UTC), time.Date(2025, 1, 1, 6, 0, 0, 0, hcm)}, // 06:00 in Hanoi, not UTC
	} {
		if got := s.Next(tc.from); !got.Equal(tc.want) {
			t.Errorf("Next(%v) = %v, want %v", tc.from, got, tc.want)
		}
	}
}

func TestNextAcrossDaylightSaving(t *testing.T) {
	ny := zone(t, "America/New_York")
	daily0230, _ := ParseSchedule("30 2 * * *", ny)
	// 2024-03-10: clocks jump from 02:00 to 03:00; there is no 02:30.
	got := daily0230.Next(time.Date(2024, 3, 9, 12, 0, 0, 0, ny))
	if want := time.Date(2024, 3, 10, 3, 0, 0, 0, ny); !got.Equal(want) {
		t.Errorf("spring forward: %v, want the run when the clocks pass 02:30 (%v), not a skipped day", got, want)
	}
	if next := daily0230.Next(got); !next.Equal(time.Date(2024, 3, 11, 2, 30, 0, 0, ny)) {
		t.Errorf("the day after: %v", next)
	}
	// 2024-11-03: 01:30 happens twice; the list runs once.
	daily0130, _ := ParseSchedule("30 1 * * *", ny)
	first := daily0130.Next(time.Date(2024, 11, 3, 0, 0, 0, 0, ny))
	second := daily0130.Next(first)
	if second.Sub(first) < 23*time.Hour {
		t.Errorf("fall back: runs at %v and %v; want one run that night", first, second)
	}
}

func TestDueOnceForMissedRuns(t *testing.T) {
	hcm := zone(t, "Asia/Ho_Chi_Minh")
	s, _ := ParseSchedule("0 6 * * *", hcm)
	last := time.Date(2024, 3, 25, 6, 0, 0, 0, hcm)
	// Down for three days: one issue now, for the latest missed run.
	now := time.Date(2024, 3, 28, 9, 0, 0, 0, hcm)
	run, due := s.Due(last, now)
	if !due || !run.Equal(time.Date(2024, 3, 28, 6, 0, 0, 0, hcm)) {
		t.Errorf("Due after three missed days = %v, %v; want one run at today's 06:00", run, due)
	}
	// Once it is sent, nothing more is due until tomorrow.
	if next, due := s.Due(run, now); due || !next.Equal(time.Date(2024, 3, 29, 6, 0, 0, 0, hcm)) {
		t.Errorf("after sending: %v, %v; want not due until tomorrow 06:00", next, due)
	}
	if _, due := s.Due(now, now.Add(time.Hour)); due {
		t.Error("due twice on one day")
	}
}

func TestPreviousBoundsTheFirstIssue(t *testing.T) {
	hcm := zone(t, "Asia/Ho_Chi_Minh")
	for _, tc := range []struct {
		expr string
		now  time.Time
		want time.Time
	}{
		{"0 6 * * *", time.Date(2024, 3, 28, 9, 0, 0, 0, hcm), time.Date(2024, 3, 28, 6, 0, 0, 0, hcm)},
		{"0 6 * * *", time.Date(2024, 3, 28, 5, 0, 0, 0, hcm), time.Date(2024, 3, 27, 6, 0, 0, 0, hcm)},
		{"0 7 * * 1", time.Date(2024, 3, 28, 9, 0, 0, 0, hcm), time.Date(2024, 3, 25, 7, 0, 0, 0, hcm)}, // weekly, Mondays
		{"0 8 1 * *", time.Date(2024, 3, 28, 9, 0, 0, 0, hcm), time.Date(2024, 3, 1, 8, 0, 0, 0, hcm)},  // monthly
	} {
		s, err := ParseSchedule(tc.expr, hcm)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Previous(tc.now); !got.Equal(tc.want) {
			t.Errorf("%s: Previous(%v) = %v, want %v", tc.expr, tc.now, got, tc.want)
		}
	}
}

func TestParseScheduleErrors(t *testing.T) {
	for _, expr := range []string{"", "0 6 * *", "61 6 * * *", "every day"} {
		if _, err := ParseSchedule(expr, time.UTC); err == nil {
			t.Errorf("ParseSchedule(%q): no error", expr)
		}
	}
}

func FuzzSchedule(f *testing.F) {
	f.Add("0 6 * * *", int64(1711584000))
	f.Add("30 2 * * *", int64(1710050000))
	f.Add("*/5 * * * 1-5", int64(0))
	ny, _ := time.LoadLocation("America/New_York")
	f.Fuzz(func(t *testing.T, expr string, unix int64) {
		s, err := ParseSchedule(expr, ny)
		if err != nil {
			return
		}
		from := time.Unix(unix%(1<<33), 0)
		next := s.Next(from)
		if !next.IsZero() && !next.After(from) {
			t.Fatalf("Next(%v) = %v is not after it", from, next)
		}
	})
}
