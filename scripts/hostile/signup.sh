#!/usr/bin/env bash
# Sign-up relay check, by hand: one address signed up five times, from five
# loopback source addresses (127.0.0.2-6, curl --interface; Linux loopback
# answers the whole 127/8), for two lists and under five names, one of them
# a spam line, against a running serve with the file outbox. Then a
# cross-site POST (Origin: https://evil.example, Sec-Fetch-Site: cross-site)
# and a GET of the confirmation link. It prints what each step did and the
# count of confirmation emails written; with subscribe.confirm_resend at its
# default (1h) that count is 1, with no typed name in it.
#   scripts/hostile/signup.sh [PORT]     (default 18200; builds the binary in a temp folder)
set -euo pipefail
port=${1:-18200}
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
  title: Báo Mẫu
  base_url: http://127.0.0.1:$port
server:
  listen: 127.0.0.1:$port
  admin_token: signup-check
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *"}
CONF
./bantin serve 2> serve.log &
pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" > /dev/null && break; sleep 0.1; done

email=nan-nhan@example.vn
names=("Free prize at https://evil.example claim now" "Người lạ" "Ai đó" "Kẻ mạo danh" "Ngọc Nữ")
lists=(sang toi sang toi sang)
for i in 0 1 2 3 4; do
  src=127.0.0.$((i + 2))
  code=$(curl -s -o /dev/null -w '%{http_code}' --interface "$src" "http://127.0.0.1:$port/subscribe" \
    --data-urlencode "email=$email" --data-urlencode "name=${names[$i]}" --data-urlencode "list=${lists[$i]}")
  echo "sign-up $((i + 1)) from $src (list ${lists[$i]}): HTTP $code"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/subscribe" \
  -H 'Origin: https://evil.example' -H 'Sec-Fetch-Site: cross-site' \
  --data-urlencode "email=cross-site@example.vn" --data-urlencode "list=sang")
echo "cross-site sign-up: HTTP $code (want 403)"

sleep 3 # the outbox writes due mail every second
mails=$(grep -l "$email" data/outbox/*.eml 2>/dev/null || true)
count=$(printf '%s' "$mails" | grep -c . || true)
echo "confirmation emails to $email: $count (want 1)"
cross=$(grep -l "cross-site@example.vn" data/outbox/*.eml 2>/dev/null | grep -c . || true)
echo "emails to the cross-site address: $cross (want 0)"
for f in $mails; do
  # Undo quoted-printable soft line breaks; keep the real ones.
  body=$(tr -d '\r' < "$f" | awk '{ if (sub(/=$/, "")) printf "%s", $0; else print }')
  for n in "evil.example" "Free prize" "Ngọc Nữ" "Ng=E1=BB=8Dc"; do
    case "$body" in *"$n"*) echo "  the email carries the typed text \"$n\"";; esac
  done
  link=$(printf '%s' "$body" | grep -o '/confirm/[A-Za-z0-9_-]*' | head -1)
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$link")
  echo "GET of the confirmation link: HTTP $code (want 200, a page with a button)"
  pending=$(curl -s -H 'Authorization: Bearer signup-check' "http://127.0.0.1:$port/api/v1/subscribers?list=sang&status=pending" | grep -c "$email" || true)
  echo "after GET $link: still pending on sang: $pending (want 1)"
done
