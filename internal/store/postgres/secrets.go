package postgres

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"
)

// Secret returns the secret called name, making it (size random bytes) the
// first time. Two processes asking at once get the same secret: the insert
// that loses does nothing and both read the winner's.
func (s *Store) Secret(ctx context.Context, name string, size int) ([]byte, error) {
	fresh := make([]byte, size)
	if _, err := rand.Read(fresh); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO secrets (name, value, created_at) VALUES ($1, $2, $3)
		ON CONFLICT (name) DO NOTHING`, name, fresh, micro(time.Now())); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	var value []byte
	if err := s.pool.QueryRow(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&value); err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return value, nil
}
