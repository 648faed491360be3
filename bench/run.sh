#!/usr/bin/env bash
# bench/run.sh — interpose against a direct connection, mitmdump and node http-proxy, in one run.
#
# Builds interpose and a local origin (release), installs the load generator (oha, with cargo,
# into bench/.tools), mitmproxy (from PyPI, into bench/.venv; only for `mitm`) and the Node
# tools (`npm ci --prefix tools`, only for `reverse` when tools/node_modules lacks http-proxy),
# starts side by side:
#
#   direct   no proxy
#   capture  interpose capture --quiet            (forward proxy; records into a throwaway data dir)
#   nocap    interpose capture --quiet --no-capture
#   mitm     mitmdump -q
#   reverse  reverse proxies in front of the origin's HTTP port, called at their own address:
#              rcap    interpose capture --quiet --reverse http://ORIGIN      (records)
#              rnocap  interpose capture --quiet --reverse http://ORIGIN --no-capture
#              hpx     node tools/http-proxy-reverse.js http://ORIGIN          (node http-proxy,
#                      keep-alive upstream agent, maxSockets 256)
#
# and runs each scenario ROUNDS times (the 100 MiB download at least 5), the targets interleaved
# within a round (the order rotates every round) so they share the machine's noise. The forward
# scenarios run when a forward proxy (capture, nocap, mitm) is among the targets, or when
# `reverse` is not; `reverse` adds one scenario (1 KB GET, HTTP, c64) over direct, rcap, rnocap
# and hpx. Medians go to stdout, bench/out/latest.md and the generated parts of BENCHMARKS.md.
#
# Environment knobs: BENCH_ROUNDS (3), BENCH_DURATION (oha -z, 5s), BENCH_TARGETS (all five:
# `direct capture nocap mitm reverse`, space-separated, `direct` is always run; e.g.
# BENCH_TARGETS=reverse for the reverse-proxy comparison alone), BENCH_SKIP_BUILD=1 (use the
# existing release binaries), BENCH_NO_DOC=1 (do not touch BENCHMARKS.md).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
OUT="$BENCH/out"
TOOLS="$BENCH/.tools"
VENV="$BENCH/.venv"
OHA_VERSION="1.16.0"
MITMPROXY_VERSION="11.0.2" # the newest release that supports Python 3.11 (the machine's)
ROUNDS="${BENCH_ROUNDS:-3}"
DURATION="${BENCH_DURATION:-5s}"
TARGETS="${BENCH_TARGETS:-direct capture nocap mitm reverse}"
BIG_BYTES=104857600

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

for tool in cargo python3 curl; do
    command -v "$tool" >/dev/null || die "$tool is needed and was not found"
done
[[ "$ROUNDS" =~ ^[1-9][0-9]?$ ]] || die "BENCH_ROUNDS must be 1..99"
[[ "$DURATION" =~ ^[0-9]+(ms|s|m)$ ]] || die "BENCH_DURATION must look like 5s"
for t in $TARGETS; do
    [[ " direct capture nocap mitm reverse " == *" $t "* ]] ||
        die "unknown target '$t' in BENCH_TARGETS (direct capture nocap mitm reverse)"
done
# `reverse` is a group of its own (REV_TARGETS); TARGETS keeps the forward-proxy targets.
REVERSE=0
if [[ " $TARGETS " == *" reverse "* ]]; then
    REVERSE=1
    TARGETS="$(printf '%s\n' $TARGETS | { grep -vx reverse || true; } | tr '\n' ' ')"
    TARGETS="${TARGETS% }"
fi
[[ " $TARGETS " == *" direct "* ]] || TARGETS="direct${TARGETS:+ $TARGETS}"
REV_TARGETS="direct rcap rnocap hpx"
# The forward scenarios run unless only `reverse` (and `direct`) was asked for.
FORWARD=1
[[ "$REVERSE" == 1 && "$TARGETS" == direct ]] && FORWARD=0
target_on() { [[ " $TARGETS " == *" $1 "* ]]; }
if [[ "$REVERSE" == 1 ]]; then
    command -v node >/dev/null || die "node is needed for the reverse target (node http-proxy)"
fi

# ------------------------------------------------------------------------------------------
# 1. Build (release)
# ------------------------------------------------------------------------------------------
cd "$ROOT"
TARGET_DIR="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
if [[ "${BENCH_SKIP_BUILD:-0}" != 1 ]]; then
    log "building interpose and bench-origin (release)"
    cargo build --release -p interpose-cli
    cargo build --release -p interpose-testsupport --bin bench-origin
