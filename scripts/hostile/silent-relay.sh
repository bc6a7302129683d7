#!/usr/bin/env bash
# A blackholed smarthost: one issue of 20 articles to N confirmed
# subscribers (default 20000), sent by `bantin digest send` through a relay
# on loopback that accepts TCP connections and never says a word (a tiny
# python listener). With the real timeouts (greeting 30 s, three tries of
# the relay with pauses of 2 s and 4 s) the send must end within two
# minutes, exit 1 and name the relay and the copies that wait, with every
# copy still queued and no bounce: checked through the admin API of a
# serve started afterwards (with the relay still silent). Then the same
# against a port that refuses connections. Needs python3.
#   scripts/hostile/silent-relay.sh [N] [CONNECTIONS]
set -euo pipefail
n=${1:-20000}
conns=${2:-4}
root=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d)
relay_pid= serve_pid=
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null || true
  [ -n "$relay_pid" ] && kill "$relay_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
command -v python3 >/dev/null || { echo "python3 not found" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cd "$root"
go build -o "$work/bantin" ./cmd/bantin
go run ./scripts/bench/genarticles -n 20 -start "$(date -u -d '-3 hours' +%Y-%m-%dT%H:%M:%SZ)" > "$work/articles.jsonl"
cd "$work"

# The silent relay: accepts, holds every connection open, writes nothing,
# and counts the connections it accepted in dials.txt.
relay_port=$(free_port)
python3 - "$relay_port" > dials.txt <<'EOF' &
import socket, sys
l = socket.socket()
l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1])))
l.listen(1024)
held = []
while True:
    c, _ = l.accept()
    held.append(c)
    print(len(held), flush=True)
EOF
relay_pid=$!
web=127.0.0.1:$(free_port)

config() { # $1: relay port
  mkdir -p config
  cat > config/bantin.yaml <<EOF
site: {title: Báo Mẫu, base_url: "http://$web"}
server: {listen: "$web", admin_token: silent-relay}
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *", max_articles: 20}
mail:
  from: "Báo Mẫu <bantin@baomau.vn>"
  transport: smtp
  smtp: {host: 127.0.0.1, port: $1, tls: none, connections: $conns}
log: {level: warn}
EOF
}
config "$relay_port"
./bantin ingest articles.jsonl > /dev/null
awk -v n="$n" 'BEGIN { for (i = 0; i < n; i++) printf "doc-gia-%06d@example.vn,Độc giả %d\n", i, i }' > subs.csv
./bantin subscribers import sang subs.csv --confirmed > /dev/null
cp data/bantin.db fresh.db
sleep 0.5

# queue prints the issue's counts and the subscribers' bounces, read
# through the admin API of a serve started for the purpose.
queue() {
  ./bantin serve > serve.log 2>&1 &
  serve_pid=$!
  for _ in $(seq 100); do curl -fs "http://$web/healthz" > /dev/null && break; sleep 0.1; done
  curl -fs -H "Authorization: Bearer silent-relay" "http://$web/api/v1/newsletters/sang/issues" > issues.json
  curl -fs -H "Authorization: Bearer silent-relay" "http://$web/api/v1/subscribers?list=sang" > subs.json
  kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true; serve_pid=
  python3 - <<'EOF'
import json
issues = json.load(open("issues.json"))["issues"]
subs = json.load(open("subs.json"))["subscribers"]
c = issues[0]["counts"]
print(f"queue:    issue {issues[0]['number']} {issues[0]['status']}: {c['queued']} queued, {c['sent']} sent, "
      f"{c['failed']} failed; {len(subs)} subscribers, {sum(s['bounces'] for s in subs)} bounces")
EOF
}

run() { # $1: label
  /usr/bin/time -f "%e %M" -o time.txt ./bantin digest send sang > out.txt 2> err.txt && code=0 || code=$?
  read -r secs kib < <(tail -1 time.txt) # after "Command exited with non-zero status"
  printf '%-8s exit %d after %s s, peak RSS %d MB\n' "$1:" "$code" "$secs" "$((kib / 1024))"
  echo "stdout:   $(tail -1 out.txt)"
  echo "stderr:   $(tail -1 err.txt)"
}

echo "issue:    20 articles, $n subscribers, $conns connections"
run "silent"
echo "dials:    $(tail -1 dials.txt 2>/dev/null || echo 0) connections accepted by the silent relay"
queue

cp fresh.db data/bantin.db
rm -f data/bantin.db-wal data/bantin.db-shm
config "$(free_port)"
run "refused"
queue
