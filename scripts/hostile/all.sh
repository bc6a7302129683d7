#!/usr/bin/env bash
# Runs every hostile-input script in turn against a freshly built binary:
# categories.sh, crawl.sh, signup.sh and silent-relay.sh (each prints its
# own figures; see the README, "On the internet: limits"). By hand only:
# about ten minutes on two cores, and it binds loopback ports.
set -euo pipefail
cd "$(dirname "$0")"
for s in categories.sh crawl.sh signup.sh silent-relay.sh; do
  echo "== $s"
  bash "$s"
done
