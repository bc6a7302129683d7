package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
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
	// An issue continues from the last one: two issues made at once (a
	// tick and a send-now, two processes) from the same last issue cannot
	// both be stored, so no article goes out twice.
	var lastEnd int64
	err = tx.QueryRowContext(ctx, `SELECT number, window_end FROM issues WHERE list = ? ORDER BY number DESC LIMIT 1`, is.List).Scan(&is.Number, &lastEnd)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		is.Number = 0
	case err != nil:
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	case !fromMicro(lastEnd).Equal(is.WindowStart):
		return store.Issue{}, 0, fmt.Errorf("issue of %s from %s: the last issue ends at %s: %w", is.List,
			is.WindowStart.UTC().Format(time.RFC3339), fromMicro(lastEnd).Format(time.RFC3339), store.ErrConflict)
	}
	is.Number++
	is.Status = "sending"
	err = tx.QueryRowContext(ctx, `INSERT INTO issues (list, number, window_start, window_end, subject, html, text, articles, status, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		is.List, is.Number, micro(is.WindowStart), micro(is.WindowEnd), is.Subject, is.HTML, is.Text,
		strings.Join(is.ArticleIDs, "\n"), is.Status, micro(is.CreatedAt)).Scan(&is.ID)
	if isUnique(err) {
		return store.Issue{}, 0, fmt.Errorf("issue of %s up to %s exists: %w", is.List, is.WindowEnd.UTC().Format(time.RFC3339), store.ErrConflict)
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

// Issue returns a list's issue by number.
func (s *Store) Issue(ctx context.Context, list string, number int) (store.Issue, error) {
	is, err := scanIssue(s.db.QueryRowContext(ctx, `SELECT `+issueColumns+` FROM issues WHERE list = ? AND number = ?`, list, number))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Issue{}, fmt.Errorf("issue %d of %s: %w", number, list, store.ErrNotFound)
	}
	if err != nil {
		return store.Issue{}, fmt.Errorf("issue %d of %s: %w", number, list, err)
	}
	return is, nil
}

// SendingIssues lists the issues still being sent, oldest first.
func (s *Store) SendingIssues(ctx context.Context) ([]store.Issue, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+issueColumns+` FROM issues WHERE status = 'sending' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("issues being sent: %w", err)
	}
	defer rows.Close()
	var out []store.Issue
	for rows.Next() {
		is, err := scanIssue(rows)
		if err != nil {
			return nil, fmt.Errorf("issues being sent: %w", err)
		}
		out = append(out, is)
	}
	return out, rows.Err()
}

