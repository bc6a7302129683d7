package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/store"
)

// EnqueueMail records a message to send, once per MessageID.
func (s *Store) EnqueueMail(ctx context.Context, m store.OutboxMail) (bool, error) {
	var subscriber *int64
	if m.SubscriberID != 0 {
		subscriber = &m.SubscriberID
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO outbox (message_id, kind, subscriber_id, recipient, payload, next_attempt_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_id) DO NOTHING`,
		m.MessageID, m.Kind, subscriber, m.Recipient, m.Payload, micro(m.NextAttempt), micro(m.CreatedAt))
	if err != nil {
		return false, fmt.Errorf("enqueue mail %s: %w", m.MessageID, err)
	}
	return tag.RowsAffected() == 1, nil
}

const outboxColumns = `id, message_id, kind, COALESCE(subscriber_id, 0), recipient, payload, status, attempts,
	next_attempt_at, last_error, created_at, claimed_until`

func scanMail(row pgx.Row) (store.OutboxMail, error) {
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

// ClaimMail takes due messages for a lease in one statement. SKIP LOCKED
// lets senders in several processes claim at once, each passing over the
// rows another is claiming instead of waiting for them.
func (s *Store) ClaimMail(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]store.OutboxMail, error) {
	rows, err := s.pool.Query(ctx, `UPDATE outbox SET claimed_until = $1, attempts = attempts + 1
		WHERE id IN (SELECT id FROM outbox WHERE status = 'queued' AND next_attempt_at <= $2 AND claimed_until <= $2
			ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
		RETURNING `+outboxColumns, micro(now.Add(lease)), micro(now), limit)
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

// markMail ends the claim m came with by the update set (parameters from
// $3 on); the claim must still be m's.
func (s *Store) markMail(ctx context.Context, m store.OutboxMail, set string, args ...any) error {
	tag, err := s.pool.Exec(ctx, `UPDATE outbox SET `+set+` WHERE id = $1 AND claimed_until = $2 AND status = 'queued'`,
		append([]any{m.ID, micro(m.Claim)}, args...)...)
	if err != nil {
		return fmt.Errorf("mark mail %d: %w", m.ID, err)
	}
	if tag.RowsAffected() == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM outbox WHERE id = $1)`, m.ID).Scan(&exists); err != nil {
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
	return s.markMail(ctx, m, `status = 'sent', claimed_until = 0, last_error = '', done_at = $3`, micro(now))
}

// MarkMailRetry puts a message back in the queue for next.
func (s *Store) MarkMailRetry(ctx context.Context, m store.OutboxMail, next time.Time, reason string) error {
	return s.markMail(ctx, m, `claimed_until = 0, next_attempt_at = $3, last_error = $4`, micro(next), text(reason))
}

// MarkMailFailed gives a message up.
func (s *Store) MarkMailFailed(ctx context.Context, m store.OutboxMail, now time.Time, reason string) error {
	return s.markMail(ctx, m, `status = 'failed', claimed_until = 0, last_error = $3, done_at = $4`, text(reason), micro(now))
}

// OutboxMail returns one message by its Message-ID.
func (s *Store) OutboxMail(ctx context.Context, messageID string) (store.OutboxMail, error) {
	m, err := scanMail(s.pool.QueryRow(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE message_id = $1`, messageID))
	if noRows(err) {
		return store.OutboxMail{}, fmt.Errorf("mail %s: %w", messageID, store.ErrNotFound)
	}
	if err != nil {
		return store.OutboxMail{}, fmt.Errorf("mail %s: %w", messageID, err)
	}
	return m, nil
}
