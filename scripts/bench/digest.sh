#!/usr/bin/env bash
# Digest benchmark: one issue of 20 articles to N confirmed subscribers
# (default 20000), delivered by `bantin digest send` into postfix's
# smtp-sink on loopback, beside smtp-source -d pushing the same number of
# messages of the same size over the same number of reused connections
# into the same sink. Then the same send DKIM-signed with Ed25519 and with
# RSA-2048. Needs Debian's postfix package for smtp-sink and smtp-source
# (neither postfix nor any MTA is started) and openssl.
#   scripts/bench/digest.sh [N] [CONNECTIONS]
set -euo pipefail
n=${1:-20000}
conns=${2:-4}
port=${BENCH_SMTP_PORT:-2525}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
sink_pid=
cleanup() {
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for tool in smtp-sink smtp-source openssl; do
  command -v "$tool" >/dev/null || PATH=$PATH:/usr/sbin
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install postfix openssl" >&2; exit 1; }
done
cd "$root"
go build -o "$work/bantin" ./cmd/bantin
go run ./scripts/bench/genarticles -n 20 -start "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)" > "$work/articles.jsonl"
cd "$work"
openssl genpkey -algorithm ed25519 -out ed25519.pem 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null

config() { # $1: extra mail keys
  mkdir -p config
  cat > config/bantin.yaml <<EOF
site: {title: Báo Mẫu, base_url: "https://baomau.vn"}
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *", max_articles: 20}
mail:
  from: "Báo Mẫu <bantin@baomau.vn>"
  transport: smtp
  smtp: {host: 127.0.0.1, port: $port, tls: none, connections: $conns}
$1
log: {level: warn}
EOF
}
config ""
./bantin ingest articles.jsonl > /dev/null
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "doc-gia-%06d@example.vn,Độc giả %d\n", i, i }' > subs.csv
./bantin subscribers import sang subs.csv --confirmed > /dev/null
size=$(./bantin digest preview sang --format eml 2>/dev/null | wc -c)
cp data/bantin.db fresh.db

echo "machine:  $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "issue:    20 articles, $n subscribers, $size-byte messages, $conns connections"
smtp-sink -u "$(id -un)" -R "$work" 127.0.0.1:$port 256 &
sink_pid=$!
sleep 0.5

start=$(date +%s.%N)
smtp-source -d -s "$conns" -l "$size" -m "$n" -f bantin@baomau.vn -t doc-gia@example.vn 127.0.0.1:$port
secs=$(echo "$(date +%s.%N) - $start" | bc)
base=$(echo "$n / $secs" | bc)
printf '%-16s %6.2f s  %6d msg/s\n' "smtp-source -d:" "$secs" "$base"

run() { # $1: label, $2: extra mail keys
  cp fresh.db data/bantin.db
  rm -f data/bantin.db-wal data/bantin.db-shm
  config "$2"
  /usr/bin/time -f "%e %M" -o time.txt ./bantin digest send sang > out.txt 2> err.txt
  read -r secs kib < time.txt
  rate=$(echo "$n / $secs" | bc)
  printf '%-16s %6.2f s  %6d digests/s  %4.2fx smtp-source  peak RSS %d MB  (%s)\n' "$1:" "$secs" "$rate" \
    "$(echo "$rate / $base" | bc -l)" "$((kib / 1024))" "$(tail -1 out.txt)"
}
run "bantin" ""
run "bantin ed25519" "  dkim: {domain: baomau.vn, selector: ed, key_file: $work/ed25519.pem}"
run "bantin rsa-2048" "  dkim: {domain: baomau.vn, selector: rsa, key_file: $work/rsa.pem}"
