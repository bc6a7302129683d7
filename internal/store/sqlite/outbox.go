package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bantin/bantin/internal/store"
)

// EnqueueMail records a message to send, once per MessageID.
func (s *Store) EnqueueMail(ctx context.Context, m store.OutboxMail) (bool, error) {
	var subscriber any
	if m.SubscriberID != 0 {
		subscriber = m.SubscriberID
	}
	res, err := s.db.ExecContext(ctx, `INSERT INTO outbox (message_id, kind, subscriber_id, recipient, payload, next_attempt_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (message_id) DO NOTHING`,
		m.MessageID, m.Kind, subscriber, m.Recipient, m.Payload, micro(m.NextAttempt), micro(m.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("enqueue mail %s: %w", m.MessageID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("enqueue mail %s: %w", m.MessageID, err)
	}
	return n == 1, nil
}

const outboxColumns = `id, message_id, kind, COALESCE(subscriber_id, 0), recipient, payload, status, attempts,
	next_attempt_at, last_error, created_at, claimed_until`

func scanMail(row interface{ Scan(...any) error }) (store.OutboxMail, error) {
	var m store.OutboxMail
	var status string
	var next, created, claim int64
	if err := row.Scan(&m.ID, &m.MessageID, &m.Kind, &m.SubscriberID, &m.Recipient, &m.Payload, &status, &m.Attempts,
		&next, &m.LastError, &created, &claim); err != nil {
		return store.OutboxMail{}, err
	}
	m.Status, m.NextAttempt, m.CreatedAt = store.MailStatus(status), fromMicro(next), fromMicro(created)
	if claim != 0 {
		m.Claim = fromMicro(claim)
	}
	return m, nil
}

// ClaimMail takes due messages for a lease, in one statement so that two
// workers (or two processes) never take the same message.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.OutboxMail, error) {
	rows, err := s.db.QueryContext(ctx, `UPDATE outbox SET claimed_until = ?, attempts = attempts + 1
		WHERE id IN (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= ? AND claimed_until <= ?
			ORDER BY next_attempt_at, id LIMIT ?)
		RETURNING `+outboxColumns, micro(now.Add(lease)), micro(now), micro(now), limit)
	if err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	defer rows.Close()
	var out []store.OutboxMail
	for rows.Next() {
		m, err := scanMail(rows)
		if err != nil {
			return nil, fmt.Errorf("claim mail: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("claim mail: %w", err)
	}
	return out, nil
}

func (s *Store) markMail(ctx context.Context, m store.OutboxMail, query string, args ...any) error {
	res, err := s.db.ExecContext(ctx, query+` WHERE id = ? AND claimed_until = ? AND status = 'queued'`, append(args, m.ID, micro(m.Claim))...)
	if err != nil {
		return fmt.Errorf("mark mail %d: %w", m.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var exists bool
		if err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE id = ?)`, m.ID).Scan(&exists); err != nil {
			return fmt.Errorf("mark mail %d: %w", m.ID, err)
		}
		if !exists {
			return fmt.Errorf("mark mail %d: %w", m.ID, store.ErrNotFound)
		}
		return fmt.Errorf("mark mail %d: the claim was lost to another sender: %w", m.ID, store.ErrConflict)
	}
	return nil
}

// MarkMailSent records a sent message.
func (s *Store) MarkMailSent(ctx context.Context, m store.OutboxMail, now time.Time) error {
	return s.markMail(ctx, m, `UPDATE outbox SET status = 'sent', claimed_until = 0, last_error = '', done_at = ?`, micro(now))
}

// MarkMailRetry puts a message back in the queue for next.
func (s *Store) MarkMailRetry(ctx context.Context, m store.OutboxMail, next time.Time, reason string) error {
	return s.markMail(ctx, m, `UPDATE outbox SET claimed_until = 0, next_attempt_at = ?, last_error = ?`, micro(next), reason)
}

// MarkMailFailed gives a message up.
func (s *Store) MarkMailFailed(ctx context.Context, m store.OutboxMail, now time.Time, reason string) error {
	return s.markMail(ctx, m, `UPDATE outbox SET status = 'failed', claimed_until = 0, last_error = ?, done_at = ?`, reason, micro(now))
}

// OutboxMail returns one message by its Message-ID.
func (s *Store) OutboxMail(ctx context.Context, messageID string) (store.OutboxMail, error) {
	m, err := scanMail(s.db.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE message_id = ?`, messageID))
	if errors.Is(err, sql.ErrNoRows) {
		return store.OutboxMail{}, fmt.Errorf("mail %s: %w", messageID, store.ErrNotFound)
	}
	if err != nil {
		return store.OutboxMail{}, fmt.Errorf("mail %s: %w", messageID, err)
	}
	return m, nil
}
