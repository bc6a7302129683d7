package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/store"
)

// CreateIssue stores an issue with its deliveries in one transaction.
func (s *Store) CreateIssue(ctx context.Context, is store.Issue) (store.Issue, int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM issues WHERE list = ?`, is.List).Scan(&is.Number); err != nil {
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	}
	is.Status = "sending"
	err = tx.QueryRowContext(ctx, `INSERT INTO issues (list, number, window_start, window_end, subject, html, text, articles, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		is.List, is.Number, micro(is.WindowStart), micro(is.WindowEnd), is.Subject, is.HTML, is.Text,
		strings.Join(is.ArticleIDs, "\n"), is.Status, micro(is.CreatedAt)).Scan(&is.ID)
	if isUnique(err) {
		return store.Issue{}, 0, fmt.Errorf("issue of %s for %v exists: %w", is.List, is.WindowEnd, store.ErrConflict)
	}
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO deliveries (issue_id, subscriber_id, next_attempt_at)
		SELECT ?, s.id, ? FROM subscribers s JOIN list_subscriptions l ON l.subscriber_id = s.id
		WHERE l.list = ? AND l.status = 'confirmed' AND s.bounced = 0`, is.ID, micro(is.CreatedAt), is.List)
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("create deliveries of %s #%d: %w", is.List, is.Number, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("create deliveries of %s #%d: %w", is.List, is.Number, err)
	}
	if err := tx.Commit(); err != nil {
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	}
	return is, int(n), nil
}

const issueColumns = `id, list, number, window_start, window_end, subject, html, text, articles, status, created_at`

func scanIssue(row interface{ Scan(...any) error }) (store.Issue, error) {
	var is store.Issue
	var start, end, created int64
	var articles string
	if err := row.Scan(&is.ID, &is.List, &is.Number, &start, &end, &is.Subject, &is.HTML, &is.Text, &articles, &is.Status, &created); err != nil {
		return store.Issue{}, err
	}
	is.WindowStart, is.WindowEnd, is.CreatedAt = fromMicro(start), fromMicro(end), fromMicro(created)
	if articles != "" {
		is.ArticleIDs = strings.Split(articles, "\n")
	}
	return is, nil
}

// Issues lists a list's issues, newest first.
func (s *Store) Issues(ctx context.Context, list string) ([]store.Issue, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+issueColumns+` FROM issues WHERE list = ? ORDER BY number DESC`, list)
	if err != nil {
		return nil, fmt.Errorf("issues of %s: %w", list, err)
	}
	defer rows.Close()
	var out []store.Issue
	for rows.Next() {
		is, err := scanIssue(rows)
		if err != nil {
			return nil, fmt.Errorf("issues of %s: %w", list, err)
		}
		out = append(out, is)
	}
	return out, rows.Err()
}

// LastIssue returns a list's latest issue.
func (s *Store) LastIssue(ctx context.Context, list string) (store.Issue, error) {
	is, err := scanIssue(s.db.QueryRowContext(ctx, `SELECT `+issueColumns+` FROM issues WHERE list = ? ORDER BY number DESC LIMIT 1`, list))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Issue{}, fmt.Errorf("last issue of %s: %w", list, store.ErrNotFound)
	}
	if err != nil {
		return store.Issue{}, fmt.Errorf("last issue of %s: %w", list, err)
	}
	return is, nil
}

// ClaimDeliveries skips deliveries to people who left, then claims due ones.
func (s *Store) ClaimDeliveries(ctx context.Context, issueID int64, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	if _, err := s.db.ExecContext(ctx, `UPDATE deliveries SET status = 'skipped', done_at = ?
		WHERE issue_id = ? AND status = 'queued' AND subscriber_id NOT IN (
			SELECT s.id FROM subscribers s JOIN list_subscriptions l ON l.subscriber_id = s.id
			JOIN issues i ON i.list = l.list AND i.id = ?
			WHERE l.status = 'confirmed' AND s.bounced = 0)`, micro(now), issueID, issueID); err != nil {
		return nil, fmt.Errorf("skip deliveries of issue %d: %w", issueID, err)
	}
	rows, err := s.db.QueryContext(ctx, `UPDATE deliveries SET claimed_until = ?, attempts = attempts + 1
		WHERE rowid IN (SELECT rowid FROM deliveries WHERE issue_id = ? AND status = 'queued'
			AND next_attempt_at <= ? AND claimed_until <= ? ORDER BY subscriber_id LIMIT ?)
		RETURNING subscriber_id, attempts, claimed_until`, micro(now.Add(lease)), issueID, micro(now), micro(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
	}
	var out []store.Delivery
	for rows.Next() {
		d := store.Delivery{IssueID: issueID}
		var claim int64
		if err := rows.Scan(&d.SubscriberID, &d.Attempts, &claim); err != nil {
			rows.Close()
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		d.Claim = fromMicro(claim)
		out = append(out, d)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
	}
	// Addresses and names in one query, not one per delivery.
	ids := make([]any, len(out))
	index := make(map[int64]int, len(out))
	for i, d := range out {
		ids[i], index[d.SubscriberID] = d.SubscriberID, i
	}
	if len(out) == 0 {
		return out, nil
	}
	rows, err = s.db.QueryContext(ctx, `SELECT id, email, name FROM subscribers WHERE id IN (`+placeholders(len(ids))+`)`, ids...)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var email, name string
		if err := rows.Scan(&id, &email, &name); err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		out[index[id]].Email, out[index[id]].Name = email, name
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
	}
	return out, nil
}

// MarkDelivery records a claimed delivery's outcome.
func (s *Store) MarkDelivery(ctx context.Context, d store.Delivery, status store.DeliveryStatus, next time.Time, reason string, now time.Time) error {
	var res sql.Result
	var err error
	switch status {
	case store.DeliveryQueued:
		res, err = s.db.ExecContext(ctx, `UPDATE deliveries SET claimed_until = 0, next_attempt_at = ?, last_error = ?
			WHERE issue_id = ? AND subscriber_id = ? AND claimed_until = ? AND status = 'queued'`,
			micro(next), reason, d.IssueID, d.SubscriberID, micro(d.Claim))
	case store.DeliverySent, store.DeliveryFailed:
		res, err = s.db.ExecContext(ctx, `UPDATE deliveries SET status = ?, claimed_until = 0, last_error = ?, done_at = ?
			WHERE issue_id = ? AND subscriber_id = ? AND claimed_until = ? AND status = 'queued'`,
			string(status), reason, micro(now), d.IssueID, d.SubscriberID, micro(d.Claim))
	default:
		return fmt.Errorf("mark delivery: status %q", status)
	}
	if err != nil {
		return fmt.Errorf("mark delivery %d/%d: %w", d.IssueID, d.SubscriberID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("mark delivery %d/%d: the claim was lost: %w", d.IssueID, d.SubscriberID, store.ErrConflict)
	}
	return nil
}

// DeliveryCounts counts an issue's deliveries by status.
func (s *Store) DeliveryCounts(ctx context.Context, issueID int64) (map[store.DeliveryStatus]int, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT status, count(*) FROM deliveries WHERE issue_id = ? GROUP BY status`, issueID)
	if err != nil {
		return nil, fmt.Errorf("deliveries of issue %d: %w", issueID, err)
	}
	defer rows.Close()
	out := map[store.DeliveryStatus]int{}
	for rows.Next() {
		var status string
		var n int
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("deliveries of issue %d: %w", issueID, err)
		}
		out[store.DeliveryStatus(status)] = n
	}
	return out, rows.Err()
}