fi
INTERPOSE="$TARGET_DIR/release/interpose"
ORIGIN_BIN="$TARGET_DIR/release/bench-origin"
[[ -x "$INTERPOSE" && -x "$ORIGIN_BIN" ]] || die "release binaries missing under $TARGET_DIR/release"

# ------------------------------------------------------------------------------------------
# 2. Tools (cached)
# ------------------------------------------------------------------------------------------
OHA="$TOOLS/bin/oha"
if [[ ! -x "$OHA" ]] || [[ "$("$OHA" --version 2>/dev/null)" != *"$OHA_VERSION"* ]]; then
    log "installing oha $OHA_VERSION into $TOOLS (once)"
    cargo install oha --version "$OHA_VERSION" --locked --root "$TOOLS" --force
fi
MITMDUMP="$VENV/bin/mitmdump"
if target_on mitm &&
    { [[ ! -x "$MITMDUMP" ]] || ! "$MITMDUMP" --version 2>/dev/null | grep -q "Mitmproxy: $MITMPROXY_VERSION"; }; then
    log "installing mitmproxy $MITMPROXY_VERSION into $VENV (once)"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "mitmproxy==$MITMPROXY_VERSION"
fi
HTTP_PROXY_JS="$ROOT/tools/http-proxy-reverse.js"
if [[ "$REVERSE" == 1 && ! -f "$ROOT/tools/node_modules/http-proxy/package.json" ]]; then
    log "installing the Node tools (npm ci --prefix tools) for node http-proxy"
    npm ci --prefix "$ROOT/tools" --no-audit --no-fund --loglevel=error
fi

# ------------------------------------------------------------------------------------------
# 3. Servers
# ------------------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/interpose-bench.XXXXXX")"
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        # bounded: up to 8 s each (interpose flushes its store on SIGTERM), then SIGKILL
        for _ in $(seq 1 80); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Waits (bounded) until something accepts on 127.0.0.1:$1.
wait_port() {
    local port="$1" what="$2" pid="$3"
    for _ in $(seq 1 300); do
        kill -0 "$pid" 2>/dev/null || die "$what exited during start-up (see $WORK/$what.log)"
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    die "$what did not listen on 127.0.0.1:$port within 30 s"
}

# Six distinct free loopback ports, picked while all six are held.
read -r P_CAP P_NOCAP P_MITM P_RCAP P_RNOCAP P_HPX < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(6)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

ORIGIN_CA="$WORK/origin-ca.pem"
"$ORIGIN_BIN" --ca-out "$ORIGIN_CA" >"$WORK/origin.out" 2>"$WORK/origin.log" &
ORIGIN_PID=$!
PIDS+=("$ORIGIN_PID")
for _ in $(seq 1 100); do
    [[ -s "$WORK/origin.out" ]] && break
    sleep 0.1
done
read -r HTTP_PORT HTTPS_PORT < <(sed -n 's/^http=\([0-9]*\) https=\([0-9]*\)$/\1 \2/p' "$WORK/origin.out")
[[ -n "${HTTPS_PORT:-}" ]] || die "bench-origin did not print its ports"
URL_1K_HTTP="http://127.0.0.1:$HTTP_PORT/1k"
URL_1K_HTTPS="https://127.0.0.1:$HTTPS_PORT/1k"
URL_100M_HTTPS="https://127.0.0.1:$HTTPS_PORT/100m"

declare -A PORT PID CA
CA[direct]="$ORIGIN_CA"
PID[direct]=""

if target_on capture; then
    "$INTERPOSE" --data-dir "$WORK/capture-data" capture --quiet --listen "127.0.0.1:$P_CAP" \
        --upstream-ca "$ORIGIN_CA" >"$WORK/capture.log" 2>&1 &
    PID[capture]=$!
    PIDS+=("${PID[capture]}")
    PORT[capture]=$P_CAP
    CA[capture]="$WORK/capture-data/proxy/interpose-proxy-ca.crt"
