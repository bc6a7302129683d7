package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/store"
)

// CreateIssue stores an issue with its deliveries in one transaction.
func (s *Store) CreateIssue(ctx context.Context, is store.Issue) (store.Issue, int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	}
	defer rollback(tx)
	// An issue continues from the last one: two issues made at once (a
	// tick and a send-now, two processes) from the same last issue cannot
	// both be stored, so no article goes out twice. The lock makes the
	// check and the insert one step per list: the second maker waits, then
	// reads the first's issue (each statement of a read-committed
	// transaction sees what was committed before it began).
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('bantin issues ' || current_schema() || ' ' || $1, 0))`, is.List); err != nil {
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: lock: %w", is.List, err)
	}
	var lastEnd int64
	err = tx.QueryRow(ctx, `SELECT number, window_end FROM issues WHERE list = $1 ORDER BY number DESC LIMIT 1`, is.List).Scan(&is.Number, &lastEnd)
	switch {
	case noRows(err):
		is.Number = 0
	case err != nil:
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	case !fromMicro(lastEnd).Equal(is.WindowStart):
		return store.Issue{}, 0, fmt.Errorf("issue of %s from %s: the last issue ends at %s: %w", is.List,
			is.WindowStart.UTC().Format(time.RFC3339), fromMicro(lastEnd).Format(time.RFC3339), store.ErrConflict)
	}
	is.Number++
	is.Status = "sending"
	articles := is.ArticleIDs
	if articles == nil {
		articles = []string{}
	}
	err = tx.QueryRow(ctx, `INSERT INTO issues (list, number, window_start, window_end, subject, html, text, articles, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		is.List, is.Number, micro(is.WindowStart), micro(is.WindowEnd), is.Subject, is.HTML, is.Text,
		articles, is.Status, micro(is.CreatedAt)).Scan(&is.ID)
	if isCode(err, uniqueViolation) {
		return store.Issue{}, 0, fmt.Errorf("issue of %s up to %s exists: %w", is.List, is.WindowEnd.UTC().Format(time.RFC3339), store.ErrConflict)
	}
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO deliveries (issue_id, subscriber_id, next_attempt_at)
		SELECT $1, s.id, $2 FROM subscribers s JOIN list_subscriptions l ON l.subscriber_id = s.id
		WHERE l.list = $3 AND l.status = 'confirmed' AND NOT s.bounced`, is.ID, micro(is.CreatedAt), is.List)
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("create deliveries of %s #%d: %w", is.List, is.Number, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.Issue{}, 0, fmt.Errorf("create issue of %s: %w", is.List, err)
	}
	return is, int(tag.RowsAffected()), nil
}

const issueColumns = `id, list, number, window_start, window_end, subject, html, text, articles, status, created_at`

func scanIssue(row pgx.Row) (store.Issue, error) {
	var is store.Issue
	var start, end, created int64
	if err := row.Scan(&is.ID, &is.List, &is.Number, &start, &end, &is.Subject, &is.HTML, &is.Text, &is.ArticleIDs, &is.Status, &created); err != nil {
		return store.Issue{}, err
	}
	is.WindowStart, is.WindowEnd, is.CreatedAt = fromMicro(start), fromMicro(end), fromMicro(created)
	if len(is.ArticleIDs) == 0 {
		is.ArticleIDs = nil
	}
	return is, nil
}

// issues runs a query of issue rows.
func (s *Store) issues(ctx context.Context, sql string, args ...any) ([]store.Issue, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []store.Issue
	for rows.Next() {
		is, err := scanIssue(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, is)
	}
	return out, rows.Err()
}

// Issues lists a list's issues, newest first.
func (s *Store) Issues(ctx context.Context, list string) ([]store.Issue, error) {
	out, err := s.issues(ctx, `SELECT `+issueColumns+` FROM issues WHERE list = $1 ORDER BY number DESC`, list)
	if err != nil {
		return nil, fmt.Errorf("issues of %s: %w", list, err)
	}
	return out, nil
}

// LastIssue returns a list's latest issue.
func (s *Store) LastIssue(ctx context.Context, list string) (store.Issue, error) {
	is, err := scanIssue(s.pool.QueryRow(ctx, `SELECT `+issueColumns+` FROM issues WHERE list = $1 ORDER BY number DESC LIMIT 1`, list))
	if noRows(err) {
		return store.Issue{}, fmt.Errorf("last issue of %s: %w", list, store.ErrNotFound)
	}
	if err != nil {
		return store.Issue{}, fmt.Errorf("last issue of %s: %w", list, err)
	}
	return is, nil
}

// Issue returns a list's issue by number.
func (s *Store) Issue(ctx context.Context, list string, number int) (store.Issue, error) {
	is, err := scanIssue(s.pool.QueryRow(ctx, `SELECT `+issueColumns+` FROM issues WHERE list = $1 AND number = $2`, list, number))
	if noRows(err) {
		return store.Issue{}, fmt.Errorf("issue %d of %s: %w", number, list, store.ErrNotFound)
	}
	if err != nil {
		return store.Issue{}, fmt.Errorf("issue %d of %s: %w", number, list, err)
	}
	return is, nil
}

// SendingIssues lists the issues still being sent, oldest first.
func (s *Store) SendingIssues(ctx context.Context) ([]store.Issue, error) {
	out, err := s.issues(ctx, `SELECT `+issueColumns+` FROM issues WHERE status = 'sending' ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("issues being sent: %w", err)
	}
	return out, nil
}

