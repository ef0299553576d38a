#!/usr/bin/env bash
# Every target of issue 12 (performance), measured in one run and printed as MET / MISSED.
#
#   bench/forward-auth.sh                              # 3 interleaved rounds of 10 s per case
#   ROUNDS=1 DURATION=3 bench/forward-auth.sh          # a quick check of the setup
#   SCALE=1 bench/forward-auth.sh                      # + 10,000 servers / 2,000 routes, RSS,
#                                                      #   rebuild time, 1,000,000 distinct tokens
#   SCALE=1 TOKENS=100000 bench/forward-auth.sh        # fewer distinct tokens
#   PORTCULLIS_BIN=target/release/portcullis bench/forward-auth.sh   # an existing binary, no build
#
# Pinning: every server (the bare baseline, Portcullis cache on, cache off, HAProxy, the scale
# server, and the reverse proxy's upstream) runs on core SERVER_CPU (0) and only the one under
# load is busy; the load generator (wrk -t1 -cCONNECTIONS, or `tokens flood`) runs on WRK_CPU (1).
# Only 127.0.0.1 is ever contacted.
#
# Cases, each measured once per round (interleaved, so a neighbour's burst of load skews one
# round and not one case); the table shows medians of per-round values and ratios:
#   bare        GET / on bench/tools' `hello` (axum hello-world, same axum as Portcullis)
#   cache-hit   Portcullis GET /authz, one RS256 token (verified-token cache hits)
#   cache-off   the same on a server with PORTCULLIS_TOKEN_CACHE=false (full RS256 each time)
#   direct      GET /up/42 with the token straight to `hello` (the reverse proxy's upstream)
#   proxied     GET /up/42 with the token through Portcullis's reverse proxy to that `hello`
#   direct-slow GET /slow/42 with the token straight to a `hello` that works SLOW_US (1000) µs of
#               CPU per request (an upstream whose own work dominates)
#   proxied-slow  the same through Portcullis's reverse proxy (the 1.3× target is judged here)
#   haproxy     HAProxy `jwt_verify` RS256 of the same token, `http-request return 200`
#   scale-hit   (SCALE=1) cache-hit on a server holding 10,000 servers and 2,000 routes
# and once: criterion `RS256/raw_verify` (pinned to SERVER_CPU) for the one-core limit; with
# SCALE=1 the snapshot rebuild time, VmRSS, and TOKENS distinct tokens through the cache.
#
# Needs: cargo, taskset, python3, curl, wrk (installed with apt-get when missing and possible),
# haproxy (optional: installed the same way; its target shows SKIPPED without it).
# Exit status: non-zero only when the bench itself fails; a MISSED target is a result.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}; DURATION=${DURATION%s}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
WRK_CPU=${WRK_CPU:-1}
SCALE=${SCALE:-0}
SLOW_US=${SLOW_US:-1000}
SCALE_SERVERS=${SCALE_SERVERS:-10000}
SCALE_ROUTES=${SCALE_ROUTES:-2000}
if [ "$SCALE" = 1 ]; then TOKENS=${TOKENS:-1000000}; else TOKENS=${TOKENS:-0}; fi
target_dir=${CARGO_TARGET_DIR:-$root/target}
log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# --- tools --------------------------------------------------------------------------------------
apt_install() { # $1 = package; best effort
    local sudo=""
    [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null && sudo -n true 2>/dev/null && sudo="sudo -n"; } || return 1
    command -v apt-get >/dev/null || return 1
    log "installing $1 with apt-get"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null 2>&1 ||
        { $sudo apt-get update -q >/dev/null 2>&1 && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$1" >/dev/null 2>&1; }
}
command -v wrk >/dev/null || apt_install wrk || true
command -v haproxy >/dev/null || apt_install haproxy || true
for tool in cargo wrk taskset python3 curl; do
    command -v "$tool" >/dev/null || { echo "bench/forward-auth.sh needs $tool" >&2; exit 2; }
done
have_haproxy=0
if command -v haproxy >/dev/null && haproxy -vv 2>/dev/null | grep -q 'Built with OpenSSL'; then have_haproxy=1; fi

# --- builds -------------------------------------------------------------------------------------
log "building the release server and bench/tools (hello, tokens)"
if [ -n "${PORTCULLIS_BIN:-}" ]; then
    log "using $PORTCULLIS_BIN as built at $(date -r "$PORTCULLIS_BIN" '+%F %T') (not rebuilt)"
else
    cargo build --release --locked -q -p portcullis --bin portcullis || {
        echo "the server did not build; PORTCULLIS_BIN=target/release/portcullis benchmarks an existing binary" >&2
        exit 1
    }
fi
# bench/tools is its own workspace; the workspace's lock file pins it to the product's versions.
cp Cargo.lock bench/tools/Cargo.lock
CARGO_TARGET_DIR="$target_dir" cargo build --release --offline -q --manifest-path bench/tools/Cargo.toml
axum_product=$(grep -A1 '^name = "axum"$' Cargo.lock | awk -F'"' '/version/ {print $2}')
axum_bare=$(grep -A1 '^name = "axum"$' bench/tools/Cargo.lock | awk -F'"' '/version/ {print $2}')
[ "$axum_product" = "$axum_bare" ] || { echo "axum differs: product $axum_product, bare $axum_bare" >&2; exit 1; }
portcullis=${PORTCULLIS_BIN:-$target_dir/release/portcullis}
hello=$target_dir/release/hello
tokens=$target_dir/release/tokens

work=$(mktemp -d)
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "${KEEP:-}" ]; then cp -r "$work" "$KEEP"; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
results=$work/results   # lines: round case req/s p50_ms p99_ms
facts=$work/facts       # lines: key value
: >"$results"; : >"$facts"
fact() { echo "$1 $2" >>"$facts"; }