// FinishIssue marks an issue sent when nothing of it is queued.
func (s *Store) FinishIssue(ctx context.Context, issueID int64, now time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE issues SET status = 'sent' WHERE id = ? AND status = 'sending'
		AND NOT EXISTS (SELECT 1 FROM deliveries WHERE issue_id = ? AND status = 'queued')`, issueID, issueID)
	if err != nil {
		return false, fmt.Errorf("finish issue %d: %w", issueID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("finish issue %d: %w", issueID, err)
	}
	return n == 1, nil
}

// CancelIssue cancels a list's issue in progress.
func (s *Store) CancelIssue(ctx context.Context, list string, now time.Time) (store.Issue, int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	defer tx.Rollback()
	is, err := scanIssue(tx.QueryRowContext(ctx, `SELECT `+issueColumns+` FROM issues WHERE list = ? AND status = 'sending'
		ORDER BY number DESC LIMIT 1`, list))
	if errors.Is(err, sql.ErrNoRows) {
		return store.Issue{}, 0, fmt.Errorf("no issue of %s is being sent: %w", list, store.ErrNotFound)
	}
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	res, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'skipped', last_error = 'cancelled', done_at = ?
		WHERE issue_id = ? AND status = 'queued' AND claimed_until <= ?`, micro(now), is.ID, micro(now))
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE issues SET status = 'cancelled' WHERE id = ?`, is.ID); err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	if err := tx.Commit(); err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	is.Status = "cancelled"
	return is, int(n), nil
}

// ListStart returns when a list was first seen. It is read on every
// scheduler tick, so it writes only the first time.
func (s *Store) ListStart(ctx context.Context, list string, now time.Time) (time.Time, error) {
	var started int64
	err := s.db.QueryRowContext(ctx, `SELECT started_at FROM newsletter_lists WHERE list = ?`, list).Scan(&started)
	if errors.Is(err, sql.ErrNoRows) {
		err = s.db.QueryRowContext(ctx, `INSERT INTO newsletter_lists (list, started_at) VALUES (?, ?)
			ON CONFLICT (list) DO UPDATE SET started_at = started_at RETURNING started_at`, list, micro(now)).Scan(&started)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("start of list %s: %w", list, err)
	}
	return fromMicro(started), nil
}

// ClaimDeliveries claims due deliveries, skipping people who left.
func (s *Store) ClaimDeliveries(ctx context.Context, issueID int64, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
	}
	defer tx.Rollback()
	var out []store.Delivery
	for len(out) == 0 {
		rows, err := tx.QueryContext(ctx, `SELECT d.subscriber_id, s.email, s.name, d.attempts,
			COALESCE(l.status = 'confirmed' AND s.bounced = 0, 0)
			FROM issues i JOIN deliveries d ON d.issue_id = i.id
			JOIN subscribers s ON s.id = d.subscriber_id
			LEFT JOIN list_subscriptions l ON l.subscriber_id = d.subscriber_id AND l.list = i.list
			WHERE i.id = ? AND i.status = 'sending' AND d.status = 'queued' AND d.next_attempt_at <= ? AND d.claimed_until <= ?
			ORDER BY d.subscriber_id LIMIT ?`, issueID, micro(now), micro(now), limit)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		var gone []any
		seen := 0
		for rows.Next() {
			d := store.Delivery{IssueID: issueID, Claim: now.Add(lease).UTC()}
			var ok bool
			if err := rows.Scan(&d.SubscriberID, &d.Email, &d.Name, &d.Attempts, &ok); err != nil {
				rows.Close()
				return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
			}
			seen++
			if !ok {
				gone = append(gone, d.SubscriberID)
				continue
			}
			d.Attempts++
			out = append(out, d)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		if len(gone) > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = 'skipped', last_error = 'left the list or bounced', done_at = ?
				WHERE issue_id = ? AND subscriber_id IN (`+placeholders(len(gone))+`)`,
				append([]any{micro(now), issueID}, gone...)...); err != nil {
				return nil, fmt.Errorf("skip deliveries of issue %d: %w", issueID, err)
			}
		}
		if seen < limit {
			break
		}
	}
	if len(out) > 0 {
		ids := make([]any, len(out))
		index := make(map[int64]int, len(out))
		for i, d := range out {
			ids[i], index[d.SubscriberID] = d.SubscriberID, i
		}
		if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET claimed_until = ?, attempts = attempts + 1
			WHERE issue_id = ? AND subscriber_id IN (`+placeholders(len(ids))+`)`,
			append([]any{micro(now.Add(lease)), issueID}, ids...)...); err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT subscriber_id, category FROM subscriber_categories
			WHERE subscriber_id IN (`+placeholders(len(ids))+`) ORDER BY subscriber_id, category`, ids...)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		for rows.Next() {
			var id int64
			var category string
			if err := rows.Scan(&id, &category); err != nil {
				rows.Close()
				return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
			}
			out[index[id]].Categories = append(out[index[id]].Categories, category)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
	}
	return out, nil
}

