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

// emailKey is how addresses are compared: without case.
func emailKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// SaveSubscriber creates a subscriber or returns the existing one.
func (s *Store) SaveSubscriber(ctx context.Context, sub store.Subscriber, now time.Time) (store.Subscriber, error) {
	key := emailKey(sub.Email)
	if key == "" {
		return store.Subscriber{}, fmt.Errorf("save subscriber: empty address")
	}
	_, err := s.db.ExecContext(ctx, `INSERT INTO subscribers (email, email_key, name, language, created_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (email_key) DO NOTHING`,
		strings.TrimSpace(sub.Email), key, sub.Name, sub.Language, micro(now))
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("save subscriber %s: %w", store.AddressRef(key), err)
	}
	return s.SubscriberByEmail(ctx, key)
}

const subscriberColumns = `id, email, name, language, bounces, bounced, created_at`

// subscriber reads one subscriber; ref names it in errors (an id or an
// AddressRef, never the address: errors reach the log).
func (s *Store) subscriber(ctx context.Context, where string, arg any, ref string) (store.Subscriber, error) {
	var sub store.Subscriber
	var created int64
	err := s.db.QueryRowContext(ctx, `SELECT `+subscriberColumns+` FROM subscribers WHERE `+where, arg).
		Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Language, &sub.Bounces, &sub.Bounced, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return store.Subscriber{}, fmt.Errorf("subscriber %s: %w", ref, store.ErrNotFound)
	}
	if err != nil {
		return store.Subscriber{}, fmt.Errorf("subscriber %s: %w", ref, err)
	}
	sub.CreatedAt = fromMicro(created)
	one := []store.Subscriber{sub}
	if err := s.fillSubscribers(ctx, one); err != nil {
		return store.Subscriber{}, err
	}
	return one[0], nil
}

// fillSubscribers reads the lists and categories of subscribers, a few
// hundred at a time, rather than two queries per subscriber: a list of
// twenty thousand is read in a few hundred queries.
func (s *Store) fillSubscribers(ctx context.Context, subs []store.Subscriber) error {
	index := make(map[int64]int, len(subs))
	for i := range subs {
		subs[i].Lists = map[string]store.SubscriptionStatus{}
		subs[i].Categories = nil
		index[subs[i].ID] = i
	}
	for start := 0; start < len(subs); start += chunk {
		ids := make([]any, 0, chunk)
		for _, sub := range subs[start:min(start+chunk, len(subs))] {
			ids = append(ids, sub.ID)
		}
		in := `(` + placeholders(len(ids)) + `)`
		rows, err := s.db.QueryContext(ctx, `SELECT subscriber_id, list, status FROM list_subscriptions WHERE subscriber_id IN `+in, ids...)
		if err != nil {
			return fmt.Errorf("subscriber lists: %w", err)
		}
		for rows.Next() {
			var id int64
			var list, status string
			if err := rows.Scan(&id, &list, &status); err != nil {
				rows.Close()
				return fmt.Errorf("subscriber lists: %w", err)
			}
			subs[index[id]].Lists[list] = store.SubscriptionStatus(status)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("subscriber lists: %w", err)
		}
		rows, err = s.db.QueryContext(ctx, `SELECT subscriber_id, category FROM subscriber_categories WHERE subscriber_id IN `+in+` ORDER BY category`, ids...)
		if err != nil {
			return fmt.Errorf("subscriber categories: %w", err)
		}
		for rows.Next() {
			var id int64
			var c string
			if err := rows.Scan(&id, &c); err != nil {
				rows.Close()
				return fmt.Errorf("subscriber categories: %w", err)
			}
			subs[index[id]].Categories = append(subs[index[id]].Categories, c)
		}
		if err := rows.Close(); err != nil {
			return fmt.Errorf("subscriber categories: %w", err)
		}
	}
	return nil
}

// Subscriber returns a subscriber by id.
func (s *Store) Subscriber(ctx context.Context, id int64) (store.Subscriber, error) {
	return s.subscriber(ctx, "id = ?", id, fmt.Sprint(id))
}

// SubscriberByEmail returns a subscriber by address, without case.
func (s *Store) SubscriberByEmail(ctx context.Context, email string) (store.Subscriber, error) {
	return s.subscriber(ctx, "email_key = ?", emailKey(email), store.AddressRef(email))
}