# --- t_verify: criterion RS256/raw_verify, short, on the servers' core ------------------------
log "criterion RS256/raw_verify (pinned to core $SERVER_CPU)"
estimates=$target_dir/criterion/RS256/raw_verify/new/estimates.json
rm -f "$estimates"
taskset -c "$SERVER_CPU" cargo bench -q -p portcullis-policy --bench validation -- \
    --warm-up-time 1 --measurement-time 3 '^RS256/raw_verify$' >"$work/criterion.log" 2>&1 ||
    { cat "$work/criterion.log" >&2; exit 1; }
[ -f "$estimates" ] || { echo "criterion wrote no $estimates" >&2; cat "$work/criterion.log" >&2; exit 1; }
fact t_verify_ns "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["mean"]["point_estimate"])' "$estimates")"

# --- keys, token, JWKS server --------------------------------------------------------------------
ISSUER="https://bench.idp.example"
"$tokens" keys "$work/idp" "$ISSUER" bench-api "orders:read"
token=$(cat "$work/idp/token.txt")
idp_port=$(free_port)
(cd "$work/idp" && exec taskset -c "$WRK_CPU" python3 -m http.server "$idp_port" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)
auth=(-H "authorization: Bearer $token" -H "x-original-method: GET" -H "x-original-uri: /orders/42")

