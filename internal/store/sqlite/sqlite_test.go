package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store { return sqlitetest.OpenPath(t, path) }

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) store.Store {
			return open(t, filepath.Join(t.TempDir(), "bantin.db"))
		},
		Reopen: func(t *testing.T, s store.Store) store.Store {
			return open(t, s.(*sqlite.Store).Path())
		},
	})
}

func TestPingReportsPendingMigrations(t *testing.T) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "nested", "dir", "bantin.db"))
	if err != nil {
		t.Fatalf("Open must create missing folders: %v", err)
	}
	defer s.Close()
	if err := s.Ping(ctx); err == nil {
		t.Fatal("Ping on an unmigrated store: no error")
	}
	applied, err := s.Migrate(ctx)
	if err != nil || len(applied) == 0 {
		t.Fatalf("Migrate: applied %v, err %v", applied, err)
	}
	if again, err := s.Migrate(ctx); err != nil || len(again) != 0 {
		t.Fatalf("second Migrate: applied %v, err %v; want nothing", again, err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after Migrate: %v", err)
	}
}
