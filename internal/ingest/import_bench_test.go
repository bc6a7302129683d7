package ingest

import (
	"context"
	"os"
	"testing"
	"time"
)

// BenchmarkImport runs the whole import of a JSON Lines file into a new
// SQLite store in t.TempDir(), the path `bantin ingest` takes, for
// profiling (-cpuprofile). The file is the benchmark's generator's:
//
//	go run ./scripts/bench/genarticles -n 5000 > /tmp/a.jsonl
//	BANTIN_BENCH_JSONL=/tmp/a.jsonl go test ./internal/ingest -run '^$' -bench Import -benchtime 1x -cpuprofile cpu.out
func BenchmarkImport(b *testing.B) {
	path := os.Getenv("BANTIN_BENCH_JSONL")
	if path == "" {
		b.Skip("BANTIN_BENCH_JSONL names no JSON Lines file (see the comment)")
	}
	now := func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }
	created := 0
	for b.Loop() {
		b.StopTimer()
		st := openStore(b)
		im := newTestImporter(b, st, now)
		im.batchSize = 500
		b.StartTimer()
		summary, err := im.Run(context.Background(), Paths([]string{path}, nil, ""), nil)
		if err != nil {
			b.Fatal(err)
		}
		if summary.Rejected > 0 || summary.Created == 0 {
			b.Fatalf("summary %+v; want every article created", summary)
		}
		created += summary.Created
	}
	b.ReportMetric(float64(created)/b.Elapsed().Seconds(), "articles/s")
}
