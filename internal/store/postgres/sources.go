package postgres

import (
	"context"
	"fmt"

	"github.com/bantin/bantin/internal/store"
)

// SourceStates returns every upstream feed's state, by name.
func (s *Store) SourceStates(ctx context.Context) ([]store.SourceState, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, url, fetch_url, etag, last_modified, last_fetch, last_status,
		last_error, failures, next_poll, entries FROM sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("source states: %w", err)
	}
	defer rows.Close()
	var out []store.SourceState
	for rows.Next() {
		var st store.SourceState
		var fetched, next int64
		if err := rows.Scan(&st.Name, &st.URL, &st.FetchURL, &st.ETag, &st.LastModified, &fetched, &st.LastStatus,
			&st.LastError, &st.Failures, &next, &st.Entries); err != nil {
			return nil, fmt.Errorf("source states: %w", err)
		}
		st.LastFetch, st.NextPoll = fromMicroOrZero(fetched), fromMicroOrZero(next)
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("source states: %w", err)
	}
	return out, nil
}

// SaveSourceState records one upstream feed's state.
func (s *Store) SaveSourceState(ctx context.Context, st store.SourceState) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO sources (name, url, fetch_url, etag, last_modified, last_fetch, last_status,
		last_error, failures, next_poll, entries) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		ON CONFLICT (name) DO UPDATE SET url = excluded.url, fetch_url = excluded.fetch_url, etag = excluded.etag,
		last_modified = excluded.last_modified, last_fetch = excluded.last_fetch, last_status = excluded.last_status,
		last_error = excluded.last_error, failures = excluded.failures, next_poll = excluded.next_poll, entries = excluded.entries`,
		st.Name, st.URL, text(st.FetchURL), text(st.ETag), text(st.LastModified), microOrZero(st.LastFetch), st.LastStatus,
		text(st.LastError), st.Failures, microOrZero(st.NextPoll), st.Entries)
	if err != nil {
		return fmt.Errorf("save state of source %s: %w", st.Name, err)
	}
	return nil
}
