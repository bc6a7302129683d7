package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/bantin/bantin/internal/store"
)

// SaveSubscription creates or renews a WebSub subscription.
func (s *Store) SaveSubscription(ctx context.Context, sub store.Subscription) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO websub_subscriptions (topic, callback, secret, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (topic, callback) DO UPDATE SET secret = excluded.secret, expires_at = excluded.expires_at`,
		sub.Topic, sub.Callback, sub.Secret, micro(sub.ExpiresAt), micro(sub.CreatedAt))
	if err != nil {
		return fmt.Errorf("save subscription %s → %s: %w", sub.Topic, sub.Callback, err)
	}
	return nil
}

// DeleteSubscription removes a subscription; a missing one is not an error
// (unsubscribing twice is harmless).
func (s *Store) DeleteSubscription(ctx context.Context, topic, callback string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM websub_subscriptions WHERE topic = $1 AND callback = $2`, topic, callback); err != nil {
		return fmt.Errorf("delete subscription %s → %s: %w", topic, callback, err)
	}
	return nil
}

// Subscriptions lists the subscriptions whose lease runs past now, by topic
// and callback, and deletes those that have run out.
func (s *Store) Subscriptions(ctx context.Context, now time.Time) ([]store.Subscription, error) {
	if _, err := s.pool.Exec(ctx, `DELETE FROM websub_subscriptions WHERE expires_at <= $1`, micro(now)); err != nil {
		return nil, fmt.Errorf("expire subscriptions: %w", err)
	}
	rows, err := s.pool.Query(ctx, `SELECT topic, callback, secret, expires_at, created_at
		FROM websub_subscriptions ORDER BY topic, callback`)
	if err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	defer rows.Close()
	var list []store.Subscription
	for rows.Next() {
		var sub store.Subscription
		var expires, created int64
		if err := rows.Scan(&sub.Topic, &sub.Callback, &sub.Secret, &expires, &created); err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		sub.ExpiresAt, sub.CreatedAt = fromMicro(expires), fromMicro(created)
		list = append(list, sub)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list subscriptions: %w", err)
	}
	return list, nil
}
