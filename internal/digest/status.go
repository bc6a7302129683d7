package digest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bantin/bantin/internal/locale"
	"github.com/bantin/bantin/internal/store"
)

// ListStatus is where one list stands: its last issue, when the next one
// is due, and who it goes to.
type ListStatus struct {
	ID, Title, Description string
	Schedule               string         // the cron expression as written
	Location               *time.Location // the list's zone; times below are in it
	Categories             []string       // slugs; none means every category
	// Last is the latest issue, nil when the list has sent none.
	Last *IssueStatus
	// NextRun is the next scheduled run after now. An issue is made then
	// if articles came since the last one.
	NextRun time.Time
	// Overdue is a run that has passed with articles for it and no issue
	// made: serve is not running (or not making issues). Zero otherwise.
	Overdue time.Time
	// NewArticles is how many articles the issue sent now would hold
	// (at most MaxArticles): those since the last issue.
	NewArticles int
	MaxArticles int
	// Confirmed counts the confirmed subscribers who get mail (bounced
	// ones left out); Queued the copies of the list's issues that wait
	// to be sent, retries included.
	Confirmed, Queued int
}

// IssueStatus is an issue and where its copies stand.
type IssueStatus struct {
	Number  int
	Subject string
	Status  string    // sending, sent, cancelled
	SentAt  time.Time // when it was made and its sending began
	Queued  int
	Sent    int
	Failed  int
	Skipped int
}

// Status tells where each configured list stands, or the one named by
// list when it is not empty (ErrUnknownList for one not configured). It
// writes nothing: a list that has never been seen by serve gets its next
// run from now.
func (s *Service) Status(ctx context.Context, list string) ([]ListStatus, error) {
	lists := s.newsletters()
	if list != "" {
		n, err := s.Newsletter(list)
		if err != nil {
			return nil, err
		}
		lists = []Newsletter{n}
	}
	now := s.opts.Now()
	out := make([]ListStatus, 0, len(lists))
	for _, n := range lists {
		ls, err := s.status(ctx, n, now)
		if err != nil {
			return nil, fmt.Errorf("status of %s: %w", n.ID, err)
		}
		out = append(out, ls)
	}
	return out, nil
}

func (s *Service) status(ctx context.Context, n Newsletter, now time.Time) (ListStatus, error) {
	st := s.opts.Store
	loc := n.Location
	if loc == nil {
		loc = time.UTC
	}
	ls := ListStatus{ID: n.ID, Title: n.Title, Description: n.Description, Schedule: n.Schedule.String(),
		Location: loc, Categories: n.Categories, MaxArticles: n.MaxArticles, NextRun: n.Schedule.Next(now).In(loc)}
	last, err := st.LastIssue(ctx, n.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return ls, err
	default:
		counts, err := st.DeliveryCounts(ctx, last.ID)
		if err != nil {
			return ls, err
		}
		ls.Last = &IssueStatus{Number: last.Number, Subject: last.Subject, Status: last.Status, SentAt: last.CreatedAt.In(loc),
			Queued: counts[store.DeliveryQueued], Sent: counts[store.DeliverySent],
			Failed: counts[store.DeliveryFailed], Skipped: counts[store.DeliverySkipped]}
	}
	// The copies waiting: those of every issue of the list still going
	// out (an interrupted one may be older than the last).
	sending, err := st.SendingIssues(ctx)
	if err != nil {
		return ls, err
	}
	for _, is := range sending {
		if is.List != n.ID {
			continue
		}
		if ls.Last != nil && is.ID == last.ID {
			ls.Queued += ls.Last.Queued // counted above
			continue
		}
		counts, err := st.DeliveryCounts(ctx, is.ID)
		if err != nil {
			return ls, err
		}
		ls.Queued += counts[store.DeliveryQueued]
	}
	if ls.Confirmed, err = st.Recipients(ctx, n.ID); err != nil {
		return ls, err
	}
	w, err := s.NowWindow(ctx, n, now)
	if err != nil {
		return ls, err
	}
	arts, err := s.Compose(ctx, n, w)
	if err != nil {
		return ls, err
	}
	ls.NewArticles = len(arts)
	if ls.Last != nil && len(arts) > 0 {
		// serve makes a due issue within a second when there are
		// articles for it, so a run long past with articles and no
		// issue means serve is not making issues.
		if run, due := n.Schedule.Due(last.WindowEnd, now); due && now.Sub(run) > time.Minute {
			held, err := s.Compose(ctx, n, Window{Start: last.WindowEnd, End: run})
			if err != nil {
				return ls, err
			}
			if len(held) > 0 {
				ls.Overdue = run.In(loc)
			}
		}
	}
	return ls, nil
}

// testSubject marks the subject of a test copy that repeats the last
// issue, in the site's language.
func testSubject(lang, subject string) string {
	return locale.T(lang, "email.test_subject", subject)
}
