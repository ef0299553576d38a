#!/usr/bin/env bash
# Instructions per request of the release server (callgrind; load-independent, unlike wrk):
# `/healthz` (no auth) against `/authz` for a public route, `/authz` with a valid RS256 token
# (cache hit), the same with the cache off (full validation each time), and the same token
# through the reverse proxy (`proxied`: the cache-hit decision plus one upstream round trip).
#
#   bash bench/forward-auth-instructions.sh          # 2000 requests per case
#   REQUESTS=5000 bash bench/forward-auth-instructions.sh
#   PORTCULLIS_BIN=/path/to/portcullis bash bench/forward-auth-instructions.sh   # no build
#
# The proxied case's upstream is a small keep-alive HTTP/1.1 server in python3; it runs outside
# valgrind and only the Portcullis process is counted, so its speed does not enter the figure.
#
# Each case: counters zeroed, REQUESTS requests on one keep-alive connection, counters dumped;
# the figure is (instructions of the whole process) / REQUESTS, so the server's background
# ticks (1 s schedule, version check) are included: a few per second of wall time under
# valgrind, small against thousands of requests. Needs valgrind, python3, curl.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-2000}
for tool in valgrind callgrind_control python3 curl; do
    command -v "$tool" >/dev/null || { echo "needs $tool" >&2; exit 2; }
done

if [ -z "${PORTCULLIS_BIN:-}" ]; then cargo build --release --locked -q -p portcullis --bin portcullis; fi
portcullis=${PORTCULLIS_BIN:-target/release/portcullis}
cargo build --release --locked -q -p portcullis-testkit --example mint
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; [ -n "${KEEP:-}" ] && cp -r "$work" "$KEEP"; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

ISSUER="https://bench.idp.example"
target/release/examples/mint "$work/idp" "$ISSUER" bench-api "orders:read"
idp_port=$(free_port)
(cd "$work/idp" && exec python3 -m http.server "$idp_port" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
token=$(cat "$work/idp/token.txt")
# The reverse proxy's upstream: HTTP/1.1 with a length, so Portcullis's pooled connection is kept.
up_port=$(free_port)
python3 - "$up_port" >/dev/null 2>&1 <<'PY' &
import http.server, sys
class Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # One write per answer, without Nagle: two small writes would wait for a delayed ACK (40 ms).
    disable_nagle_algorithm = True
    def do_GET(self):
        self.wfile.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Hello).serve_forever()
PY
pids+=($!)

