package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/store"
)

// emailKey is how addresses are compared: without case. It is the SQLite
// store's rule, so that both backends agree on who is the same person.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// SaveSubscriber creates a subscriber or returns the existing one.
func (s *Store) SaveSubscriber(ctx context.Context, sub store.Subscriber, now time.Time) (store.Subscriber, error) {
	key := emailKey(sub.Email)
	if key == "" {
		return store.Subscriber{}, fmt.Errorf("save subscriber: empty address")
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO subscribers (email, email_key, name, language, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (email_key) DO NOTHING`,
		strings.TrimSpace(sub.Email), key, sub.Name, sub.Language, micro(now))
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("save subscriber %s: %w", store.AddressRef(key), err)
	}
	return s.SubscriberByEmail(ctx, key)
}

const subscriberColumns = `s.id, s.email, s.name, s.language, s.bounces, s.bounced, s.created_at`

// subscriber reads one subscriber; ref names it in errors (an id or an
// AddressRef, never the address: errors reach the log).
func (s *Store) subscriber(ctx context.Context, where string, arg any, ref string) (store.Subscriber, error) {
	subs, err := s.querySubscribers(ctx, `SELECT `+subscriberColumns+` FROM subscribers s WHERE `+where, arg)
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("subscriber %s: %w", ref, err)
	}
	if len(subs) == 0 {
		return store.Subscriber{}, fmt.Errorf("subscriber %s: %w", ref, store.ErrNotFound)
	}
	return subs[0], nil
}

// querySubscribers reads subscriber rows, then the lists and categories of
// all of them in two more queries rather than two per subscriber.
func (s *Store) querySubscribers(ctx context.Context, sql string, args ...any) ([]store.Subscriber, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var subs []store.Subscriber
	index := map[int64]int{}
	for rows.Next() {
		var sub store.Subscriber
		var created int64
		if err := rows.Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Language, &sub.Bounces, &sub.Bounced, &created); err != nil {
			return nil, err
		}
		sub.CreatedAt = fromMicro(created)
		sub.Lists = map[string]store.SubscriptionStatus{}
		index[sub.ID] = len(subs)
		subs = append(subs, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(subs) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(subs))
	for i, sub := range subs {
		ids[i] = sub.ID
	}
	lrows, err := s.pool.Query(ctx, `SELECT subscriber_id, list, status FROM list_subscriptions WHERE subscriber_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("subscriber lists: %w", err)
	}
	defer lrows.Close()
	for lrows.Next() {
		var id int64
		var list, status string
		if err := lrows.Scan(&id, &list, &status); err != nil {
			return nil, fmt.Errorf("subscriber lists: %w", err)
		}
		subs[index[id]].Lists[list] = store.SubscriptionStatus(status)
	}
	if err := lrows.Err(); err != nil {
		return nil, fmt.Errorf("subscriber lists: %w", err)
	}
	crows, err := s.pool.Query(ctx, `SELECT subscriber_id, category FROM subscriber_categories WHERE subscriber_id = ANY($1) ORDER BY category`, ids)
	if err != nil {
		return nil, fmt.Errorf("subscriber categories: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		var id int64
		var c string
		if err := crows.Scan(&id, &c); err != nil {
			return nil, fmt.Errorf("subscriber categories: %w", err)
		}
		subs[index[id]].Categories = append(subs[index[id]].Categories, c)
	}
	if err := crows.Err(); err != nil {
		return nil, fmt.Errorf("subscriber categories: %w", err)
	}
	return subs, nil
}

// Subscriber returns a subscriber by id.
func (s *Store) Subscriber(ctx context.Context, id int64) (store.Subscriber, error) {
	return s.subscriber(ctx, "s.id = $1", id, fmt.Sprint(id))
}

// SubscriberByEmail returns a subscriber by address, without case.
func (s *Store) SubscriberByEmail(ctx context.Context, email string) (store.Subscriber, error) {
	return s.subscriber(ctx, "s.email_key = $1", emailKey(email), store.AddressRef(email))
}

// SetListStatus sets the status of one list subscription.
func (s *Store) SetListStatus(ctx context.Context, subscriberID int64, list string, status store.SubscriptionStatus, now time.Time) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO list_subscriptions (subscriber_id, list, status, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (subscriber_id, list) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
		subscriberID, list, string(status), micro(now))
	if isCode(err, foreignKeyViolation) {
		return fmt.Errorf("subscriber %d: %w", subscriberID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("subscriber %d list %s: %w", subscriberID, list, err)
	}
	return nil
}

// SetCategories replaces a subscriber's category preferences.
func (s *Store) SetCategories(ctx context.Context, subscriberID int64, categories []string) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("subscriber %d categories: %w", subscriberID, err)
	}
	defer rollback(tx)
	if _, err := tx.Exec(ctx, `DELETE FROM subscriber_categories WHERE subscriber_id = $1`, subscriberID); err != nil {
		return fmt.Errorf("subscriber %d categories: %w", subscriberID, err)
	}
	if categories == nil {
		categories = []string{}
	}
	_, err = tx.Exec(ctx, `INSERT INTO subscriber_categories (subscriber_id, category)
		SELECT $1, c FROM unnest($2::text[]) AS c ON CONFLICT DO NOTHING`, subscriberID, categories)
	if isCode(err, foreignKeyViolation) {
		return fmt.Errorf("subscriber %d: %w", subscriberID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("subscriber %d categories: %w", subscriberID, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("subscriber %d categories: %w", subscriberID, err)
	}
	return nil
}

// ListSubscribers lists a list's subscribers with status, by address.
func (s *Store) ListSubscribers(ctx context.Context, list string, status store.SubscriptionStatus) ([]store.Subscriber, error) {
	subs, err := s.querySubscribers(ctx, `SELECT `+subscriberColumns+`
		FROM subscribers s JOIN list_subscriptions l ON l.subscriber_id = s.id
		WHERE l.list = $1 AND l.status = $2 ORDER BY s.email_key`, list, string(status))
	if err != nil {
		return nil, fmt.Errorf("subscribers of %s: %w", list, err)
	}
	return subs, nil
}

// RecordBounce counts a hard bounce and reports whether the subscriber is
// now bounced.
func (s *Store) RecordBounce(ctx context.Context, subscriberID int64, limit int) (bool, error) {
	var bounced bool
	err := s.pool.QueryRow(ctx, `UPDATE subscribers SET bounces = bounces + 1,
		bounced = bounced OR bounces + 1 >= $1
		WHERE id = $2 RETURNING bounced`, limit, subscriberID).Scan(&bounced)
	if noRows(err) {
		return false, fmt.Errorf("subscriber %d: %w", subscriberID, store.ErrNotFound)
	}
	if err != nil {
		return false, fmt.Errorf("subscriber %d bounce: %w", subscriberID, err)
	}
	return bounced, nil
}

// EraseSubscriber deletes a subscriber and, through the foreign keys,
// everything that names them.
func (s *Store) EraseSubscriber(ctx context.Context, email string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM subscribers WHERE email_key = $1`, emailKey(email))
	if err != nil {
		return fmt.Errorf("erase subscriber %s: %w", store.AddressRef(email), err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("erase subscriber %s: %w", store.AddressRef(email), store.ErrNotFound)
	}
	return nil
}

// RenamePending sets the name of a subscriber confirmed on no list.
func (s *Store) RenamePending(ctx context.Context, subscriberID int64, name string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE subscribers SET name = $1 WHERE id = $2 AND name <> $1
		AND NOT EXISTS (SELECT 1 FROM list_subscriptions l WHERE l.subscriber_id = subscribers.id AND l.status = 'confirmed')`,
		name, subscriberID)
	if err != nil {
		return false, fmt.Errorf("rename subscriber %d: %w", subscriberID, err)
	}
	return tag.RowsAffected() > 0, nil
}

// ClaimConfirmation records a confirmation email to send at now, unless
// one went after now-every. One UPDATE decides (the row lock orders two
// processes), so two cannot both send.
func (s *Store) ClaimConfirmation(ctx context.Context, subscriberID int64, now time.Time, every time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `UPDATE subscribers SET confirm_sent_at = $1
		WHERE id = $2 AND (confirm_sent_at IS NULL OR confirm_sent_at <= $3)`,
		micro(now), subscriberID, micro(now.Add(-every)))
	if err != nil {
		return false, fmt.Errorf("confirmation for subscriber %d: %w", subscriberID, err)
	}
	if tag.RowsAffected() == 0 {
		if _, err := s.Subscriber(ctx, subscriberID); err != nil {
			return false, err
		}
	}
	return tag.RowsAffected() > 0, nil
}

// DeleteStalePending deletes pending subscriptions older than before and
// the subscribers left on no list, in one transaction.
func (s *Store) DeleteStalePending(ctx context.Context, before time.Time) (int, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	defer rollback(tx)
	rows, err := tx.Query(ctx, `DELETE FROM list_subscriptions WHERE status = 'pending' AND updated_at < $1
		RETURNING subscriber_id`, micro(before))
	if err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// Those left on no list at all go whole, their queued confirmation
	// mail with them (by the foreign keys); others keep their other lists.
	if _, err := tx.Exec(ctx, `DELETE FROM subscribers WHERE id = ANY($1)
		AND NOT EXISTS (SELECT 1 FROM list_subscriptions l WHERE l.subscriber_id = subscribers.id)`, ids); err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	return len(ids), nil
}
