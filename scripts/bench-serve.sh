#!/usr/bin/env bash
# Load benchmark of POST /v1/serve with wrk on loopback, against a trivial actix handler in the
# same run. Uses Redis at 127.0.0.1:6379 when reachable. Two rounds per server: saturating
# ([connections], default 32: throughput) and light (4 connections: latency without queueing).
# Prints throughput and p99 of both servers and their ratios.
# Usage: scripts/bench-serve.sh [seconds] [connections]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${1:-10}"
CONNECTIONS="${2:-32}"
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q -p adforge-api --bin adforge --example trivial_server
BIN=target/release/adforge
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
export ADFORGE_DATA_DIR="$WORK/data" ADFORGE_WORKERS=0 ADFORGE_LOG=warn
if (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then export REDIS_URL=redis://127.0.0.1:6379; fi
KEY=$($BIN advertiser create bench | grep -o 'adf_[0-9a-f_]*')
$BIN serve --bind 127.0.0.1:8090 & sleep 2
api() { curl -sf -H "Authorization: Bearer $KEY" -H 'content-type: application/json' "$@"; }
json() { python3 -c "import sys, json; print(json.load(sys.stdin)['$1'])"; }
C=$(api -d '{"name":"Bench","brand":"B","product":"P","landing_url":"https://b.example","status":"live"}' http://127.0.0.1:8090/v1/campaigns | json id)
for country in FR US DE; do
  S=$(api -d "{\"campaign_id\":\"$C\",\"name\":\"$country\",\"rules\":{\"country\":[\"$country\"]}}" http://127.0.0.1:8090/v1/segments | json id)
  P=${P:-$(api -d "{\"campaign_id\":\"$C\",\"name\":\"MPU\",\"preset\":\"iab_medium_rectangle\"}" http://127.0.0.1:8090/v1/placements | json id)}
  for v in 1 2 3; do
    api -d "{\"campaign_id\":\"$C\",\"segment_id\":\"$S\",\"placement_id\":\"$P\",\"headline\":\"Variant $v\",\"status\":\"approved\"}" http://127.0.0.1:8090/v1/creatives >/dev/null
  done
done
PK=$(api -X POST http://127.0.0.1:8090/v1/placements/$P/serve-key | json serve_key)
SAMPLE=$(curl -sf -H 'content-type: application/json' -d "{\"placement_key\":\"$PK\",\"request\":{\"country\":\"FR\"},\"user_key\":\"u-1\"}" http://127.0.0.1:8090/v1/serve)
echo "sample answer: $(echo "$SAMPLE" | python3 -c "import sys, json; a = json.load(sys.stdin); print(a['creative_id'], a['headline'])")"
cat >"$WORK/serve.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- A new viewer per request, so frequency caps rarely apply and every request picks a creative.
request = function()
  local body = '{"placement_key":"$PK","request":{"country":"FR"},"user_key":"u-' .. math.random(1, 100000000) .. '"}'
  return wrk.format(nil, nil, nil, body)
end
LUA
target/release/examples/trivial_server 127.0.0.1:8091 & sleep 1
run() { wrk -t2 -c"$1" -d"${DURATION}s" --latency -s "$WORK/serve.lua" "$2"; }
rps() { echo "$1" | awk '/Requests\/sec/ {print $2}'; }
p99() { echo "$1" | awk '$1 == "99%" {print $2}'; }
for c in "$CONNECTIONS" 4; do
  echo "== $c connections: adforge /v1/serve (redis: ${REDIS_URL:-none})"; A=$(run "$c" http://127.0.0.1:8090/v1/serve); echo "$A"
  echo "== $c connections: trivial actix handler"; T=$(run "$c" http://127.0.0.1:8091/v1/serve); echo "$T"
  echo "$c connections: serve $(rps "$A") req/s, p99 $(p99 "$A"); trivial $(rps "$T") req/s, p99 $(p99 "$T")"
  python3 -c "print('$c connections: throughput ratio serve/trivial %.2f' % ($(rps "$A") / $(rps "$T")))"
done
