package article

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestDatesBetween1970And5YearsAhead: a date before 1970 (Go's zero time,
// which used to become "now") or more than 5 years ahead is refused,
// naming the field; a date up to 5 years ahead schedules the article.
func TestDatesBetween1970And5YearsAhead(t *testing.T) {
	n := testNormalizer(t)
	now := time.Date(2024, 12, 22, 7, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, published, updated string
		field, reason            string
	}{
		{"zero time", "0001-01-01T00:00:00Z", "", "published_at", "before 1970-01-01"},
		{"1969", "1969-12-31T23:59:59Z", "", "published_at", "before 1970-01-01"},
		{"six years ahead", "2030-12-23T00:00:00Z", "", "published_at", "more than 5 years ahead; a scheduled article is published within 5 years"},
		{"typo year", "2204-03-28T08:00:00+07:00", "", "published_at", "more than 5 years ahead"},
		{"updated zero", "2024-03-28T08:00:00+07:00", "0001-01-01T00:00:00Z", "updated_at", "before 1970-01-01"},
		{"updated far ahead", "2024-03-28T08:00:00+07:00", "2100-01-01T00:00:00Z", "updated_at", "more than 5 years ahead"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Normalize(Input{Title: "x", Summary: "x", PublishedAt: tc.published, UpdatedAt: tc.updated}, now)
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !strings.Contains(fe.Reason, tc.reason) || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v, want a FieldError on %s saying %q", err, tc.field, tc.reason)
			}
		})
	}
	for _, ok := range []string{"1970-01-01T00:00:00Z", "2024-03-28T08:00:00+07:00", "2029-12-22T07:00:00Z"} {
		a, err := n.Normalize(Input{Title: "x", Summary: "x", PublishedAt: ok}, now)
		if err != nil {
			t.Errorf("published_at %s: %v, want it taken", ok, err)
		}
		if want, _ := time.Parse(time.RFC3339, ok); !a.PublishedAt.Equal(want) {
			t.Errorf("published_at %s stored as %s", ok, a.PublishedAt)
		}
	}
}