fi
if target_on nocap; then
    "$INTERPOSE" --data-dir "$WORK/nocap-data" capture --quiet --no-capture \
        --listen "127.0.0.1:$P_NOCAP" --upstream-ca "$ORIGIN_CA" >"$WORK/nocap.log" 2>&1 &
    PID[nocap]=$!
    PIDS+=("${PID[nocap]}")
    PORT[nocap]=$P_NOCAP
    CA[nocap]="$WORK/nocap-data/proxy/interpose-proxy-ca.crt"
fi
if target_on mitm; then
    "$MITMDUMP" -q --listen-host 127.0.0.1 --listen-port "$P_MITM" \
        --set ssl_verify_upstream_trusted_ca="$ORIGIN_CA" --set confdir="$WORK/mitm-conf" \
        >"$WORK/mitm.log" 2>&1 &
    PID[mitm]=$!
    PIDS+=("${PID[mitm]}")
    PORT[mitm]=$P_MITM
    CA[mitm]="$WORK/mitm-conf/mitmproxy-ca-cert.pem"
fi
if [[ "$REVERSE" == 1 ]]; then
    ORIGIN_HTTP="http://127.0.0.1:$HTTP_PORT"
    "$INTERPOSE" --data-dir "$WORK/rcap-data" capture --quiet --reverse "$ORIGIN_HTTP" \
        --listen "127.0.0.1:$P_RCAP" >"$WORK/rcap.log" 2>&1 &
    PID[rcap]=$!
    "$INTERPOSE" --data-dir "$WORK/rnocap-data" capture --quiet --no-capture \
        --reverse "$ORIGIN_HTTP" --listen "127.0.0.1:$P_RNOCAP" >"$WORK/rnocap.log" 2>&1 &
    PID[rnocap]=$!
    node "$HTTP_PROXY_JS" "$ORIGIN_HTTP" "$P_HPX" >"$WORK/hpx.log" 2>&1 &
    PID[hpx]=$!
    PIDS+=("${PID[rcap]}" "${PID[rnocap]}" "${PID[hpx]}")
    PORT[rcap]=$P_RCAP
    PORT[rnocap]=$P_RNOCAP
    PORT[hpx]=$P_HPX
fi
for t in $TARGETS; do
    [[ "$t" == direct ]] && continue
    wait_port "${PORT[$t]}" "$t" "${PID[$t]}"
    [[ -s "${CA[$t]}" ]] || die "$t is listening but its CA ${CA[$t]} is missing"
done
if [[ "$REVERSE" == 1 ]]; then
    for t in rcap rnocap hpx; do
        wait_port "${PORT[$t]}" "$t" "${PID[$t]}"
        # One request through, so a proxy that listens but cannot reach the origin stops here.
        code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:${PORT[$t]}/1k" || true)"
        [[ "$code" == 200 ]] || die "$t answered $code for /1k, not 200 (see $WORK/$t.log)"
    done
fi
log "origin http=$HTTP_PORT https=$HTTPS_PORT; proxies: $(for t in $TARGETS; do [[ $t == direct ]] || printf '%s=%s ' "$t" "${PORT[$t]}"; done)$(
    [[ "$REVERSE" == 1 ]] && printf 'reverse: rcap=%s rnocap=%s hpx=%s' "$P_RCAP" "$P_RNOCAP" "$P_HPX")"

proxy_args() { # oha arguments that route through target $1 (forward proxies only)
    case "$1" in
    capture | nocap | mitm) printf '%s\n' -x "http://127.0.0.1:${PORT[$1]}" ;;
    esac
}
reverse_url() { # the 1 KB URL as a client of reverse-mode target $1 calls it
    if [[ "$1" == direct ]]; then printf '%s' "$URL_1K_HTTP"; else printf 'http://127.0.0.1:%s/1k' "${PORT[$1]}"; fi
}

# ------------------------------------------------------------------------------------------
# 4. Scenarios
# ------------------------------------------------------------------------------------------
mkdir -p "$OUT"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RAW="$OUT/raw-$STAMP.jsonl"
: >"$RAW"
# Share of both cores busy over 3 s while the bench itself is idle: what else is running.
busy_pct() {
    local a b
    a="$(head -1 /proc/stat)"
    sleep 3
    b="$(head -1 /proc/stat)"
    python3 -c '
import sys
a = [int(x) for x in sys.argv[1].split()[1:]]
b = [int(x) for x in sys.argv[2].split()[1:]]
d = [y - x for x, y in zip(a, b)]
idle = d[3] + d[4]
print(round(100 * (sum(d) - idle) / max(sum(d), 1)))' "$a" "$b"
}
LOAD_START="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY_START="$(busy_pct)"
log "machine busy before the run (others' work): ${BUSY_START}%"

