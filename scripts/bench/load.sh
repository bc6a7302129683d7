#!/usr/bin/env bash
# Load test, loopback only and bounded: wrk reads the site-wide RSS feed of
# a running `bantin serve` while an import of N articles (default 100,000)
# and a send to S subscribers (default 20,000) into postfix's smtp-sink run
# beside it. Prints wrk's figures (requests/s, latency, errors and non-2xx
# answers), whether the feed changed during the import, and the peak memory
# of serve. Needs Debian's wrk and postfix (smtp-sink; no MTA is started).
#   scripts/bench/load.sh [ARTICLES [SUBSCRIBERS]]
set -euo pipefail
articles=${1:-100000}
subs=${2:-20000}
port=${BENCH_SMTP_PORT:-2525}
http=${BENCH_HTTP:-127.0.0.1:8089}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
PATH=$PATH:/usr/sbin
for tool in wrk smtp-sink; do
  command -v "$tool" >/dev/null || { echo "$tool not found: apt-get install wrk postfix" >&2; exit 1; }
done
cd "$root"
go build -o "$work/bantin" ./cmd/bantin
go run ./scripts/bench/genarticles -n "$articles" -start "$(date -u -d '-10 days' +%Y-%m-%dT%H:%M:%SZ)" > "$work/articles.jsonl"
go run ./scripts/bench/genarticles -n 20 -seed 7 -start "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)" | sed 's/"cms-/"today-/g' > "$work/today.jsonl"
cd "$work"
mkdir -p config
cat > config/bantin.yaml <<EOF
site: {title: Báo Mẫu, base_url: "http://$http"}
server: {listen: "$http", admin_token: load-token}
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *", max_articles: 20}
mail:
  from: "Báo Mẫu <bantin@baomau.vn>"
  transport: smtp
  smtp: {host: 127.0.0.1, port: $port, tls: none, connections: 4}
log: {level: warn}
EOF
./bantin ingest today.jsonl > /dev/null
awk -v n="$subs" 'BEGIN { for (i = 0; i < n; i++) printf "doc-gia-%06d@example.vn,Độc giả %d\n", i, i }' > subs.csv
./bantin subscribers import sang subs.csv --confirmed > /dev/null
smtp-sink -u "$(id -un)" -R "$work" 127.0.0.1:$port 256 & pids+=($!)
./bantin serve 2> serve.log & serve=$!; pids+=($serve)
for _ in $(seq 50); do curl -sf "http://$http/healthz" > /dev/null && break; sleep 0.1; done
before=$(curl -s "http://$http/feeds/rss.xml" | md5sum)

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "load:    wrk -t2 -c32 on /feeds/rss.xml while $articles articles are imported and an issue goes to $subs subscribers"
wrk -t2 -c32 -d60s --latency "http://$http/feeds/rss.xml" > wrk.txt &
wrk=$!
sleep 2
start=$(date +%s.%N)
curl -sf -X POST -H "Authorization: Bearer load-token" "http://$http/api/v1/newsletters/sang/send" > /dev/null
/usr/bin/time -f "%e" -o import.time ./bantin ingest articles.jsonl > import.txt
after=$(curl -s "http://$http/feeds/rss.xml" | md5sum)
wait "$wrk"
sent=$(curl -s -H "Authorization: Bearer load-token" "http://$http/api/v1/newsletters/sang/issues" | tr -d ' \n' | grep -o '"sent":[0-9]*' | head -1)
echo "import:  $(cut -d'(' -f1 import.txt | xargs) in $(cat import.time) s"
echo "send:    $sent of $subs after the run"
grep -E "Requests/sec|Latency  |50%|99%|Non-2xx|Socket errors" wrk.txt | sed 's/^/wrk:    /'
grep -q "Non-2xx" wrk.txt || echo "wrk:     no non-2xx answers"
[ "$before" != "$after" ] && echo "feed:    changed during the import (fresh content)" || echo "feed:    did NOT change during the import"
echo "serve:   peak RSS $(awk '/VmHWM/ {printf "%d MB", $2/1024}' /proc/$serve/status)"
grep -ci "level=error" serve.log | sed 's/^/serve:   error log lines: /'