// FinishIssue marks an issue sent when nothing of it is queued.
func (s *Store) FinishIssue(ctx context.Context, issueID int64, now time.Time) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE issues SET status = 'sent' WHERE id = $1 AND status = 'sending'
		AND NOT EXISTS (SELECT 1 FROM deliveries WHERE issue_id = $1 AND status = 'queued')`, issueID)
	if err != nil {
		return false, fmt.Errorf("finish issue %d: %w", issueID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// CancelIssue cancels a list's issue in progress.
func (s *Store) CancelIssue(ctx context.Context, list string, now time.Time) (store.Issue, int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	defer rollback(tx)
	// FOR UPDATE: a second cancel or a finish waits for this one and then
	// finds the issue no longer being sent.
	is, err := scanIssue(tx.QueryRow(ctx, `SELECT `+issueColumns+` FROM issues WHERE list = $1 AND status = 'sending'
		ORDER BY number DESC LIMIT 1 FOR UPDATE`, list))
	if noRows(err) {
		return store.Issue{}, 0, fmt.Errorf("no issue of %s is being sent: %w", list, store.ErrNotFound)
	}
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	// A delivery being claimed right now is locked by its claimer; this
	// update waits for it and then sees its claim, and so leaves it to
	// finish in flight.
	tag, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'skipped', last_error = 'cancelled', done_at = $1
		WHERE issue_id = $2 AND status = 'queued' AND claimed_until <= $1`, micro(now), is.ID)
	if err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	if _, err := tx.Exec(ctx, `UPDATE issues SET status = 'cancelled' WHERE id = $1`, is.ID); err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return store.Issue{}, 0, fmt.Errorf("cancel issue of %s: %w", list, err)
	}
	is.Status = "cancelled"
	return is, int(tag.RowsAffected()), nil
}

// ListStart returns when a list was first seen. It is read on every
// scheduler tick, so it writes only the first time.
func (s *Store) ListStart(ctx context.Context, list string, now time.Time) (time.Time, error) {
	var started int64
	err := s.pool.QueryRow(ctx, `SELECT started_at FROM newsletter_lists WHERE list = $1`, list).Scan(&started)
	if noRows(err) {
		// DO UPDATE rather than DO NOTHING so that RETURNING gives the
		// first process's time to the one that lost the race.
		err = s.pool.QueryRow(ctx, `INSERT INTO newsletter_lists (list, started_at) VALUES ($1, $2)
			ON CONFLICT (list) DO UPDATE SET started_at = newsletter_lists.started_at RETURNING started_at`, list, micro(now)).Scan(&started)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("start of list %s: %w", list, err)
	}
	return fromMicro(started), nil
}

// ClaimDeliveries claims due deliveries, skipping people who left. FOR
// UPDATE SKIP LOCKED lets senders in several processes claim from one
// issue at once: each passes over the deliveries another is claiming, and
// a delivery claimed and committed meanwhile is re-read and no longer due.
func (s *Store) ClaimDeliveries(ctx context.Context, issueID int64, now time.Time, limit int, lease time.Duration) ([]store.Delivery, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
	}
	defer rollback(tx)
	claim := now.Add(lease).UTC()
	var out []store.Delivery
	for len(out) == 0 {
		rows, err := tx.Query(ctx, `SELECT d.subscriber_id, s.email, s.name, d.attempts,
			COALESCE(l.status = 'confirmed' AND NOT s.bounced, false)
			FROM deliveries d JOIN issues i ON i.id = d.issue_id
			JOIN subscribers s ON s.id = d.subscriber_id
			LEFT JOIN list_subscriptions l ON l.subscriber_id = d.subscriber_id AND l.list = i.list
			WHERE d.issue_id = $1 AND i.status = 'sending' AND d.status = 'queued' AND d.next_attempt_at <= $2 AND d.claimed_until <= $2
			ORDER BY d.subscriber_id LIMIT $3 FOR UPDATE OF d SKIP LOCKED`, issueID, micro(now), limit)
		if err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		var gone []int64
		seen := 0
		for rows.Next() {
			d := store.Delivery{IssueID: issueID, Claim: claim}
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
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		if len(gone) > 0 {
			if _, err := tx.Exec(ctx, `UPDATE deliveries SET status = 'skipped', last_error = 'left the list or bounced', done_at = $1
				WHERE issue_id = $2 AND subscriber_id = ANY($3)`, micro(now), issueID, gone); err != nil {
				return nil, fmt.Errorf("skip deliveries of issue %d: %w", issueID, err)
			}
		}
		if seen < limit {
			break
		}
	}
	if len(out) > 0 {
		ids := make([]int64, len(out))
		index := make(map[int64]int, len(out))
		for i, d := range out {
			ids[i], index[d.SubscriberID] = d.SubscriberID, i
		}
		if _, err := tx.Exec(ctx, `UPDATE deliveries SET claimed_until = $1, attempts = attempts + 1
			WHERE issue_id = $2 AND subscriber_id = ANY($3)`, micro(claim), issueID, ids); err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
		rows, err := tx.Query(ctx, `SELECT subscriber_id, category FROM subscriber_categories
			WHERE subscriber_id = ANY($1) ORDER BY subscriber_id, category`, ids)
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
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("claim deliveries of issue %d: %w", issueID, err)
	}
	return out, nil
}

