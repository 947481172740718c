#!/usr/bin/env bash
# Instructions the whole example server spends per webhook and its run, under callgrind: the
# server runs under valgrind, wrk posts the bench's signed body for 10 s, the runs drain, and the
# process's instruction count is divided by the runs that succeeded. The polls that wait for the
# runs ask GET /api/v1/queue, which reads the index of unfinished runs only, so they are counted
# in. Instruction counts repeat from run to run within a few percent (the batches differ) where
# this machine's times do not: compare builds over several runs each. Needs
# valgrind (with callgrind_annotate), wrk, curl, openssl, python3.
#
#   bench/scripts/callgrind-server.sh BINARY OUT   # BINARY: target/release/example-caldotcom
#   callgrind_annotate --inclusive=yes OUT         # then, where the instructions go
#
# Under valgrind sha2 takes its portable code (valgrind has no SHA extensions), so the HMAC check
# counts about ten times what it costs on the processor.
set -euo pipefail
bin=$(realpath "$1") out=$(realpath -m "$2")
port=${PORT:-8733}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT

scripts=$(dirname "$(realpath "$0")")
cd "$work"
source "$scripts/webhook.sh"
CALDOTCOM_SECRET=secret RUST_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$out" \
  "$bin" serve --port "$port" > server.log 2>&1 &
server=$!
wait_up
wrk -t1 -c16 -d10s -s post.lua "http://127.0.0.1:$port/endpoints/cal.com" > wrk.log
settled 1200  # valgrind runs the workers slowly
runs=$(curl -s "localhost:$port/api/v1/stats" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["runs"]["succeeded"])')
kill -INT "$server"; wait "$server" || true
total=$(grep -m1 '^summary' "$out" | awk '{print $2}')
echo "runs succeeded: $runs; instructions: $total"
echo "per webhook and its run: $((total / runs))"
