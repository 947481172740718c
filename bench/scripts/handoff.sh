#!/usr/bin/env bash
# The measurements behind bench/JOURNAL.md, "Runs handed over at ingest, measured 2026-12-03", for one server binary
# (alternate two builds to compare them). Needs wrk, curl, openssl and python3.
#
#   bench/scripts/handoff.sh cpu   BINARY CONNECTIONS  # wrk -t1 -cN -d6s, then CPU per webhook+run,
#                                                     # by thread, bytes written and write calls,
#                                                     # and where the machine's two cores went
#   bench/scripts/handoff.sh start BINARY              # 30 webhooks 70 ms apart: store write to start
#
# BINARY is a build of example-caldotcom (target/release/example-caldotcom), or, for `cpu`, the
# bench itself (target/release/trigger-bench), which then serves its bare handler: HMAC check and
# a 200, nothing stored, nothing run. With DATABASE_URL=postgres://... in the environment the
# server uses that database (give each run a schema of its own: ...?schema=bench_1); with
# TRIGGER_CONCURRENCY=0 it runs no job, which measures ingest alone.
set -euo pipefail
mode=$1 bin=$(realpath "$2") conns=${3:-64}
port=${PORT:-8712}
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT

scripts=$(dirname "$(realpath "$0")")
cd "$work"
source "$scripts/webhook.sh"
if [[ -n "${DATABASE_URL:-}" ]]; then export TRIGGER_DATABASE_URL=$DATABASE_URL; fi
bare=false
if [[ $(basename "$bin") == trigger-bench ]]; then
  bare=true
  CALDOTCOM_SECRET=secret "$bin" bare-server --port "$port" > server.log 2>&1 &
else
  CALDOTCOM_SECRET=secret RUST_LOG=warn "$bin" serve --port "$port" > server.log 2>&1 &
fi
server=$!
wait_up
cpu() { awk '{print $14 + $15}' "/proc/$server/stat"; }  # clock ticks, user + system
io() { awk -v k="$1" '$1 == k ":" {print $2}' "/proc/$server/io"; }  # wchar, syscw
# Each thread's CPU (clock ticks), by name: "name ticks" lines.
threads() { for t in "/proc/$server/task/"*; do echo "$(tr ' ' _ < "$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done; }

case $mode in
  cpu)
    before=$(cpu) threads_before=$(threads) written=$(io wchar) writes=$(io syscw)
    machine_before=$(head -1 /proc/stat)
    # wrk's own CPU (user + system seconds) goes to wrk.cpu.
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[1:], check=True)
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(usage.ru_utime + usage.ru_stime, file=open("wrk.cpu", "w"))' \
      wrk -t1 -c"$conns" -d6s -s post.lua "http://127.0.0.1:$port/endpoints/cal.com" > wrk.log
    machine_after=$(head -1 /proc/stat)
    requests=$(awk '/requests in/ {print $1}' wrk.log)
    if [[ $bare == false && ${TRIGGER_CONCURRENCY:-} != 0 ]]; then settled; fi
    after=$(cpu) threads_after=$(threads) written=$(($(io wchar) - written)) writes=$(($(io syscw) - writes))
    ticks=$(getconf CLK_TCK)
    echo "$(grep Requests/sec wrk.log)"
    python3 -c "print(f'server CPU per webhook and its run: {($after - $before) / $ticks / $requests * 1e6:.1f} us ($requests webhooks)')"
    # By thread name (tokio's workers together), and what the process wrote (WAL, checkpoints,
    # responses) per webhook.
    printf '%s\n' "$threads_before" | sed 's/^/- /' | cat - <(printf '%s\n' "$threads_after") |
      awk -v t="$ticks" -v r="$requests" '/^- / {c[$2] -= $3; next} {c[$1] += $2}
        END {for (n in c) if (c[n] > 0) printf "  %s: %.1f us\n", n, c[n] / t / r * 1e6}'
    python3 -c "print(f'  written per webhook: {$written / $requests:.0f} bytes in {$writes / $requests:.2f} write calls')"
    # The two cores during wrk's run, per webhook: wrk's own CPU, everything else at work (the
    # server, the kernel's network work for both, other processes), and the time no core had
    # work (idle and iowait).
    python3 - "$machine_before" "$machine_after" "$(cat wrk.cpu)" "$ticks" "$requests" <<'PY'
import sys
before, after = ([int(v) for v in line.split()[1:8]] for line in sys.argv[1:3])
wrk, ticks, requests = float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
us = lambda seconds: seconds / requests * 1e6
used = [(a - b) / ticks for a, b in zip(after, before)]  # user nice system idle iowait irq softirq
idle, busy = used[3] + used[4], sum(used) - used[3] - used[4]
print(f"  the machine's cores per webhook: {us(busy + idle):.1f} us: wrk {us(wrk):.1f} us, "
      f"the server and everything else {us(busy - wrk):.1f} us, idle {us(idle):.1f} us")
PY
    if [[ $bare == false ]]; then
      curl -s "localhost:$port/metrics" | grep '^trigger_attempts_started_total' || true
    fi
    ;;
  start)
    for _ in $(seq 1 30); do
      curl -s -XPOST -H "X-Cal-Signature-256: $signature" -H 'Content-Type: application/json' \
        --data-binary @body.json "localhost:$port/endpoints/cal.com" > /dev/null
      sleep 0.07
    done
    settled
    curl -s "localhost:$port/api/v1/runs?limit=30" | python3 -c '
import json, sys
from datetime import datetime
ms = lambda s: datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp() * 1000
runs = json.load(sys.stdin)["runs"]
gaps = sorted(ms(r["started_at"]) - ms(r["created_at"]) for r in runs)
print(f"store write to run started: median {gaps[len(gaps) // 2]:.0f} ms, max {gaps[-1]:.0f} ms ({len(gaps)} runs)")'
    ;;
  *) echo "usage: $0 cpu|start BINARY [CONNECTIONS]" >&2; exit 2 ;;
esac