wait_http() { # $1 = URL, $2 = tries of 0.1 s, $3 = pid; fails if the process died
    local i
    for i in $(seq 1 "$2"); do
        curl -fs -o /dev/null "$1" && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

bare_port=$(free_port)
taskset -c "$SERVER_CPU" "$hello" "127.0.0.1:$bare_port" &
pids+=($!)
wait_http "http://127.0.0.1:$bare_port/" 100 $! || { echo "hello did not start" >&2; exit 1; }
bare="http://127.0.0.1:$bare_port"
# The slow upstream: the same hello-world, busy SLOW_US µs per request (on the servers' core too).
slow_port=$(free_port)
taskset -c "$SERVER_CPU" "$hello" "127.0.0.1:$slow_port" "$SLOW_US" &
pids+=($!)
wait_http "http://127.0.0.1:$slow_port/" 100 $! || { echo "the slow hello did not start" >&2; exit 1; }
slow="http://127.0.0.1:$slow_port"
fact slow_us "$SLOW_US"

start_portcullis() { # $1 = name, $2 = port, $3 = token cache, rest = extra arguments
    local name=$1 port=$2 cache=$3; shift 3
    env PORTCULLIS_LISTEN="127.0.0.1:$port" PORTCULLIS_DATA_DIR="$work/data-$name" \
        PORTCULLIS_ADMIN_PASSWORD=bench-password-123 PORTCULLIS_ALLOW_INSECURE_JWKS=true \
        PORTCULLIS_TOKEN_CACHE="$cache" PORTCULLIS_LOG=warn "${extra_env[@]}" \
        taskset -c "$SERVER_CPU" "$portcullis" serve "$@" >"$work/server-$name.log" 2>&1 &
    last_pid=$!
    pids+=("$last_pid")
}
extra_env=()

login() { # $1 = base URL; sets jar and csrf
    jar=$(mktemp -p "$work")
    csrf=$(curl -fs -c "$jar" -H 'content-type: application/json' \
        -d '{"login":"admin","password":"bench-password-123"}' "$1/api/v1/auth/login" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["csrfToken"])')
}
api() { # $1 = base, $2 = path, $3 = JSON body; prints the HTTP status, body in $work/api.out
    curl -s -o "$work/api.out" -w '%{http_code}' -b "$jar" -H 'content-type: application/json' \
        -H "x-csrf-token: $csrf" -d "$3" "$1/api/v1/$2"
}
api_ok() { local s; s=$(api "$@"); case $s in 2??) ;; *) echo "API $2 answered $s: $(cat "$work/api.out")" >&2; exit 1 ;; esac; }
server_json() { # $1 = name, $2 = issuer
    echo "{\"name\":\"$1\",\"jwksUri\":\"http://127.0.0.1:$idp_port/jwks.json\",\"issuer\":\"$2\",\"audiences\":[\"bench-api\"],\"allowedAlgs\":[\"RS256\",\"EdDSA\"]}"
}
check_answers() { # $1 = base: the token is accepted, a missing token refused (no error-path benchmarks)
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$1/authz")
    [ "$status" = 200 ] || { echo "setup failed: $1/authz answered $status for the bench token" >&2; exit 1; }
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "x-original-method: GET" -H "x-original-uri: /orders/42" "$1/authz")
    [ "$status" = 401 ] || { echo "setup failed: $1/authz answered $status without a token" >&2; exit 1; }
}
configure() { # $1 = base URL: the IdP, the protected route, the proxied route, through the API
    login "$1"
    api_ok "$1" authorizationServers "$(server_json bench-idp "$ISSUER")"
    api_ok "$1" routes '{"name":"orders","match":{"pathPrefix":"/orders"},"policy":{"scopes":{"allOf":["orders:read"]}}}'
    api_ok "$1" routes "{\"name\":\"up\",\"upstream\":\"$bare\",\"match\":{\"pathPrefix\":\"/up\"},\"policy\":{\"scopes\":{\"allOf\":[\"orders:read\"]}}}"
    api_ok "$1" routes "{\"name\":\"slow\",\"upstream\":\"$slow\",\"match\":{\"pathPrefix\":\"/slow\"},\"policy\":{\"scopes\":{\"allOf\":[\"orders:read\"]}}}"
    check_answers "$1"
    local status path
    for path in /up/42 /slow/42; do
        status=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" "$1$path")
        [ "$status" = 200 ] || { echo "setup failed: the proxied $1$path answered $status" >&2; exit 1; }
    done
}

log "starting Portcullis (cache on, cache off) on core $SERVER_CPU"
port_on=$(free_port); start_portcullis on "$port_on" true; pid_on=$last_pid
port_off=$(free_port); start_portcullis off "$port_off" false; pid_off=$last_pid
on="http://127.0.0.1:$port_on"; off="http://127.0.0.1:$port_off"
for p in "$on $pid_on on" "$off $pid_off off"; do
    set -- $p
    wait_http "$1/healthz" 300 "$2" || { echo "server $3 did not start:" >&2; cat "$work/server-$3.log" >&2; exit 1; }
done
configure "$on"; configure "$off"

