#!/usr/bin/env bash
# Feed serving benchmark: cached feed GETs on loopback with wrk (-t2 -c64),
# a 50-entry feed of seed-sized articles with full content, for identity,
# gzip and 304 responses, against
#   bantin serve              the real thing: routing, cache, headers (a cached
#                             document of 32 KB or more goes out with sendfile)
#   barefeed                  a minimal net/http handler writing the same bytes from
#                             memory: the reference, deliberately without sendfile
#   barefeed -timeouts        the same with bantin serve's read, write and idle
#                             timeouts (bare+t): what protection from slow clients
#                             costs a kept-alive request in Go's server
#   nginx                     the same bytes as a static file (sendfile, gzip_static, access log off)
# all in the same run. Needs wrk and nginx (Debian: apt-get install wrk nginx-light).
# Each server is measured ROUNDS times per mode, in turn, and the median
# is reported: this machine's neighbours make single runs vary by 20%.
#   scripts/bench/feeds.sh [SECONDS [ROUNDS]]     (default 10 s per run, 3 rounds)
set -euo pipefail
secs=${1:-10}
rounds=${2:-3}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$root"
go build -o "$work/bantin" ./cmd/bantin
go build -o "$work/barefeed" ./scripts/bench/barefeed
go build -o "$work/freshness" ./scripts/bench/freshness
go run ./scripts/bench/genarticles -n 50 > "$work/articles.jsonl"
cd "$work"
./bantin ingest articles.jsonl > /dev/null

BANTIN_SERVER_LISTEN=127.0.0.1:18100 BANTIN_LOG_LEVEL=warn BANTIN_SERVER_ADMIN_TOKEN=bench-token ./bantin serve 2> serve.log &
pids+=($!)
for _ in $(seq 50); do curl -sf http://127.0.0.1:18100/healthz > /dev/null && break; sleep 0.1; done
./bantin feeds build --out public --gzip > /dev/null
curl -s http://127.0.0.1:18100/feeds/rss.xml > served.xml
cmp -s served.xml public/feeds/rss.xml || { echo "served and built feeds differ" >&2; exit 1; }

./barefeed -addr 127.0.0.1:18101 -file public/feeds/rss.xml &
pids+=($!)
./barefeed -timeouts -addr 127.0.0.1:18103 -file public/feeds/rss.xml &
pids+=($!)

mkdir -p nginx/logs
cat > nginx.conf <<CONF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_requests 1000000;
  open_file_cache max=1000 inactive=60s;
  gzip_static on;
  types { application/rss+xml xml; }
  server {
    listen 127.0.0.1:18102;
    root $work/public;
  }
}
CONF
chmod -R a+rX "$work"   # nginx workers run as www-data
nginx -p "$work/nginx" -c "$work/nginx.conf" -g 'daemon off;' &
pids+=($!)
sleep 0.5

etag() { curl -s -o /dev/null -D - "$@" | awk -F': ' 'tolower($1)=="etag" {print $2}' | tr -d '\r'; }
declare -A url=([bantin]=http://127.0.0.1:18100/feeds/rss.xml [bare]=http://127.0.0.1:18101/ [baret]=http://127.0.0.1:18103/ [nginx]=http://127.0.0.1:18102/feeds/rss.xml)

echo "machine: $(hostname), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg); $(go version | cut -d' ' -f3); $(nginx -v 2>&1); $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2); bantin $(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- . 2>/dev/null || echo '+changes')"
echo "document: $(wc -c < public/feeds/rss.xml) bytes, gzip $(wc -c < public/feeds/rss.xml.gz) bytes; wrk -t2 -c64 -d${secs}s, median of $rounds"
printf '%-9s %9s %9s %9s %9s %12s %14s %12s %10s\n' mode bantin bare bare+t nginx bantin/bare bantin/bare+t bantin/nginx bare/nginx
for mode in identity gzip 304; do
  declare -A rps=() runs=()
  for round in $(seq "$rounds"); do
    for server in bantin bare baret nginx; do
      hdr=()
      case $mode in
        gzip) hdr=(-H "Accept-Encoding: gzip") ;;
        304)  hdr=(-H "If-None-Match: $(etag "${url[$server]}")") ;;
      esac
      if [ "$round" = 1 ]; then
        code=$(curl -s -o /dev/null -w '%{http_code}' "${hdr[@]}" "${url[$server]}")
        want=200; [ "$mode" = 304 ] && want=304
        [ "$code" = "$want" ] || { echo "$server $mode answered $code, want $want" >&2; exit 1; }
        wrk -t2 -c64 -d1s "${hdr[@]}" "${url[$server]}" > /dev/null   # warm up
      fi
      runs[$server]+=" $(wrk -t2 -c64 -d"${secs}s" "${hdr[@]}" "${url[$server]}" | awk '/Requests\/sec/ {print $2}')"
    done
  done
  for server in bantin bare baret nginx; do
    rps[$server]=$(echo ${runs[$server]} | tr ' ' '\n' | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}')
  done
  awk -v m="$mode" -v a="${rps[bantin]}" -v b="${rps[bare]}" -v t="${rps[baret]}" -v n="${rps[nginx]}" \
    'BEGIN { printf "%-9s %9.0f %9.0f %9.0f %9.0f %12.2f %14.2f %12.2f %10.2f\n", m, a, b, t, n, a/b, a/t, a/n, b/n }'
done

# Freshness: from an API ingest returning to the article being in every
# feed, measured by a Go client on kept-alive connections.
./freshness -base http://127.0.0.1:18100 -token bench-token -n 20