// SetListStatus sets the status of one list subscription.
func (s *Store) SetListStatus(ctx context.Context, subscriberID int64, list string, status store.SubscriptionStatus, now time.Time) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO list_subscriptions (subscriber_id, list, status, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (subscriber_id, list) DO UPDATE SET status = excluded.status, updated_at = excluded.updated_at`,
		subscriberID, list, string(status), micro(now))
	if err != nil && strings.Contains(err.Error(), "FOREIGN KEY") {
		return fmt.Errorf("subscriber %d: %w", subscriberID, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("subscriber %d list %s: %w", subscriberID, list, err)
	}
	return nil
}

// SetCategories replaces a subscriber's category preferences.
func (s *Store) SetCategories(ctx context.Context, subscriberID int64, categories []string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("subscriber %d categories: %w", subscriberID, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `DELETE FROM subscriber_categories WHERE subscriber_id = ?`, subscriberID); err != nil {
		return fmt.Errorf("subscriber %d categories: %w", subscriberID, err)
	}
	for _, c := range categories {
		if _, err := tx.ExecContext(ctx, `INSERT INTO subscriber_categories (subscriber_id, category) VALUES (?, ?)
			ON CONFLICT DO NOTHING`, subscriberID, c); err != nil {
			if strings.Contains(err.Error(), "FOREIGN KEY") {
				return fmt.Errorf("subscriber %d: %w", subscriberID, store.ErrNotFound)
			}
			return fmt.Errorf("subscriber %d categories: %w", subscriberID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("subscriber %d categories: %w", subscriberID, err)
	}
	return nil
}

// ListSubscribers lists a list's subscribers with status, by address.
func (s *Store) ListSubscribers(ctx context.Context, list string, status store.SubscriptionStatus) ([]store.Subscriber, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT s.id, s.email, s.name, s.language, s.bounces, s.bounced, s.created_at
		FROM subscribers s JOIN list_subscriptions l ON l.subscriber_id = s.id
		WHERE l.list = ? AND l.status = ? ORDER BY s.email_key`, list, string(status))
	if err != nil {
		return nil, fmt.Errorf("subscribers of %s: %w", list, err)
	}
	var subs []store.Subscriber
	for rows.Next() {
		var sub store.Subscriber
		var created int64
		if err := rows.Scan(&sub.ID, &sub.Email, &sub.Name, &sub.Language, &sub.Bounces, &sub.Bounced, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("subscribers of %s: %w", list, err)
		}
		sub.CreatedAt = fromMicro(created)
		subs = append(subs, sub)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("subscribers of %s: %w", list, err)
	}
	if err := s.fillSubscribers(ctx, subs); err != nil {
		return nil, err
	}
	return subs, nil
}

// RecordBounce counts a hard bounce and reports whether the subscriber is
// now bounced.
func (s *Store) RecordBounce(ctx context.Context, subscriberID int64, limit int) (bool, error) {
	var bounced bool
	err := s.db.QueryRowContext(ctx, `UPDATE subscribers SET bounces = bounces + 1,
		bounced = CASE WHEN bounces + 1 >= ? THEN 1 ELSE bounced END
		WHERE id = ? RETURNING bounced`, limit, subscriberID).Scan(&bounced)
	if errors.Is(err, sql.ErrNoRows) {
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
	res, err := s.db.ExecContext(ctx, `DELETE FROM subscribers WHERE email_key = ?`, emailKey(email))
	if err != nil {
		return fmt.Errorf("erase subscriber %s: %w", store.AddressRef(email), err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("erase subscriber %s: %w", store.AddressRef(email), store.ErrNotFound)
	}
	return nil
}

// RenamePending sets the name of a subscriber confirmed on no list.
func (s *Store) RenamePending(ctx context.Context, subscriberID int64, name string) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE subscribers SET name = ? WHERE id = ? AND name <> ?
		AND NOT EXISTS (SELECT 1 FROM list_subscriptions l WHERE l.subscriber_id = subscribers.id AND l.status = 'confirmed')`,
		name, subscriberID, name)
	if err != nil {
		return false, fmt.Errorf("rename subscriber %d: %w", subscriberID, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// ClaimConfirmation records a confirmation email to send at now, unless
// one went after now-every. One UPDATE decides, so two processes cannot
// both send.
func (s *Store) ClaimConfirmation(ctx context.Context, subscriberID int64, now time.Time, every time.Duration) (bool, error) {
	res, err := s.db.ExecContext(ctx, `UPDATE subscribers SET confirm_sent_at = ?
		WHERE id = ? AND (confirm_sent_at IS NULL OR confirm_sent_at <= ?)`,
		micro(now), subscriberID, micro(now.Add(-every)))
	if err != nil {
		return false, fmt.Errorf("confirmation for subscriber %d: %w", subscriberID, err)
	}
	n, _ := res.RowsAffected()
	if n == 0 {
		if _, err := s.Subscriber(ctx, subscriberID); err != nil {
			return false, err
		}
	}
	return n > 0, nil
}

// DeleteStalePending deletes pending subscriptions older than before and
// the subscribers left on no list, in one transaction.
func (s *Store) DeleteStalePending(ctx context.Context, before time.Time) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	defer tx.Rollback()
	cut := micro(before)
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM list_subscriptions WHERE status = 'pending' AND updated_at < ?`, cut).Scan(&n); err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	if n == 0 {
		return 0, nil
	}
	// Subscribers whose every list is a stale sign-up go whole (their
	// queued confirmation mail with them, by the foreign keys); others
	// keep their other lists.
	if _, err := tx.ExecContext(ctx, `DELETE FROM subscribers WHERE id IN (
			SELECT subscriber_id FROM list_subscriptions WHERE status = 'pending' AND updated_at < ?)
		AND NOT EXISTS (SELECT 1 FROM list_subscriptions l WHERE l.subscriber_id = subscribers.id
			AND NOT (l.status = 'pending' AND l.updated_at < ?))`, cut, cut); err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM list_subscriptions WHERE status = 'pending' AND updated_at < ?`, cut); err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("delete stale sign-ups: %w", err)
	}
	return n, nil
}