# --- HAProxy -------------------------------------------------------------------------------------
haproxy_url=""
if [ "$have_haproxy" = 1 ]; then
    hp_port=$(free_port)
    cat >"$work/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 4096
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend bench
    bind 127.0.0.1:$hp_port
    http-request set-var(txn.bearer) http_auth_bearer
    http-request set-var(txn.alg) var(txn.bearer),jwt_header_query('\$.alg')
    http-request deny deny_status 401 unless { var(txn.alg) -m str RS256 }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_payload_query('\$.iss') -m str $ISSUER }
    http-request deny deny_status 401 unless { var(txn.bearer),jwt_verify(txn.alg,"$work/idp/public.pem") -m int 1 }
    http-request return status 200 content-type text/plain string ok
EOF
    taskset -c "$SERVER_CPU" haproxy -db -f "$work/haproxy.cfg" >"$work/haproxy.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$hp_port/" && break; sleep 0.1; done
    status=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer $token" "http://127.0.0.1:$hp_port/")
    # A token with one signature character changed (in the middle: the last one carries padding bits).
    sig=${token##*.}; flip=B; [ "${sig:100:1}" = B ] && flip=C
    bad=$(curl -s -o /dev/null -w '%{http_code}' -H "authorization: Bearer ${token%.*}.${sig:0:100}$flip${sig:101}" "http://127.0.0.1:$hp_port/")
    if [ "$status" = 200 ] && [ "$bad" = 401 ]; then
        haproxy_url="http://127.0.0.1:$hp_port/"
        fact haproxy_version "$(haproxy -v | awk 'NR==1 {print $3}')"
    else
        log "HAProxy did not verify the token as expected (good: $status, tampered: $bad); its case is SKIPPED"
        cat "$work/haproxy.log" >&2
    fi
fi

# --- SCALE: a server with 10,000 authorization servers and 2,000 routes from a config file -------
scale_url=""; pid_scale=""
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
if [ "$SCALE" = 1 ]; then
    python3 - "$work/scale.toml" "$SCALE_SERVERS" "$SCALE_ROUTES" "$idp_port" "$ISSUER" <<'PY'
import sys
path, servers, routes, port, issuer = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
jwks = f"http://127.0.0.1:{port}/jwks.json"  # one JWKS (an RSA and an Ed25519 key) for all
with open(path, "w") as f:
    for i in range(servers):
        name, iss = ("bench-idp", issuer) if i == 0 else (f"idp-{i:05d}", f"https://idp-{i:05d}.bench.example")
        f.write(f'[[authorization_servers]]\nname = "{name}"\njwks_uri = "{jwks}"\nissuer = "{iss}"\n'
                f'audiences = ["bench-api"]\nallowed_algs = ["RS256", "EdDSA"]\n\n')
    f.write('[[routes]]\nname = "orders"\n[routes.match]\npath_prefix = "/orders"\n'
            '[routes.policy.scopes]\nall_of = ["orders:read"]\n\n')
    for i in range(1, routes):
        # Prefixes, exact paths, hosts and methods, so the route index has every kind to sort.
        match = [f'path_prefix = "/svc{i:04d}/api"', f'exact_path = "/svc{i:04d}/health"',
                 f'path_prefix = "/svc{i:04d}"\nhost = "svc{i:04d}.example"',
                 f'path_prefix = "/orders/{i:04d}"\nmethods = ["POST"]'][i % 4]
        f.write(f'[[routes]]\nname = "route-{i:04d}"\n[routes.match]\n{match}\n'
                f'[routes.policy.scopes]\nall_of = ["svc{i:04d}:read"]\n\n')
PY
    log "starting the scale server: $SCALE_SERVERS servers, $SCALE_ROUTES routes from $(du -h "$work/scale.toml" | cut -f1) of TOML"
    extra_env=(PORTCULLIS_MAX_AUTHORIZATION_SERVERS=$((SCALE_SERVERS * 2)) PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS=$((SCALE_SERVERS * 2)))
    port_scale=$(free_port)
    start_scale() { # 0 when the server answers /healthz (the config file is applied before it listens)
        scale_started=$(date +%s.%N)
        start_portcullis scale "$port_scale" true --config "$work/scale.toml"; pid_scale=$last_pid
        wait_http "http://127.0.0.1:$port_scale/healthz" 12000 "$pid_scale"
    }
    scale_ok=0
    if start_scale; then
        scale_ok=1
    elif grep -qE 'may have at most [0-9]+ (enabled )?authorization servers' "$work/server-scale.log"; then
        fact scale_note "this build ignores PORTCULLIS_MAX_AUTHORIZATION_SERVERS / PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS (the org limit refused the file);"
        log "SCALE: the org limit refused $SCALE_SERVERS servers: this build ignores PORTCULLIS_MAX_AUTHORIZATION_SERVERS / PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS"
        grep -m2 'may have at most' "$work/server-scale.log" >&2 || true
        if [ "${SCALE_DB_LIMITS:-1}" = 1 ]; then
            # Bench-only workaround, labelled in the table: raise the limits in the SQLite file the
            # refused start created, then start again with the same file.
            log "SCALE: raising the org limits in $work/data-scale/portcullis.db and starting again (SCALE_DB_LIMITS=0 turns this off)"
            python3 - "$work/data-scale/portcullis.db" "$((SCALE_SERVERS * 2))" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE orgs SET max_authorization_servers = ?, max_enabled_authorization_servers = ?", (int(sys.argv[2]),) * 2)
db.commit()
PY
            fact scale_note "this build ignores PORTCULLIS_MAX_AUTHORIZATION_SERVERS / PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS: limits raised in the database by the bench;"
            if start_scale; then scale_ok=1; fi
        fi
        [ "$scale_ok" = 1 ] || fact scale_error "the org limit refused $SCALE_SERVERS servers: this build ignores PORTCULLIS_MAX_AUTHORIZATION_SERVERS / PORTCULLIS_MAX_ENABLED_AUTHORIZATION_SERVERS"
    fi
    extra_env=()
    if [ "$scale_ok" = 1 ]; then
        fact scale_start_s "$(python3 -c "import time; print(time.time() - $scale_started)")"
        scale_url="http://127.0.0.1:$port_scale"
        # Keys of 10,000 servers may still be loading after the listener opens.
        for _ in $(seq 1 600); do
            [ "$(curl -s -o /dev/null -w '%{http_code}' "${auth[@]}" "$scale_url/authz")" = 200 ] && break
            sleep 0.5
        done
        check_answers "$scale_url"
        fact scale_rss_loaded_kib "$(rss_kib "$pid_scale")"
        fact scale_servers "$(grep -c '^\[\[authorization_servers\]\]' "$work/scale.toml")"
    else
        [ -n "$(awk '$1 == "scale_error"' "$facts")" ] || fact scale_error "the scale server did not start (its log above)"
        tail -5 "$work/server-scale.log" >&2
    fi
fi

# --- load ----------------------------------------------------------------------------------------
run() { # $1 = round, $2 = case, rest = wrk arguments
    local round=$1 name=$2 out; shift 2
    out=$(taskset -c "$WRK_CPU" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@")
    if grep -qE "Non-2xx|Socket errors" <<<"$out"; then
        echo "$name: errors or non-2xx answers, the measurement is invalid:" >&2; echo "$out" >&2; exit 1
    fi
    echo "$round $name $(awk '/^Requests\/sec:/ {print $2}' <<<"$out") \
$(awk '$1 == "50%" {print $2}' <<<"$out") $(awk '$1 == "99%" {print $2}' <<<"$out")" >>"$results"
}
cases() { # $1 = round, or "warm" for the warm-up
    run "$1" bare "$bare/"
    run "$1" cache-hit "${auth[@]}" "$on/authz"
    run "$1" cache-off "${auth[@]}" "$off/authz"
    run "$1" direct -H "authorization: Bearer $token" "$bare/up/42"
    run "$1" proxied -H "authorization: Bearer $token" "$on/up/42"
    run "$1" direct-slow -H "authorization: Bearer $token" "$slow/slow/42"
    run "$1" proxied-slow -H "authorization: Bearer $token" "$on/slow/42"
    if [ -n "$haproxy_url" ]; then run "$1" haproxy -H "authorization: Bearer $token" "$haproxy_url"; fi
    if [ -n "$scale_url" ]; then run "$1" scale-hit "${auth[@]}" "$scale_url/authz"; fi
}
log "warm-up (1 s per case), then $ROUNDS rounds of ${DURATION} s per case, wrk -t1 -c$CONNECTIONS on core $WRK_CPU"
saved=$DURATION; DURATION=1; cases warm; DURATION=$saved; : >"$results"
for round in $(seq 1 "$ROUNDS"); do log "round $round/$ROUNDS"; cases "$round"; done
fact cache_hits "$(curl -fs "$on/metrics" | awk '/^portcullis_token_cache_hits_total/ {print $2}')"
fact verified_off "$(curl -fs "$off/metrics" | awk '/^portcullis_tokens_accepted_total/ {print $2}')"

# --- SCALE: rebuild time, RSS, distinct tokens ---------------------------------------------------
if [ -n "$scale_url" ]; then
    fact scale_rss_after_load_kib "$(rss_kib "$pid_scale")"
    # Rebuild time: from /metrics when it exposes a rebuild duration (sum/count delta around one
    # API write), else the wall time of an API write, which rebuilds the snapshot before answering.
    rebuild_metric() { curl -fs "$scale_url/metrics" | awk '/^portcullis_snapshot_rebuild_(duration_)?seconds_(sum|count)/ {printf "%s ", $2}'; }
    login "$scale_url"
    before=$(rebuild_metric)
    t0=$(date +%s%N)
    api_ok "$scale_url" routes '{"name":"rebuild-probe","match":{"exactPath":"/rebuild-probe"},"policy":{"credentials":["none"]}}'
    t1=$(date +%s%N)
    probe=$(curl -s -o /dev/null -w '%{http_code}' -H "x-original-method: GET" -H "x-original-uri: /rebuild-probe" "$scale_url/authz")
    [ "$probe" = 200 ] || { echo "the new route did not take effect after the API write (answered $probe)" >&2; exit 1; }
    after=$(rebuild_metric)
    fact api_write_ms "$(( (t1 - t0) / 1000000 ))"
    if [ -n "$before" ] && [ -n "$after" ]; then
        fact rebuild_metric "$before$after"
    fi
    fact scale_rss_kib "$(rss_kib "$pid_scale")"
fi
flood_pid=""; flood_url=""
if [ "$TOKENS" -gt 0 ]; then
    if [ -n "$scale_url" ]; then flood_url=$scale_url; flood_pid=$pid_scale; else flood_url=$on; flood_pid=$pid_on; fi
    half=$((TOKENS / 2))
    log "$TOKENS distinct EdDSA tokens to $flood_url/authz in two halves (RSS sampled before, between, after)"
    fact flood_rss0_kib "$(rss_kib "$flood_pid")"
    taskset -c "$WRK_CPU" "$tokens" flood "$work/idp" "$ISSUER" bench-api orders:read "${flood_url##*:}" "$half" "$CONNECTIONS" /orders/42 >"$work/flood1"
    fact flood_rss1_kib "$(rss_kib "$flood_pid")"
    taskset -c "$WRK_CPU" "$tokens" flood "$work/idp" "$ISSUER" bench-api orders:read "${flood_url##*:}" "$((TOKENS - half))" "$CONNECTIONS" /orders/42 >"$work/flood2"
    fact flood_rss2_kib "$(rss_kib "$flood_pid")"
    fact flood_hwm_kib "$(hwm_kib "$flood_pid")"
    fact flood_server "$([ -n "$scale_url" ] && echo scale || echo cache-on)"
    read -r _ n1 _ ok1 _ other1 _ s1 <"$work/flood1"
    read -r _ n2 _ ok2 _ other2 _ s2 <"$work/flood2"
    fact flood_ok "$((ok1 + ok2))"; fact flood_other "$((other1 + other2))"
    fact flood_seconds "$(python3 -c "print($s1 + $s2)")"
    [ -n "$scale_url" ] && fact scale_rss_kib "$(python3 -c "print(max($(rss_kib "$pid_scale"), $(awk '$1 == "scale_rss_kib" {v=$2} END {print v}' "$facts")))")"
fi

fact portcullis_bin "${PORTCULLIS_BIN:-}"; fact have_haproxy "$have_haproxy"; fact scale "$SCALE"; fact tokens "$TOKENS"
fact load "$(cut -d' ' -f1-3 /proc/loadavg)"
python3 bench/forward_auth_table.py "$results" "$facts" "$CONNECTIONS" "$DURATION" "$ROUNDS"
