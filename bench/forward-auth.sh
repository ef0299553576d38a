#!/usr/bin/env bash
# Forward-auth throughput and latency against a no-auth endpoint of the same server, in one run
# (DESIGN.md §5): servers pinned to core 0, wrk to core 1, loopback only.
#
#   bash bench/forward-auth.sh                          # 3 interleaved rounds of 5 s per case
#   ROUNDS=5 DURATION=10s CONNECTIONS=32 bash bench/forward-auth.sh
#
# Two release servers run side by side on core 0 (only the one under load uses it):
#   cache-on   the default, verified-token cache enabled
#   cache-off  PORTCULLIS_TOKEN_CACHE=false: every request verifies the RS256 token in full
# Cases:
#   baseline      GET /healthz on cache-on                     no auth, no routing
#   public        GET /authz for a route with credentials none routing, no token
#   cache-hit     GET /authz with one valid RS256 token        verified-token cache hits
#   baseline-off  GET /healthz on cache-off                    the cache-off server's own baseline
#   cache-off     GET /authz with the same token on cache-off  full validation each request
# Each round measures every case once, next to its baseline; the table reports medians, and the
# ratio is the median of the per-round ratios, so a neighbour's burst of load skews one round,
# not the result. Needs: wrk (apt-get install wrk), taskset (util-linux), python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
for tool in wrk taskset python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench/forward-auth.sh needs $tool" >&2; exit 2; }
done

cargo build --release --locked -q -p portcullis --bin portcullis
cargo build --release --locked -q -p portcullis-testkit --example mint
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ISSUER="https://bench.idp.example"
target/release/examples/mint "$work/idp" "$ISSUER" bench-api "orders:read"
idp_port=$(free_port)
(cd "$work/idp" && exec python3 -m http.server "$idp_port" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
token=$(cat "$work/idp/token.txt")
auth=(-H "authorization: Bearer $token" -H "x-original-method: GET" -H "x-original-uri: /orders/42")

start_server() { # $1 = name, $2 = port, $3 = token cache true/false
    PORTCULLIS_LISTEN="127.0.0.1:$2" PORTCULLIS_DATA_DIR="$work/data-$1" \
    PORTCULLIS_ADMIN_PASSWORD=bench-password-123 PORTCULLIS_ALLOW_INSECURE_JWKS=true \
    PORTCULLIS_TOKEN_CACHE="$3" PORTCULLIS_LOG=warn \
        taskset -c "$SERVER_CPU" target/release/portcullis serve >"$work/server-$1.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$2/healthz" >/dev/null && return; sleep 0.1; done
    echo "server $1 did not start; log:" >&2; cat "$work/server-$1.log" >&2; exit 1
}

configure() { # $1 = base URL: the IdP, a protected route and a public route, through the API
    local base=$1 jar csrf status
    jar=$(mktemp -p "$work")
    csrf=$(curl -fs -c "$jar" -H 'content-type: application/json' \
        -d '{"login":"admin","password":"bench-password-123"}' "$base/api/v1/auth/login" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["csrfToken"])')
    api() { curl -fs -b "$jar" -H 'content-type: application/json' -H "x-csrf-token: $csrf" -d "$2" "$base/api/v1/$1" >/dev/null; }
    api authorizationServers "{\"name\":\"bench-idp\",\"jwksUri\":\"http://127.0.0.1:$idp_port/jwks.json\",\"issuer\":\"$ISSUER\",\"audiences\":[\"bench-api\"],\"allowedAlgs\":[\"RS256\"]}"
    api routes '{"name":"orders","match":{"pathPrefix":"/orders"},"policy":{"scopes":{"allOf":["orders:read"]}}}'
    api routes '{"name":"public","match":{"pathPrefix":"/public"},"policy":{"credentials":["none"]}}'
    # A setup that silently denies would benchmark the error path: check both answers first.
    status=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$base/authz")
    [ "$status" = 200 ] || { echo "setup failed: $base/authz answered $status for the bench token" >&2; exit 1; }
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "x-original-method: GET" -H "x-original-uri: /orders/42" "$base/authz")
    [ "$status" = 401 ] || { echo "setup failed: $base/authz answered $status without a token" >&2; exit 1; }
}

port_on=$(free_port); start_server cache-on "$port_on" true
port_off=$(free_port); start_server cache-off "$port_off" false
on="http://127.0.0.1:$port_on"; off="http://127.0.0.1:$port_off"
configure "$on"; configure "$off"

results="$work/results"
: >"$results"
run() { # $1 = round, $2 = case name, rest = wrk arguments
    local round=$1 name=$2 out rps p50 p99; shift 2
    out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency "$@")
    if grep -q "Non-2xx" <<<"$out"; then
        echo "$name: non-2xx answers, the measurement is invalid:" >&2; echo "$out" >&2; exit 1
    fi
    rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    echo "$round $name $rps $p50 $p99" >>"$results"
}

# Warm-up: connections, the cache, CPU frequency.
taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d3s "${auth[@]}" "$on/authz" >/dev/null
taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d3s "${auth[@]}" "$off/authz" >/dev/null
for round in $(seq 1 "$ROUNDS"); do
    run "$round" baseline "$on/healthz"
    run "$round" public -H "x-original-method: GET" -H "x-original-uri: /public/x" "$on/authz"
    run "$round" cache-hit "${auth[@]}" "$on/authz"
    run "$round" baseline-off "$off/healthz"
    run "$round" cache-off "${auth[@]}" "$off/authz"
done
hits=$(curl -fs "$on/metrics" | awk '/^portcullis_token_cache_hits_total/ {print $2}')
verified=$(curl -fs "$off/metrics" | awk '/^portcullis_tokens_accepted_total/ {print $2}')

python3 bench/forward_auth_table.py "$results" "$CONNECTIONS" "$DURATION" "$ROUNDS" "$hits" "$verified"
