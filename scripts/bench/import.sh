#!/usr/bin/env bash
# Import benchmark: N seed-sized articles (full HTML) from one JSON Lines
# file into a fresh SQLite store, then the same file again (all unchanged),
# by a reference build and by this tree, interleaved (reference first, then
# this tree, for each run), so that both see the same machine load. Prints
# articles per second, CPU (user + system) per article and peak memory (max
# RSS) of each, and the ratio of this tree's rate to the reference's.
#   scripts/bench/import.sh [N]      (default 100000)
#   BENCH_BASE=rev   the reference (default 97e9828, the code of the day the
#                    import issue was filed), built from git archive
#   BENCH_NEW=rev    build the new side from a commit too (default: the
#                    working tree)
set -euo pipefail
n=${1:-100000}
base=${BENCH_BASE:-97e9828}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
. "$root/scripts/bench/build.sh"
mkdir -p "$work/ref" "$work/new"
build_bantin "$base" "$work/ref/bantin"
build_bantin "${BENCH_NEW:-}" "$work/new/bantin"
go run ./scripts/bench/genarticles -n "$n" > "$work/articles.jsonl"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "input:   $n articles, $(du -m "$work/articles.jsonl" | cut -f1) MiB, $(( $(wc -c < "$work/articles.jsonl") / n )) bytes per article"
echo "ref:     $base ($(git -C "$root" log -1 --format=%h "$base")); new: ${BENCH_NEW:-working tree at $(git -C "$root" log -1 --format=%h HEAD)}"
declare -A rate
measure() { # measure SIDE RUN: one import into $work/SIDE; prints its row
  # The file just written, or the other side's store, is still being
  # written back: without this the side that runs first paid for it
  # (about 9% in a test of two identical builds).
  sync; sleep 1
  (cd "$work/$1" && /usr/bin/time -f "%e %U %S %M" -o time.txt ./bantin ingest ../articles.jsonl > out.txt)
  read -r secs user sys kib < "$work/$1/time.txt"
  rate[$1]=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  cpu=$(awk -v n="$n" -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", (u + s) * 1e6 / n }')
  printf '%-7s %-4s %s; %s s, %s articles/s, CPU %s+%s s (%s µs/article), peak RSS %s MB\n' \
    "$2:" "$1" "$(cut -d'(' -f1 "$work/$1/out.txt" | xargs)" "$secs" "${rate[$1]}" "$user" "$sys" "$cpu" "$((kib / 1024))"
}
for run in first second; do
  measure ref $run
  measure new $run
  printf '%-7s new/ref %s×\n' "$run:" "$(awk -v a="${rate[new]}" -v b="${rate[ref]}" 'BEGIN { printf "%.2f", a / b }')"
done
echo "store:   ref $(du -m "$work/ref/data/bantin.db" | cut -f1) MiB, new $(du -m "$work/new/data/bantin.db" | cut -f1) MiB"
