package postgres

import (
	"context"
	"fmt"
)

// QueueDepth counts queued outbox messages and deliveries.
func (s *Store) QueueDepth(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM outbox WHERE status = 'queued')
		+ (SELECT count(*) FROM deliveries d JOIN issues i ON i.id = d.issue_id WHERE d.status = 'queued' AND i.status = 'sending')`).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("queue depth: %w", err)
	}
	return n, nil
}

// SubscriberCounts counts subscriptions by status and bounced subscribers.
func (s *Store) SubscriberCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.pool.Query(ctx, `SELECT status, count(*) FROM list_subscriptions GROUP BY status
		UNION ALL SELECT 'bounced', count(*) FROM subscribers WHERE bounced`)
	if err != nil {
		return nil, fmt.Errorf("subscriber counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var status string
		var n int64
		if err := rows.Scan(&status, &n); err != nil {
			return nil, fmt.Errorf("subscriber counts: %w", err)
		}
		out[status] = int(n)
	}
	return out, rows.Err()
}

// Recipients counts the confirmed subscribers of list who are not bounced.
func (s *Store) Recipients(ctx context.Context, list string) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM list_subscriptions l JOIN subscribers s ON s.id = l.subscriber_id
		WHERE l.list = $1 AND l.status = 'confirmed' AND NOT s.bounced`, list).Scan(&n); err != nil {
		return 0, fmt.Errorf("recipients of %s: %w", list, err)
	}
	return n, nil
}
