#!/usr/bin/env bash
# Hostile reader: a store of N seed-sized articles (10,000 by default),
# every archive page crawled in all three formats, each asked for with gzip
# and without (both encodings are what the cache would hold), 4 requests at
# a time. Prints serve's memory before and after, its peak (VmHWM), and the
# feed cache's bytes from /metrics. Manual, not run in CI.
#   scripts/hostile/crawl.sh [N [FEED_CACHE]]     (default 10000, 64MiB)
set -euo pipefail
n=${1:-10000}
cache=${2:-64MiB}
port=18111
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$root"
go build -o "$work/bantin" ./cmd/bantin
go run ./scripts/bench/genarticles -n "$n" > "$work/articles.jsonl"
cd "$work"
mkdir config
cat > config/bantin.yaml <<CONF
site:
  base_url: http://127.0.0.1:$port
server:
  listen: 127.0.0.1:$port
limits:
  feed_cache: $cache
log:
  level: warn
CONF
./bantin ingest articles.jsonl > /dev/null
./bantin serve 2> serve.log &
pid=$!
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf $base/healthz > /dev/null && break; sleep 0.1; done
mem() { awk '/VmHWM|VmRSS/ {printf "%s %d MB  ", $1, $2 / 1024}' /proc/$pid/status; }
cachebytes() { curl -sf $base/metrics | awk '/^bantin_feed_cache_bytes / {printf "%.1f MiB", $2 / 1048576}'; }
curl -sf -o /dev/null $base/feeds/rss.xml
echo "serve before: $(mem)feed cache $(cachebytes)"

# The last page, from the first page's RFC 5005 "last" link.
last=$(curl -sf $base/feeds/rss.xml | grep -o 'rel="last"[^>]*\|href="[^"]*page/[0-9]*/rss.xml"[^>]*rel="last"' | grep -o 'page/[0-9]*' | head -1 | cut -d/ -f2)
last=${last:-1}
for p in $(seq 1 "$last"); do
  for f in rss.xml atom.xml feed.json; do
    if [ "$p" = 1 ]; then echo "$base/feeds/$f"; else echo "$base/feeds/page/$p/$f"; fi
  done
done > urls.txt
start=$(date +%s.%N)
xargs -P 4 -n 50 curl -sf -H 'Accept-Encoding: gzip' < urls.txt > /dev/null
xargs -P 4 -n 50 curl -sf < urls.txt > /dev/null
secs=$(echo "$(date +%s.%N) - $start" | bc)
echo "crawled $last pages x 3 formats x 2 encodings ($(( last * 6 )) documents) in $secs s"
echo "serve after:  $(mem)feed cache $(cachebytes) (limit $cache)"
echo "first page after the crawl: $(curl -sf -o /dev/null -H 'Accept-Encoding: gzip' -w '%{time_total}' $base/feeds/rss.xml) s"
