#!/usr/bin/env bash
# Digest benchmark on PostgreSQL: the issue of digest.sh (20 articles, N
# subscribers) sent by 1, 2 and 3 bantin processes sharing one database,
# into one smtp-sink, beside smtp-source -d with as many connections in all.
# The first process makes the issue and sends; the others join it a moment
# later and take their share of the deliveries (claims with SKIP LOCKED).
# Needs Debian's postfix (smtp-sink, smtp-source; nothing is started) and a
# PostgreSQL server where the script may drop and create a database.
#   BENCH_PG=postgres://postgres@127.0.0.1:5432 scripts/bench/digest-pg.sh [N] [CONNECTIONS]
set -euo pipefail
n=${1:-20000}
conns=${2:-4}
port=${BENCH_SMTP_PORT:-2525}
pg=${BENCH_PG:-postgres://postgres@127.0.0.1:5432}
db=bantin_bench_digest
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
sink_pid=
cleanup() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
PATH=$PATH:/usr/sbin
for tool in smtp-sink smtp-source psql; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install postfix postgresql-client" >&2; exit 1; }
done
cd "$root"
go build -o "$work/bantin" ./cmd/bantin
go run ./scripts/bench/genarticles -n 20 -start "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)" > "$work/articles.jsonl"
cd "$work"
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "doc-gia-%06d@example.vn,Độc giả %d\n", i, i }' > subs.csv
mkdir -p config
cat > config/bantin.yaml <<EOF
site: {title: Báo Mẫu, base_url: "https://baomau.vn"}
storage: {driver: postgres, dsn: "$pg/$db?sslmode=disable"}
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *", max_articles: 20}
mail:
  from: "Báo Mẫu <bantin@baomau.vn>"
  transport: smtp
  smtp: {host: 127.0.0.1, port: $port, tls: none, connections: $conns}
log: {level: warn}
EOF
fresh() {
  psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
  ./bantin ingest articles.jsonl > /dev/null
  ./bantin subscribers import sang subs.csv --confirmed > /dev/null
}
fresh
size=$(./bantin digest preview sang --format eml 2>/dev/null | wc -c)
echo "machine:  $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "issue:    20 articles, $n subscribers, $size-byte messages, $conns connections a process, PostgreSQL"
smtp-sink -u "$(id -un)" -R "$work" 127.0.0.1:$port 256 &
sink_pid=$!
sleep 0.5
for procs in 1 2 3; do
  start=$(date +%s.%N)
  smtp-source -d -s $((conns * procs)) -l "$size" -m "$n" -f bantin@baomau.vn -t doc-gia@example.vn 127.0.0.1:$port
  base=$(echo "$n / ($(date +%s.%N) - $start)" | bc)
  fresh
  start=$(date +%s.%N)
  pids=()
  /usr/bin/time -f "%M" -o time.1 ./bantin digest send sang > out.1 2>&1 &
  pids+=($!)
  for p in $(seq 2 "$procs"); do
    sleep 0.3
    /usr/bin/time -f "%M" -o "time.$p" ./bantin digest send sang > "out.$p" 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  rate=$(echo "$n / $secs" | bc)
  rss=$(cat time.* | sort -n | tail -1)
  sent=$(grep -ho '[0-9]* sent' out.* | awk '{s += $1} END {print s}')
  printf '%d process(es): %6.2f s  %6d digests/s  smtp-source -d -s %d: %6d msg/s  ratio %.2f  sent %d  peak RSS %d MB\n' \
    "$procs" "$secs" "$rate" $((conns * procs)) "$base" "$(echo "$rate / $base" | bc -l)" "$sent" $((rss / 1024))
  rm -f time.* out.*
done
psql -q "$pg/postgres" -c "DROP DATABASE IF EXISTS $db" 2>/dev/null
