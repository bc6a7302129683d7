#!/usr/bin/env bash
# Import benchmark: N seed-sized articles (full HTML) from one JSON Lines
# file into a fresh SQLite store, then the same file again (all unchanged).
# Prints articles per second and peak memory (max RSS) of each run.
#   scripts/bench/import.sh [N]      (default 100000)
set -euo pipefail
n=${1:-100000}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
go build -o "$work/bantin" ./cmd/bantin
go run ./scripts/bench/genarticles -n "$n" > "$work/articles.jsonl"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "input:   $n articles, $(du -m "$work/articles.jsonl" | cut -f1) MiB, $(( $(wc -c < "$work/articles.jsonl") / n )) bytes per article"
cd "$work"
for run in first second; do
  /usr/bin/time -f "%e %M" -o time.txt ./bantin ingest articles.jsonl > out.txt
  read -r secs kib < time.txt
  rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  printf '%-7s %s; %s s, %s articles/s, peak RSS %s MB\n' "$run:" "$(cut -d'(' -f1 out.txt | xargs)" "$secs" "$rate" "$((kib / 1024))"
done
echo "store:   $(du -m data/bantin.db | cut -f1) MiB"
