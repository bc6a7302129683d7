#!/usr/bin/env bash
# Digest benchmark: one issue of 20 articles to N confirmed subscribers
# (default 20000), delivered by `bantin digest send` into postfix's
# smtp-sink on loopback, beside smtp-source -d pushing the same number of
# messages of the same size over the same number of reused connections
# into the same sink. Then the same send DKIM-signed with Ed25519, with
# RSA-2048, and with both (mail.dkim.extra_keys). Each row is also given as
# a ratio of figures measured in the same run (the machine is shared:
# absolute rates swing, ratios much less):
# unsigned against smtp-source (the mean of a run before and one after
# bantin's), signed against unsigned. With BENCH_BASE=REV each row is also
# run with bantin built from that commit (git archive), interleaved, and
# this tree's rate is given against it. Needs Debian's postfix package for smtp-sink and
# smtp-source (neither postfix nor any MTA is started) and openssl.
#   scripts/bench/digest.sh [N] [CONNECTIONS]
#   BENCH_BASE=1a34a05 scripts/bench/digest.sh 20000
#   BENCH_KINDS="unsigned ed25519" scripts/bench/digest.sh    (some rows only)
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
. "$root/scripts/bench/build.sh"
build_bantin "" "$work/bantin"
base_bin=
if [ -n "${BENCH_BASE:-}" ]; then
  build_bantin "$BENCH_BASE" "$work/base-bantin"
  base_bin=$work/base-bantin
fi
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

source_rate() { # one smtp-source run; prints its rate
  local start secs
  start=$(date +%s.%N)
  smtp-source -d -s "$conns" -l "$size" -m "$n" -f bantin@baomau.vn -t doc-gia@example.vn 127.0.0.1:$port
  secs=$(echo "$(date +%s.%N) - $start" | bc)
  printf '%-22s %6.2f s  %6d msg/s\n' "smtp-source -d:" "$secs" "$(echo "$n / $secs" | bc)" >&2
  echo "$n / $secs" | bc -l
}
src1=$(source_rate)

declare -A rates cpu
run() { # $1: binary, $2: label, $3: extra mail keys; sets rates[$2]
  cp fresh.db data/bantin.db
  rm -f data/bantin.db-wal data/bantin.db-shm
  config "$3"
  /usr/bin/time -f "%e %M %U %S" -o time.txt "$1" digest send sang > out.txt 2> err.txt
  local secs kib user sys
  read -r secs kib user sys < time.txt
  rates[$2]=$(echo "$n / $secs" | bc -l)
  # CPU time a digest (user + system) swings less than the rate when
  # other work shares the machine.
  cpu[$2]=$(echo "($user + $sys) * 1000000 / $n" | bc)
  printf '%-22s %6.2f s  %6d digests/s  %4d us CPU/digest  peak RSS %d MB  (%s)\n' "$2:" "$secs" "$(echo "${rates[$2]} / 1" | bc)" \
    "${cpu[$2]}" "$((kib / 1024))" "$(tail -1 out.txt)"
}
ed="  dkim: {domain: baomau.vn, selector: ed, key_file: $work/ed25519.pem}"
rsa="  dkim: {domain: baomau.vn, selector: rsa, key_file: $work/rsa.pem}"
both="  dkim: {domain: baomau.vn, selector: rsa, key_file: $work/rsa.pem, extra_keys: [{selector: ed, key_file: $work/ed25519.pem}]}"
kinds=${BENCH_KINDS:-unsigned ed25519 rsa-2048 rsa+ed25519}
for kind in $kinds; do
  case $kind in unsigned) keys="" ;; ed25519) keys=$ed ;; rsa-2048) keys=$rsa ;; rsa+ed25519) keys=$both ;; esac
  # Signing with two keys (mail.dkim.extra_keys) is newer than the base.
  [ -n "$base_bin" ] && [ "$kind" != rsa+ed25519 ] && run "$base_bin" "base $kind" "$keys"
  run ./bantin "bantin $kind" "$keys"
done
src2=$(source_rate)
base=$(echo "($src1 + $src2) / 2" | bc -l)

ratio() { echo "$1 / $2" | bc -l | xargs printf '%.2f'; }
echo "ratios, same run${BENCH_BASE:+ (base: $BENCH_BASE)}:"
printf '  smtp-source            %6d msg/s (mean of %d and %d)\n' "$(echo "$base / 1" | bc)" "$(echo "$src1 / 1" | bc)" "$(echo "$src2 / 1" | bc)"
for who in ${base_bin:+base} bantin; do
  u=${rates[$who unsigned]}
  printf '  %-22s %6d digests/s  %sx smtp-source\n' "$who unsigned" "$(echo "$u / 1" | bc)" "$(ratio "$u" "$base")"
  for kind in ed25519 rsa-2048; do
    r=${rates[$who $kind]:-}
    [ -n "$r" ] || continue
    printf '  %-22s %6d digests/s  %sx unsigned  %sx smtp-source  CPU/digest %sx unsigned\n' "$who $kind" "$(echo "$r / 1" | bc)" \
      "$(ratio "$r" "$u")" "$(ratio "$r" "$base")" "$(ratio "${cpu[$who $kind]}" "${cpu[$who unsigned]}")"
  done
done
r=${rates[bantin rsa+ed25519]:-}
[ -z "$r" ] || printf '  %-22s %6d digests/s  %sx rsa-2048  %sx unsigned  CPU/digest %sx rsa-2048\n' "bantin rsa+ed25519" "$(echo "$r / 1" | bc)" \
  "$(ratio "$r" "${rates[bantin rsa-2048]}")" "$(ratio "$r" "${rates[bantin unsigned]}")" "$(ratio "${cpu[bantin rsa+ed25519]}" "${cpu[bantin rsa-2048]}")"
if [ -n "$base_bin" ]; then
  for kind in unsigned ed25519 rsa-2048; do
    [ -n "${rates[bantin $kind]:-}" ] || continue
    printf '  %-22s %sx base  CPU/digest %sx base\n' "bantin $kind" "$(ratio "${rates[bantin $kind]}" "${rates[base $kind]}")" \
      "$(ratio "${cpu[bantin $kind]}" "${cpu[base $kind]}")"
  done
fi
