package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/bantin/bantin/internal/store"
)

// AddBounce records a bounce and applies it, in one transaction.
func (s *Store) AddBounce(ctx context.Context, b store.Bounce, lim store.BounceLimits) (store.Bounce, error) {
	fail := func(err error) (store.Bounce, error) {
		return store.Bounce{}, fmt.Errorf("bounce of subscriber %d: %w", b.SubscriberID, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback()
	var eventID any
	if b.EventID != "" {
		eventID = b.EventID
	}
	err = tx.QueryRowContext(ctx, `INSERT INTO bounces (subscriber_id, issue_id, list, source, kind, status, reason, event_id, at)
		VALUES (?, ?, COALESCE(NULLIF(?, ''), (SELECT list FROM issues WHERE id = ?), ''), ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id) DO NOTHING RETURNING id, list`,
		b.SubscriberID, b.IssueID, b.List, b.IssueID, b.Source, b.Kind, b.Status, b.Reason, eventID, micro(b.At)).Scan(&b.ID, &b.List)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.Bounce{}, fmt.Errorf("bounce event %q: %w", b.EventID, store.ErrConflict)
	case err != nil && isForeignKey(err):
		return fail(store.ErrNotFound)
	case err != nil:
		return fail(err)
	}
	b.Outcome = "counted"
	switch b.Kind {
	case "hard":
		var bounced bool
		if err := tx.QueryRowContext(ctx, `UPDATE subscribers SET bounces = bounces + 1,
			bounced = CASE WHEN bounces + 1 >= ? THEN 1 ELSE bounced END
			WHERE id = ? RETURNING bounced`, lim.Hard, b.SubscriberID).Scan(&bounced); err != nil {
			return fail(err)
		}
		if bounced {
			b.Outcome = "bounced"
		}
	case "soft":
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM bounces WHERE subscriber_id = ? AND kind = 'soft' AND at > ?`,
			b.SubscriberID, micro(b.At.Add(-lim.SoftWindow))).Scan(&n); err != nil {
			return fail(err)
		}
		if n >= lim.Soft {
			if _, err := tx.ExecContext(ctx, `UPDATE subscribers SET bounced = 1 WHERE id = ?`, b.SubscriberID); err != nil {
				return fail(err)
			}
			b.Outcome = "bounced"
		}
	case "complaint":
		if _, err := tx.ExecContext(ctx, `UPDATE list_subscriptions SET status = 'unsubscribed', updated_at = ?
			WHERE subscriber_id = ? AND status <> 'unsubscribed'`, micro(b.At), b.SubscriberID); err != nil {
			return fail(err)
		}
		b.Outcome = "unsubscribed"
	default:
		b.Outcome = "ignored"
	}
	if _, err := tx.ExecContext(ctx, `UPDATE bounces SET outcome = ? WHERE id = ?`, b.Outcome, b.ID); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return b, nil
}

// isForeignKey reports a FOREIGN KEY constraint failure.
func isForeignKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "FOREIGN KEY")
}

// Bounces lists bounce records, newest first.
func (s *Store) Bounces(ctx context.Context, q store.BounceQuery) ([]store.Bounce, error) {
	if q.Limit <= 0 {
		q.Limit = 100
	}
	var since int64
	if !q.Since.IsZero() {
		since = micro(q.Since)
	}
	rows, err := s.db.QueryContext(ctx, `SELECT b.id, b.subscriber_id, s.email, b.issue_id, b.list, b.source, b.kind,
		b.status, b.reason, COALESCE(b.event_id, ''), b.outcome, b.at
		FROM bounces b JOIN subscribers s ON s.id = b.subscriber_id
		WHERE b.at >= ? AND (? = '' OR b.kind = ?) ORDER BY b.at DESC, b.id DESC LIMIT ?`,
		since, q.Kind, q.Kind, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("bounces: %w", err)
	}
	defer rows.Close()
	var out []store.Bounce
	for rows.Next() {
		var b store.Bounce
		var at int64
		if err := rows.Scan(&b.ID, &b.SubscriberID, &b.Email, &b.IssueID, &b.List, &b.Source, &b.Kind,
			&b.Status, &b.Reason, &b.EventID, &b.Outcome, &at); err != nil {
			return nil, fmt.Errorf("bounces: %w", err)
		}
		b.At = fromMicro(at)
		out = append(out, b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("bounces: %w", err)
	}
	return out, nil
}
