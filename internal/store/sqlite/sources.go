package sqlite

import (
	"context"
	"fmt"
	"time"

	"github.com/bantin/bantin/internal/store"
)

// SourceStates returns every upstream feed's state, by name.
func (s *Store) SourceStates(ctx context.Context) ([]store.SourceState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, url, fetch_url, etag, last_modified, last_fetch, last_status,
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
	return out, rows.Err()
}

// SaveSourceState records one upstream feed's state.
func (s *Store) SaveSourceState(ctx context.Context, st store.SourceState) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO sources (name, url, fetch_url, etag, last_modified, last_fetch, last_status,
		last_error, failures, next_poll, entries) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET url = excluded.url, fetch_url = excluded.fetch_url, etag = excluded.etag,
		last_modified = excluded.last_modified, last_fetch = excluded.last_fetch, last_status = excluded.last_status,
		last_error = excluded.last_error, failures = excluded.failures, next_poll = excluded.next_poll, entries = excluded.entries`,
		st.Name, st.URL, st.FetchURL, st.ETag, st.LastModified, microOrZero(st.LastFetch), st.LastStatus,
		st.LastError, st.Failures, microOrZero(st.NextPoll), st.Entries)
	if err != nil {
		return fmt.Errorf("save state of source %s: %w", st.Name, err)
	}
	return nil
}

// microOrZero stores a zero time as 0, not as the microseconds of year 1.
func microOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return micro(t)
}

// fromMicroOrZero reads 0 back as the zero time.
func fromMicroOrZero(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return fromMicro(v)
}