# record KIND SCENARIO TARGET ROUND FILE-OR-JSON
record() {
    python3 - "$@" >>"$RAW" <<'EOF'
import json, sys
kind, scenario, target, rnd, payload = sys.argv[1:6]
row = {"kind": kind, "scenario": scenario, "target": target, "round": int(rnd)}
if kind == "oha":
    try:
        with open(payload) as f:
            j = json.load(f)
        s, lat = j["summary"], j.get("latencyPercentiles", {})
        codes = j.get("statusCodeDistribution", {}) or {}
        errs = j.get("errorDistribution", {}) or {}
        row.update(rps=s.get("requestsPerSec"), p50=lat.get("p50"), p99=lat.get("p99"),
                   ok=sum(v for k, v in codes.items() if k.startswith("2")),
                   bad=sum(v for k, v in codes.items() if not k.startswith("2")),
                   errors=sum(errs.values()), error_kinds=list(errs)[:3])
    except Exception as e:  # a failed run is recorded, not fatal
        row.update(rps=None, failed=f"{type(e).__name__}: {e}")
else:
    row.update(json.loads(payload))
print(json.dumps(row))
EOF
}

# run_oha SCENARIO TARGET ROUND URL CONCURRENCY [extra oha args...]
run_oha() {
    local scenario="$1" target="$2" round="$3" url="$4" conc="$5"
    shift 5
    local file="$WORK/oha-$scenario-$target-$round.json"
    local args=(--no-tui --output-format json -z "$DURATION" -c "$conc" -w "$@")
    [[ "$url" == https:* ]] && args+=(--cacert "${CA[$target]}")
    # shellcheck disable=SC2046
    timeout 120 "$OHA" "${args[@]}" $(proxy_args "$target") "$url" >"$file" 2>"$file.err" || true
    record oha "$scenario" "$target" "$round" "$file"
    python3 -c 'import json,sys; r=json.loads(sys.stdin.readlines()[-1]); print("  %-10s %-8s r%d  %s req/s  err=%s" % (r["scenario"], r["target"], r["round"], "%.0f" % r["rps"] if r.get("rps") else "FAILED", r.get("errors", r.get("failed"))))' <"$RAW" >&2
}

# run_download TARGET ROUND
run_download() {
    local target="$1" round="$2" res
    local args=(-s -o /dev/null --max-time 300 --cacert "${CA[$target]}"
        -w '%{http_code} %{size_download} %{speed_download}')
    [[ "$target" == direct ]] || args+=(-x "http://127.0.0.1:${PORT[$target]}")
    res="$(curl "${args[@]}" "$URL_100M_HTTPS" || true)"
    read -r code size speed <<<"${res:-000 0 0}"
    local mbps=null
    [[ "$code" == 200 && "$size" == "$BIG_BYTES" ]] && mbps="$(python3 -c "print($speed/1e6)")"
    record download download_100m "$target" "$round" \
        "{\"mbps\": $mbps, \"status\": \"$code\", \"bytes\": $size}"
    log "  download   $(printf '%-8s' "$target") r$round  ${mbps} MB/s (status $code, $size bytes)"
}

# Peak RSS (VmHWM, KiB) of every proxy among TARGETS (or the given targets), recorded under
# the given label.
record_rss() {
    local label="$1" t kb
    shift
    for t in ${*:-$TARGETS}; do
        [[ "$t" == direct ]] && continue
        kb="$(awk '/^VmHWM:/ {print $2}' "/proc/${PID[$t]}/status" 2>/dev/null || echo null)"
        record rss "$label" "$t" 0 "{\"vmhwm_kib\": ${kb:-null}}"
        log "  rss        $(printf '%-8s' "$t") $label VmHWM ${kb} KiB"
    done
}

