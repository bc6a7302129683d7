// Package pgtest gives tests a PostgreSQL database of their own: an empty
// schema on BANTIN_TEST_POSTGRES_DSN, dropped when the test ends.
package pgtest

import (
	"context"
	"crypto/rand"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DSN returns the database the tests use, or skips the test when none
// is set (and fails it when BANTIN_TEST_ALL=1 asks for every suite).
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("BANTIN_TEST_POSTGRES_DSN")
	if dsn == "" {
		const why = "BANTIN_TEST_POSTGRES_DSN is not set (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable)"
		if os.Getenv("BANTIN_TEST_ALL") == "1" {
			t.Fatal(why + ", and BANTIN_TEST_ALL=1 asks for every suite")
		}
		t.Skip(why)
	}
	return dsn
}

// withSearchPath returns dsn with its sessions using schema.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	return WithParam(t, dsn, "search_path", schema)
}

// WithParam returns dsn with a run-time parameter set for its sessions.
func WithParam(t testing.TB, dsn, key, value string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("BANTIN_TEST_POSTGRES_DSN does not parse: %v", err)
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " " + key + "=" + value
}

// Schema makes an empty schema, dropped with all it holds when the test
// ends, and returns a DSN whose sessions use it.
func Schema(t testing.TB) string {
	t.Helper()
	dsn := DSN(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to BANTIN_TEST_POSTGRES_DSN: %v", err)
	}
	defer conn.Close(ctx)
	schema := "bantin_test_" + rand.Text()[:12]
	schema = strings.ToLower(schema)
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP SCHEMA `+schema+` CASCADE`); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, dsn, schema)
}