// ExtendDeliveries renews the lease of claimed deliveries.
func (s *Store) ExtendDeliveries(ctx context.Context, ds []store.Delivery, until time.Time) ([]store.Delivery, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("extend deliveries: %w", err)
	}
	defer tx.Rollback()
	var out []store.Delivery
	for _, d := range ds {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET claimed_until = ?
			WHERE issue_id = ? AND subscriber_id = ? AND claimed_until = ? AND status = 'queued'
			AND issue_id IN (SELECT id FROM issues WHERE status = 'sending')`,
			micro(until), d.IssueID, d.SubscriberID, micro(d.Claim))
		if err != nil {
			return nil, fmt.Errorf("extend delivery %d/%d: %w", d.IssueID, d.SubscriberID, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			d.Claim = until.UTC()
			out = append(out, d)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("extend deliveries: %w", err)
	}
	return out, nil
}

// MarkDelivery records a claimed delivery's outcome.
func (s *Store) MarkDelivery(ctx context.Context, d store.Delivery, status store.DeliveryStatus, next time.Time, reason string, now time.Time) error {
	errs, err := s.MarkDeliveries(ctx, []store.DeliveryMark{{Delivery: d, Status: status, Next: next, Reason: reason}}, now)
	if err != nil {
		return err
	}
	return errs[0]
}

// MarkDeliveries records claimed deliveries' outcomes in one transaction:
// senders that finish at the same moment share one commit.
func (s *Store) MarkDeliveries(ctx context.Context, marks []store.DeliveryMark, now time.Time) ([]error, error) {
	for _, m := range marks {
		switch m.Status {
		case store.DeliveryQueued, store.DeliverySent, store.DeliveryFailed, store.DeliverySkipped:
		default:
			return nil, fmt.Errorf("mark delivery: status %q", m.Status)
		}
	}
	// The statements are prepared once on the database and taken into
	// the transaction: database/sql keeps each prepared on every
	// connection it was used on, and parsing them cost more than running
	// them (a batch is often one copy: a worker waits for its mark).
	st, err := s.markStatements(ctx)
	if err != nil {
		return nil, fmt.Errorf("mark deliveries: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("mark deliveries: %w", err)
	}
	defer tx.Rollback()
	var requeue, finish *sql.Stmt
	errs := make([]error, len(marks))
	for i, m := range marks {
		d := m.Delivery
		var res sql.Result
		if m.Status == store.DeliveryQueued {
			if requeue == nil {
				requeue = tx.StmtContext(ctx, st.requeue)
			}
			res, err = requeue.ExecContext(ctx, micro(m.Next), m.Reason, d.IssueID, d.SubscriberID, micro(d.Claim))
		} else {
			if finish == nil {
				finish = tx.StmtContext(ctx, st.finish)
			}
			res, err = finish.ExecContext(ctx, string(m.Status), m.Reason, micro(now), d.IssueID, d.SubscriberID, micro(d.Claim))
		}
		if err != nil {
			return nil, fmt.Errorf("mark delivery %d/%d: %w", d.IssueID, d.SubscriberID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			errs[i] = fmt.Errorf("mark delivery %d/%d: the claim was lost: %w", d.IssueID, d.SubscriberID, store.ErrConflict)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("mark deliveries: %w", err)
	}
	return errs, nil
}

// markStmts are MarkDeliveries' statements, prepared on first use.
type markStmts struct {
	mu              sync.Mutex
	requeue, finish *sql.Stmt
}

// markStatements returns MarkDeliveries' statements, preparing them the
// first time (a failed preparation is tried again the next time).
func (s *Store) markStatements(ctx context.Context) (*markStmts, error) {
	m := &s.marks
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.finish != nil {
		return m, nil
	}
	requeue, err := s.db.PrepareContext(ctx, `UPDATE deliveries SET claimed_until = 0, next_attempt_at = ?, last_error = ?
		WHERE issue_id = ? AND subscriber_id = ? AND claimed_until = ? AND status = 'queued'`)
	if err != nil {
		return nil, err
	}
	finish, err := s.db.PrepareContext(ctx, `UPDATE deliveries SET status = ?, claimed_until = 0, last_error = ?, done_at = ?
		WHERE issue_id = ? AND subscriber_id = ? AND claimed_until = ? AND status = 'queued'`)
	if err != nil {
		requeue.Close()
		return nil, err
	}
	m.requeue, m.finish = requeue, finish
	return m, nil
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
