#!/usr/bin/env bash
# Import benchmark on PostgreSQL: N seed-sized articles (full HTML) from one
# JSON Lines file into a fresh database, then the same file again (all
# unchanged), by a reference build and by this tree, interleaved (reference
# first, then this tree, for each run). Prints articles per second, bantin's
# CPU (user + system) per article and peak memory (max RSS), the ratio of
# this tree's rate to the reference's and to the bar of 10,000 articles/s.
# The server's own CPU is not in bantin's figures; when the server runs on
# this machine (its processes readable in /proc) each row gives it too: the
# user + system time of the postmaster and all its processes, those that
# exited during the import included (the postmaster's children times), so
# other clients of the same server count too. Needs psql and a server where the script may
# create and drop its two databases (bantin_bench_import_ref, _new).
#   BENCH_PG=postgres://postgres@127.0.0.1:5432 scripts/bench/import-pg.sh [N]   (default 100000)
#   BENCH_BASE=rev   the reference (default 97e9828, the code of the day the
#                    import issue was filed), built from git archive
#   BENCH_NEW=rev    build the new side from a commit too (default: the
#                    working tree)
set -euo pipefail
n=${1:-100000}
base=${BENCH_BASE:-97e9828}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
bar=10000
export PGOPTIONS="-c client_min_messages=warning"
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
command -v psql >/dev/null || { echo "psql not found: apt-get install postgresql-client" >&2; exit 1; }
dropdbs() {
  for side in ref new; do psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS bantin_bench_import_$side" 2>/dev/null || true; done
}
trap 'dropdbs; rm -rf "$work"' EXIT
cd "$root"
. "$root/scripts/bench/build.sh"
mkdir -p "$work/ref" "$work/new"
build_bantin "$base" "$work/ref/bantin"
build_bantin "${BENCH_NEW:-}" "$work/new/bantin"
go run ./scripts/bench/genarticles -n "$n" > "$work/articles.jsonl"
for side in ref new; do
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS bantin_bench_import_$side" -c "CREATE DATABASE bantin_bench_import_$side"
  mkdir -p "$work/$side/config"
  cat > "$work/$side/config/bantin.yaml" <<YAML
site: {title: Báo Mẫu, base_url: "https://baomau.vn"}
storage: {driver: postgres, dsn: "$pg/bantin_bench_import_$side?sslmode=disable"}
log: {level: warn}
YAML
done
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load average $(cut -d' ' -f1-3 /proc/loadavg) at start"
echo "server:  $(psql -tA "$pg/postgres" -c 'SHOW server_version') at ${pg#*@}"
echo "input:   $n articles, $(du -m "$work/articles.jsonl" | cut -f1) MiB, $(( $(wc -c < "$work/articles.jsonl") / n )) bytes per article"
echo "ref:     $base ($(git -C "$root" log -1 --format=%h "$base")); new: ${BENCH_NEW:-working tree at $(git -C "$root" log -1 --format=%h HEAD)}"
# The server's processes: the postmaster is the checkpointer's parent.
postmaster=$(psql -tA "$pg/postgres" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'" 2>/dev/null | xargs -r ps -o ppid= -p 2>/dev/null | xargs || true)
server_ticks() { # CPU ticks of the postmaster, its live children and the children it reaped
  [ -n "$postmaster" ] && [ -r "/proc/$postmaster/stat" ] || { echo -1; return; }
  local total pid
  total=$(sed 's/.*) //' "/proc/$postmaster/stat" | awk '{ print $12 + $13 + $14 + $15 }')
  for pid in $(ps -o pid= --ppid "$postmaster"); do
    [ -r "/proc/$pid/stat" ] && total=$((total + $(sed 's/.*) //' "/proc/$pid/stat" | awk '{ print $12 + $13 }')))
  done
  echo "$total"
}
children() { ps -o pid= --ppid "$postmaster" | wc -l; }
hz=$(getconf CLK_TCK)
declare -A rate
measure() { # measure SIDE RUN: one import with SIDE's build and database; prints its row
  # The file just written, or the other side's store, is still being
  # written back: without this the side that runs first paid for it
  # (about 9% in a test of two identical builds).
  sync; sleep 1
  local before after server idle i
  [ -n "$postmaster" ] && idle=$(children)
  before=$(server_ticks)
  (cd "$work/$1" && /usr/bin/time -f "%e %U %S %M" -o time.txt ./bantin ingest ../articles.jsonl > out.txt)
  # bantin's backends end after it does: wait (up to 5 s) for the
  # postmaster to reap them, so that their time is in its children's.
  for i in $(seq 50); do [ -z "$postmaster" ] || [ "$(children)" -le "$idle" ] && break; sleep 0.1; done
  after=$(server_ticks)
  read -r secs user sys kib < "$work/$1/time.txt"
  server="server CPU n/a"
  if [ "$before" -ge 0 ] && [ "$after" -ge 0 ]; then
    server=$(awk -v t="$((after - before))" -v hz="$hz" -v n="$n" 'BEGIN { printf "server CPU %.2f s (%.0f µs/article)", t / hz, t / hz * 1e6 / n }')
  fi
  rate[$1]=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
  cpu=$(awk -v n="$n" -v u="$user" -v s="$sys" 'BEGIN { printf "%.0f", (u + s) * 1e6 / n }')
  printf '%-7s %-4s %s; %s s, %s articles/s, bantin CPU %s+%s s (%s µs/article), %s, peak RSS %s MB\n' \
    "$2:" "$1" "$(cut -d'(' -f1 "$work/$1/out.txt" | xargs)" "$secs" "${rate[$1]}" "$user" "$sys" "$cpu" "$server" "$((kib / 1024))"
}
for run in first second; do
  measure ref $run
  measure new $run
  printf '%-7s new/ref %s×; new/bar (%s/s) %s×\n' "$run:" \
    "$(awk -v a="${rate[new]}" -v b="${rate[ref]}" 'BEGIN { printf "%.2f", a / b }')" "$bar" \
    "$(awk -v a="${rate[new]}" -v b="$bar" 'BEGIN { printf "%.2f", a / b }')"
done
