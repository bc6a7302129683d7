#!/usr/bin/env bash
# Upstream feeds benchmark: 200 sources of 50 entries each on one loopback
# server, polled once into a new SQLite store, then polled again when every
# feed answers 304 (BenchmarkPoll200Sources in internal/ingest). Prints the
# time of each and the peak memory of the process that ran them.
#   scripts/bench/sources.sh [RUNS]      (default 3)
set -euo pipefail
runs=${1:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
go test -c -o "$work/ingest.test" ./internal/ingest
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
cd internal/ingest
/usr/bin/time -f "peak RSS %M KB" "$work/ingest.test" -test.run '^$' -test.bench Poll200Sources -test.benchtime "${runs}x" -test.benchmem 2>&1 |
  awk '/Benchmark/ { printf "%-14s %8.2f s per poll of all 200 sources", substr($1, 25), $3 / 1e9; if ($6 == "entries/s") printf ", %d entries/s", $5; print "" } /peak RSS/ { printf "%s (%d MB)\n", $0, $3 / 1024 }'