measure() { # $1 = token cache true/false; prints "case instructions_per_request" lines
    local cache=$1 port base jar csrf pid
    port=$(free_port); base="http://127.0.0.1:$port"
    PORTCULLIS_LISTEN="127.0.0.1:$port" PORTCULLIS_DATA_DIR="$work/data-$cache" \
    PORTCULLIS_ADMIN_PASSWORD=bench-password-123 PORTCULLIS_ALLOW_INSECURE_JWKS=true \
    PORTCULLIS_TOKEN_CACHE="$cache" PORTCULLIS_LOG=warn \
        valgrind --tool=callgrind --callgrind-out-file="$work/cg-$cache.%p" \
        "$portcullis" serve >"$work/server-$cache.log" 2>&1 &
    pid=$!; pids+=("$pid")
    for _ in $(seq 1 3000); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
    jar=$(mktemp -p "$work")
    csrf=$(curl -fs -c "$jar" -H 'content-type: application/json' \
        -d '{"login":"admin","password":"bench-password-123"}' "$base/api/v1/auth/login" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["csrfToken"])')
    api() { curl -fs -b "$jar" -H 'content-type: application/json' -H "x-csrf-token: $csrf" -d "$2" "$base/api/v1/$1" >/dev/null; }
    api authorizationServers "{\"name\":\"bench-idp\",\"jwksUri\":\"http://127.0.0.1:$idp_port/jwks.json\",\"issuer\":\"$ISSUER\",\"audiences\":[\"bench-api\"],\"allowedAlgs\":[\"RS256\"]}"
    api routes '{"name":"orders","match":{"pathPrefix":"/orders"},"policy":{"scopes":{"allOf":["orders:read"]}}}'
    api routes '{"name":"public","match":{"pathPrefix":"/public"},"policy":{"credentials":["none"]}}'
    api routes "{\"name\":\"up\",\"upstream\":\"http://127.0.0.1:$up_port\",\"match\":{\"pathPrefix\":\"/up\"},\"policy\":{\"scopes\":{\"allOf\":[\"orders:read\"]}}}"
    for case in baseline baseline-headers public token proxied; do
        case $case in
            baseline) path=/healthz; headers='{}' ;;
            baseline-headers) path=/healthz; headers="{\"x-original-method\": \"GET\", \"x-original-uri\": \"/orders/1\", \"authorization\": \"Bearer $token\"}" ;;
            public) path=/authz; headers='{"x-original-method": "GET", "x-original-uri": "/public/x"}' ;;
            token) path=/authz; headers="{\"x-original-method\": \"GET\", \"x-original-uri\": \"/orders/1\", \"authorization\": \"Bearer $token\"}" ;;
            proxied) path=/up/1; headers="{\"authorization\": \"Bearer $token\"}" ;;
        esac
        [ "$cache" = false ] && [ "$case" != token ] && continue
        # Warm up, then count exactly REQUESTS requests.
        python3 - "$port" "$path" "$headers" 50 <<'PY'
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[4])):
    conn.request("GET", sys.argv[2], headers=json.loads(sys.argv[3]))
    response = conn.getresponse(); response.read()
    if response.status != 200:
        sys.exit(f"{sys.argv[2]} answered {response.status}")
PY
        callgrind_control --zero "$pid" >/dev/null 2>&1
        python3 - "$port" "$path" "$headers" "$REQUESTS" <<'PY'
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]))
for _ in range(int(sys.argv[4])):
    conn.request("GET", sys.argv[2], headers=json.loads(sys.argv[3]))
    response = conn.getresponse(); response.read()
    if response.status != 200:
        sys.exit(f"{sys.argv[2]} answered {response.status}")
PY
        local before file total
        before=$(ls "$work"/cg-"$cache".* 2>/dev/null | wc -l)
        callgrind_control --dump="$case" "$pid" >/dev/null 2>&1
        for _ in $(seq 1 100); do
            [ "$(ls "$work"/cg-"$cache".* 2>/dev/null | wc -l)" -gt "$before" ] && break
            sleep 0.1
        done
        sleep 0.3
        file=$(ls -t "$work"/cg-"$cache".* | head -1)
        total=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
        echo "$([ "$cache" = false ] && echo cache-off || echo "$case") $((total / REQUESTS))"
    done
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

results="$work/results"
{ measure true; measure false; } | tee "$results"
python3 - "$results" "$REQUESTS" <<'PY'
import sys
rows = dict(line.split() for line in open(sys.argv[1]))
base = int(rows["baseline"])
names = {"baseline": "GET /healthz (no auth)", "baseline-headers": "GET /healthz with the token's headers (not read)", "public": "/authz, public route",
         "token": "/authz, RS256 token, cache hit", "cache-off": "/authz, RS256 token, cache off",
         "proxied": "GET /up/1 through the reverse proxy (cache hit + upstream round trip)"}
print(f"\nInstructions per request (callgrind, {sys.argv[2]} requests per case, whole server process)\n")
print("| case | instructions / request | ratio to /healthz | implied throughput vs /healthz |")
print("|---|---:|---:|---:|")
for key in ("baseline", "baseline-headers", "public", "token", "cache-off", "proxied"):
    n = int(rows[key])
    print(f"| {names[key]} | {n:,} | {n / base:.2f} | {base / n:.0%} |")
PY
