package postgres

import (
	"context"
	"fmt"

	"github.com/bantin/bantin/internal/store"
)

// AddBounce records a bounce and applies it, in one transaction.
func (s *Store) AddBounce(ctx context.Context, b store.Bounce, lim store.BounceLimits) (store.Bounce, error) {
	fail := func(err error) (store.Bounce, error) {
		return store.Bounce{}, fmt.Errorf("bounce of subscriber %d: %w", b.SubscriberID, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fail(err)
	}
	defer rollback(tx)
	// One subscriber's events one at a time: two soft bounces imported at
	// once must both see each other when they count toward the limit.
	var locked int64
	err = tx.QueryRow(ctx, `SELECT id FROM subscribers WHERE id = $1 FOR UPDATE`, b.SubscriberID).Scan(&locked)
	if noRows(err) {
		return fail(store.ErrNotFound)
	}
	if err != nil {
		return fail(err)
	}
	var eventID any
	if b.EventID != "" {
		eventID = text(b.EventID)
	}
	err = tx.QueryRow(ctx, `INSERT INTO bounces (subscriber_id, issue_id, list, source, kind, status, reason, event_id, at)
		VALUES ($1, $2, COALESCE(NULLIF($3::text, ''), (SELECT list FROM issues WHERE id = $2), ''), $4, $5, $6, $7, $8, $9)
		ON CONFLICT (event_id) DO NOTHING RETURNING id, list`,
		b.SubscriberID, b.IssueID, b.List, text(b.Source), text(b.Kind), text(b.Status), text(b.Reason), eventID, micro(b.At)).Scan(&b.ID, &b.List)
	switch {
	case noRows(err):
		return store.Bounce{}, fmt.Errorf("bounce event %q: %w", b.EventID, store.ErrConflict)
	case isCode(err, foreignKeyViolation):
		return fail(store.ErrNotFound)
	case err != nil:
		return fail(err)
	}
	b.Outcome = "counted"
	switch b.Kind {
	case "hard":
		var bounced bool
		if err := tx.QueryRow(ctx, `UPDATE subscribers SET bounces = bounces + 1,
			bounced = bounced OR bounces + 1 >= $1
			WHERE id = $2 RETURNING bounced`, lim.Hard, b.SubscriberID).Scan(&bounced); err != nil {
			return fail(err)
		}
		if bounced {
			b.Outcome = "bounced"
		}
	case "soft":
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM bounces WHERE subscriber_id = $1 AND kind = 'soft' AND at > $2`,
			b.SubscriberID, micro(b.At.Add(-lim.SoftWindow))).Scan(&n); err != nil {
			return fail(err)
		}
		if n >= lim.Soft {
			if _, err := tx.Exec(ctx, `UPDATE subscribers SET bounced = TRUE WHERE id = $1`, b.SubscriberID); err != nil {
				return fail(err)
			}
			b.Outcome = "bounced"
		}
	case "complaint":
		if _, err := tx.Exec(ctx, `UPDATE list_subscriptions SET status = 'unsubscribed', updated_at = $1
			WHERE subscriber_id = $2 AND status <> 'unsubscribed'`, micro(b.At), b.SubscriberID); err != nil {
			return fail(err)
		}
		b.Outcome = "unsubscribed"
	default:
		b.Outcome = "ignored"
	}
	if _, err := tx.Exec(ctx, `UPDATE bounces SET outcome = $1 WHERE id = $2`, b.Outcome, b.ID); err != nil {
		return fail(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fail(err)
	}
	return b, nil
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
	rows, err := s.pool.Query(ctx, `SELECT b.id, b.subscriber_id, s.email, b.issue_id, b.list, b.source, b.kind,
		b.status, b.reason, COALESCE(b.event_id, ''), b.outcome, b.at
		FROM bounces b JOIN subscribers s ON s.id = b.subscriber_id
		WHERE b.at >= $1 AND ($2::text = '' OR b.kind = $2) ORDER BY b.at DESC, b.id DESC LIMIT $3`,
		since, q.Kind, q.Limit)
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
