# Sourced by handoff.sh and callgrind-server.sh, in the folder they work in: the bench's signed
# ~360-byte Cal.com webhook (body.json, and post.lua for wrk), signed with the secret "secret",
# and helpers for the example server listening on $port.

body='{"triggerEvent":"BOOKING_CREATED","createdAt":"2024-05-01T09:00:00Z","payload":{"bookingId":0,"uid":"bench-0000000000","title":"30 min meeting","startTime":"2024-05-02T08:00:00Z","endTime":"2024-05-02T08:30:00Z","organizer":{"name":"Bench","email":"organizer@example.com","timeZone":"Europe/Berlin"},"attendees":[{"name":"Ada","email":"ada@example.com"}]}}'
signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac secret | awk '{print $2}')
printf '%s' "$body" > body.json
cat > post.lua <<LUA
wrk.method = "POST"
wrk.body = [[$body]]
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Cal-Signature-256"] = "$signature"
LUA

# Waits until the server answers /healthz (20 s at most: under valgrind it starts slowly).
wait_up() {
  for _ in $(seq 1 400); do curl -sf "localhost:$port/healthz" > /dev/null && return; sleep 0.05; done
  echo "the server did not start" >&2; exit 1
}

# Waits until no run is queued or running: for $1 tenths of a second at most (600 if not given).
settled() {
  for _ in $(seq 1 "${1:-600}"); do
    curl -s "localhost:$port/api/v1/queue" | grep -q '"queued":0,"running":0' && return
    sleep 0.1
  done
  echo "runs did not settle" >&2; exit 1
}