# Target order for round $1 (over TARGETS, or the targets given after it): rotated so no
# target always runs first or right after another.
order() {
    local -a ts
    read -r -a ts <<<"${2:-$TARGETS}"
    local n=${#ts[@]} i
    for ((i = 0; i < n; i++)); do printf '%s ' "${ts[$(((i + $1) % n))]}"; done
}

# Warm-up: leaf certificates issued, upstream pools and mitmproxy's Python paths warm.
log "warm-up"
if [[ "$FORWARD" == 1 ]]; then
    for t in $TARGETS; do
        timeout 60 "$OHA" --no-tui -z 1s -c 4 $(proxy_args "$t") "$URL_1K_HTTP" >/dev/null 2>&1 || true
        timeout 60 "$OHA" --no-tui -z 1s -c 4 --cacert "${CA[$t]}" $(proxy_args "$t") "$URL_1K_HTTPS" \
            >/dev/null 2>&1 || true
    done
fi
if [[ "$REVERSE" == 1 ]]; then
    for t in $REV_TARGETS; do
        timeout 60 "$OHA" --no-tui -z 1s -c 64 "$(reverse_url "$t")" >/dev/null 2>&1 || true
    done
fi

if [[ "$FORWARD" == 1 ]]; then
    SCENARIOS=(
        "http_c1|$URL_1K_HTTP|1"
        "http_c64|$URL_1K_HTTP|64"
        "https_c1|$URL_1K_HTTPS|1"
        "https_c64|$URL_1K_HTTPS|64"
    )
    for s in "${SCENARIOS[@]}"; do
        IFS='|' read -r name url conc <<<"$s"
        log "scenario $name"
        for ((r = 1; r <= ROUNDS; r++)); do
            for t in $(order "$r"); do run_oha "$name" "$t" "$r" "$url" "$conc"; done
        done
    done
    record_rss after_c64

    log "scenario https_newconn_c16"
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in $(order "$r"); do
            run_oha https_newconn_c16 "$t" "$r" "$URL_1K_HTTPS" 16 --disable-keepalive
        done
    done

    # A direct 100 MiB download takes a fraction of a second, so it gets at least 5 rounds.
    DL_ROUNDS=$((ROUNDS > 5 ? ROUNDS : 5))
    log "scenario download_100m ($DL_ROUNDS rounds)"
    for ((r = 1; r <= DL_ROUNDS; r++)); do
        for t in $(order "$r"); do run_download "$t" "$r"; done
    done
    record_rss after_100m
fi

if [[ "$REVERSE" == 1 ]]; then
    log "scenario reverse_http_c64 (reverse proxies: $REV_TARGETS)"
    for ((r = 1; r <= ROUNDS; r++)); do
        for t in $(order "$r" "$REV_TARGETS"); do
            run_oha reverse_http_c64 "$t" "$r" "$(reverse_url "$t")" 64
        done
    done
    record_rss after_reverse rcap rnocap hpx
fi

# ------------------------------------------------------------------------------------------
# 5. Report
# ------------------------------------------------------------------------------------------
LOAD_END="$(cut -d' ' -f1-3 /proc/loadavg)"
BUSY_END="$(busy_pct)"
META="$WORK/meta.json"
python3 - "$META" <<EOF
import json, sys
json.dump({
    "stamp": "$STAMP", "rounds": $ROUNDS, "duration": "$DURATION",
    "targets": "$TARGETS".split() if $FORWARD else [], "reverse": bool($REVERSE),
    "load_start": "$LOAD_START", "load_end": "$LOAD_END",
    "busy_start": $BUSY_START, "busy_end": $BUSY_END,
    "oha": "$("$OHA" --version | head -1)",
    "mitmproxy": "$(if target_on mitm; then "$MITMDUMP" --version | sed -n 's/^Mitmproxy: //p'; fi)",
    "node": "$(if [[ "$REVERSE" == 1 ]]; then node --version; fi)",
    "http_proxy": "$(if [[ "$REVERSE" == 1 ]]; then node -p 'require(process.argv[1]).version' "$ROOT/tools/node_modules/http-proxy/package.json"; fi)",
    "rustc": "$(rustc --version)",
    "commit": "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- crates 2>/dev/null || echo '+dirty')",
    "cpu": "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)",
    "cores": $(nproc),
    "mem_gib": $(awk '/^MemTotal:/ {printf "%.0f", $2/1048576}' /proc/meminfo),
    "kernel": "$(uname -r)",
}, open(sys.argv[1], "w"))
EOF
doc_args=()
[[ "${BENCH_NO_DOC:-0}" == 1 ]] || doc_args=(--doc "$ROOT/BENCHMARKS.md")
python3 "$BENCH/report.py" --raw "$RAW" --meta "$META" --out "$OUT/latest.md" "${doc_args[@]}"
log "raw results: $RAW"