// ExtendDeliveries renews the lease of claimed deliveries, in one round
// trip for the batch.
func (s *Store) ExtendDeliveries(ctx context.Context, ds []store.Delivery, until time.Time) ([]store.Delivery, error) {
	if len(ds) == 0 {
		return nil, nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("extend deliveries: %w", err)
	}
	defer rollback(tx)
	var batch pgx.Batch
	for _, d := range ds {
		batch.Queue(`UPDATE deliveries SET claimed_until = $1
			WHERE issue_id = $2 AND subscriber_id = $3 AND claimed_until = $4 AND status = 'queued'
			AND issue_id IN (SELECT id FROM issues WHERE status = 'sending')`,
			micro(until), d.IssueID, d.SubscriberID, micro(d.Claim))
	}
	results := tx.SendBatch(ctx, &batch)
	var out []store.Delivery
	for _, d := range ds {
		tag, err := results.Exec()
		if err != nil {
			results.Close()
			return nil, fmt.Errorf("extend delivery %d/%d: %w", d.IssueID, d.SubscriberID, err)
		}
		if tag.RowsAffected() == 1 {
			d.Claim = until.UTC()
			out = append(out, d)
		}
	}
	if err := results.Close(); err != nil {
		return nil, fmt.Errorf("extend deliveries: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
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

// MarkDeliveries records claimed deliveries' outcomes in one transaction
// and one round trip: senders that finish at the same moment share one
// commit.
func (s *Store) MarkDeliveries(ctx context.Context, marks []store.DeliveryMark, now time.Time) ([]error, error) {
	for _, m := range marks {
		switch m.Status {
		case store.DeliveryQueued, store.DeliverySent, store.DeliveryFailed, store.DeliverySkipped:
		default:
			return nil, fmt.Errorf("mark delivery: status %q", m.Status)
		}
	}
	if len(marks) == 0 {
		return []error{}, nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("mark deliveries: %w", err)
	}
	defer rollback(tx)
	var batch pgx.Batch
	for _, m := range marks {
		d := m.Delivery
		if m.Status == store.DeliveryQueued {
			batch.Queue(`UPDATE deliveries SET claimed_until = 0, next_attempt_at = $1, last_error = $2
				WHERE issue_id = $3 AND subscriber_id = $4 AND claimed_until = $5 AND status = 'queued'`,
				micro(m.Next), text(m.Reason), d.IssueID, d.SubscriberID, micro(d.Claim))
		} else {
			batch.Queue(`UPDATE deliveries SET status = $1, claimed_until = 0, last_error = $2, done_at = $3
				WHERE issue_id = $4 AND subscriber_id = $5 AND claimed_until = $6 AND status = 'queued'`,
				string(m.Status), text(m.Reason), micro(now), d.IssueID, d.SubscriberID, micro(d.Claim))
		}
	}
	results := tx.SendBatch(ctx, &batch)
	errs := make([]error, len(marks))
	for i, m := range marks {
		d := m.Delivery
		tag, err := results.Exec()
		if err != nil {
			results.Close()
			return nil, fmt.Errorf("mark delivery %d/%d: %w", d.IssueID, d.SubscriberID, err)
		}
		if tag.RowsAffected() == 0 {
			errs[i] = fmt.Errorf("mark delivery %d/%d: the claim was lost: %w", d.IssueID, d.SubscriberID, store.ErrConflict)
		}
	}
	if err := results.Close(); err != nil {
		return nil, fmt.Errorf("mark deliveries: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("mark deliveries: %w", err)
	}
	return errs, nil
}

// DeliveryCounts counts an issue's deliveries by status.
func (s *Store) DeliveryCounts(ctx context.Context, issueID int64) (map[store.DeliveryStatus]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM deliveries WHERE issue_id = $1 GROUP BY status`, issueID)
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
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("deliveries of issue %d: %w", issueID, err)
	}
	return out, nil
}
