#!/usr/bin/env bash
# Hostile input: one article in N categories (2,000 by default; the config
# raises limits.categories to let it in, so that rendering is measured, not
# the cap), then an unrelated article. Prints the seconds until the
# unrelated article is in /feeds/rss.xml, serve's CPU time and peak memory,
# and the size of the home page and the OPML. Manual, not run in CI.
#   scripts/hostile/categories.sh [N]
set -euo pipefail
n=${1:-2000}
port=18110
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$root"
go build -o "$work/bantin" ./cmd/bantin
cd "$work"
mkdir config
cat > config/bantin.yaml <<CONF
site:
  base_url: http://127.0.0.1:$port
server:
  listen: 127.0.0.1:$port
  admin_token: hostile-token
limits:
  categories: $n
log:
  level: warn
CONF
./bantin serve 2> serve.log &
pid=$!
for _ in $(seq 100); do curl -sf http://127.0.0.1:$port/healthz > /dev/null && break; sleep 0.1; done
base=http://127.0.0.1:$port
post() { curl -sf -o /dev/null -H "Authorization: Bearer hostile-token" -H "Content-Type: application/json" --data-binary @"$1" $base/api/v1/articles; }
cpu() { awk '{printf "%.2f", ($14 + $15) / '"$(getconf CLK_TCK)"'}' /proc/$pid/stat; }
hwm() { awk '/VmHWM/ {printf "%d MB", $2 / 1024}' /proc/$pid/status; }

# Some ordinary articles, and a reader of the feeds.
for i in 1 2 3; do
  printf '{"id": "thuong-%d", "title": "Tin thường %d", "summary": "x", "content_html": "<p>x</p>", "categories": ["Thời sự"]}' "$i" "$i" > a.json
  post a.json
done
curl -sf -o /dev/null $base/feeds/rss.xml

seq 0 $((n - 1)) | awk 'BEGIN { printf "{\"id\": \"nhieu-muc\", \"title\": \"Bài nhiều chuyên mục\", \"summary\": \"x\", \"content_html\": \"<p>x</p>\", \"categories\": [" }
  { printf "%s\"Mục lạ %d\"", (NR > 1 ? ", " : ""), $1 } END { print "]}" }' > many.json
start=$(date +%s.%N)
post many.json
echo "article of $n categories stored in $(echo "$(date +%s.%N) - $start" | bc) s"
curl -sf -o /dev/null $base/feeds/rss.xml
sleep 1
cpu0=$(cpu)

printf '{"id": "khong-lien-quan", "title": "Tin không liên quan", "summary": "x", "content_html": "<p>x</p>", "categories": ["Kinh tế"]}' > b.json
start=$(date +%s.%N)
post b.json
until [[ "$(curl -sf $base/feeds/rss.xml)" == *"Tin không liên quan"* ]]; do sleep 0.05; done
echo "unrelated article in /feeds/rss.xml after $(echo "$(date +%s.%N) - $start" | bc) s"
sleep 2
echo "serve CPU for the unrelated change (and 2 s after): $(echo "$(cpu) - $cpu0" | bc) s"
# The first home page after a change counts the articles of every category
# (to pick the busiest).
echo "home page after the change: $(curl -sf -o /dev/null -w '%{time_total}' $base/) s, again: $(curl -sf -o /dev/null -w '%{time_total}' $base/) s"
echo "home page: $(curl -sf $base/ | wc -c) bytes, $(curl -sf $base/ | grep -o 'rel="alternate"' | wc -l) feed links; OPML: $(curl -sf $base/feeds.opml | grep -o '<outline ' | wc -l) feeds"
start=$(date +%s.%N)
for i in $(seq 0 99); do curl -sf -o /dev/null "$base/feeds/muc-la-$i/rss.xml"; done
echo "100 category feeds fetched in $(echo "$(date +%s.%N) - $start" | bc) s"
echo "serve: CPU $(cpu) s in all, peak memory (VmHWM) $(hwm)"
start=$(date +%s.%N)
kill -TERM "$pid"
wait "$pid" || true
pid=
echo "stopped $(echo "$(date +%s.%N) - $start" | bc) s after SIGTERM"
