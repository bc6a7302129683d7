#!/usr/bin/env bash
# Runs the speed benchmarks of the figures table in turn, RUNS times
# (default 3), each run's output kept in OUT (default bench-YYYYmmdd-HHMM):
# digest.sh (unsigned, Ed25519, RSA-2048 beside smtp-source), feeds.sh
# (bantin beside a bare handler, the same with serve's timeouts, and
# nginx), import.sh (SQLite, beside the reference commit) and
# import-pg.sh (PostgreSQL). By hand only: about
# 15 minutes a run on two cores; it wants the machine to itself and binds
# loopback ports. Needs what each script needs (postfix's smtp-sink and
# smtp-source, wrk, nginx, openssl, PostgreSQL for import-pg.sh).
# digest.sh and the imports also run the reference commit BENCH_BASE
# (default 97e9828, the code before this round of speed work) beside this
# tree, interleaved.
#   scripts/bench/all.sh [RUNS [OUT]]
set -euo pipefail
runs=${1:-3}
out=${2:-bench-$(date -u +%Y%m%d-%H%M)}
here=$(cd "$(dirname "$0")" && pwd)
export BENCH_BASE=${BENCH_BASE:-97e9828}
mkdir -p "$out"
for run in $(seq "$runs"); do
  for s in digest.sh feeds.sh import.sh import-pg.sh; do
    echo "== run $run: $s" | tee -a "$out/all.txt"
    bash "$here/$s" 2>&1 | tee "$out/${s%.sh}-$run.txt" | tee -a "$out/all.txt"
  done
done
echo "outputs in $out/"
