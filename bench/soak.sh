#!/usr/bin/env bash
# Soak benchmark (not a test, run by hand): mixed traffic through the gateway for $DURATION
# seconds with the Snort community rules loaded, a `verdict reload` and a `verdict disable` /
# `enable` of one rule every minute; the engine's RSS, open fds and flow-table size sampled
# every $INTERVAL seconds and printed as one table. Nothing fails on a number: what matters
# is whether the curve stays flat.
#
#   sudo bench/soak.sh                          # 10 minutes
#   DURATION=180 VERDICT=target/debug/verdict bench/soak.sh
#
# Traffic: one iperf3 TCP stream at $TCP_RATE for the whole run, a loop of short HTTP/1.1
# connections (curl against python's http.server: a new flow each, so the flow table churns),
# and ping every 0.2 s (the ICMP probe rule queues it). Everything stays inside the
# namespaces, on the documentation ranges 192.0.2.0/24 and 198.51.100.0/24.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DURATION="${DURATION:-600}"
INTERVAL="${INTERVAL:-10}"
TCP_RATE="${TCP_RATE:-200M}"
COMMUNITY="${COMMUNITY:-$ROOT/../shared/rules/snort-community/community.rules}"
VERDICT="${VERDICT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/verdict}"

if [[ $EUID -ne 0 ]]; then echo "bench/soak.sh: needs root (network namespaces)" >&2; exit 1; fi
for t in ip iperf3 ping jq curl python3; do
  command -v "$t" >/dev/null || { echo "bench/soak.sh: $t is not installed" >&2; exit 1; }
done
[[ -f "$COMMUNITY" ]] || { echo "bench/soak.sh: $COMMUNITY not found" >&2; exit 1; }
if [[ ! -x "$VERDICT" ]]; then
  (cd "$ROOT" && cargo build --release --bin verdict)
fi

TAG="vsoak$$"
CLI="$TAG-cli" GW="$TAG-gw" SRV="$TAG-srv"
WORK="$(mktemp -d /tmp/verdict-soak.XXXXXX)"
PIDS=()

cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  for ns in "$CLI" "$GW" "$SRV"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

source "$ROOT/bench/topology.sh"

# The rules: the community set plus a never-matching ICMP rule, so ping crosses the queue.
cp "$COMMUNITY" "$WORK/soak.rules"
printf 'alert icmp any any -> any any (msg:"soak probe"; content:"zq9vXk2pW"; sid:9000003; rev:1;)\n' >> "$WORK/soak.rules"
# The rule switched off and on: the first enabled one.
SID="$(awk '!/^#/ && match($0, /sid:[0-9]+/) {print substr($0, RSTART + 4, RLENGTH - 4); exit}' "$COMMUNITY")"
SOCK="$WORK/ctl.sock"

ip netns exec "$GW" "$VERDICT" run -r "$WORK/soak.rules" --log-dir "$WORK/log" \
  --control-socket "$SOCK" --state-file "$WORK/state.json" --stats-interval-ms 1000 \
  >"$WORK/engine.log" 2>&1 &
ENGINE_PID=$!
PIDS+=("$ENGINE_PID")
for _ in $(seq 1200); do
  grep -q 'verdict: ready' "$WORK/engine.log" && break
  kill -0 "$ENGINE_PID" 2>/dev/null || { cat "$WORK/engine.log" >&2; exit 1; }
  sleep 0.05
done
grep -q 'verdict: ready' "$WORK/engine.log" || { echo "engine never ready" >&2; cat "$WORK/engine.log" >&2; exit 1; }

mkdir -p "$WORK/www"
head -c 10240 /dev/urandom > "$WORK/www/f"
ip netns exec "$SRV" python3 -m http.server 80 --bind 198.51.100.2 --directory "$WORK/www" \
  >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$SRV" iperf3 -s -B 198.51.100.2 >/dev/null 2>&1 &
PIDS+=($!)
sleep 0.5
ip netns exec "$CLI" iperf3 -c 198.51.100.2 -t "$DURATION" -b "$TCP_RATE" >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$CLI" ping -i 0.2 -q 198.51.100.2 >/dev/null 2>&1 &
PIDS+=($!)
ip netns exec "$CLI" bash -c 'while :; do curl -s -o /dev/null -m 2 -w "%{http_code}\n" http://198.51.100.2/f; done' \
  >"$WORK/http.log" 2>/dev/null &
PIDS+=($!)

ctl() { ip netns exec "$GW" "$VERDICT" "$@" --socket "$SOCK" >/dev/null 2>&1 && echo ok || echo failed; }
stat() { jq -r "$1" "$WORK/log/stats.json" 2>/dev/null || echo nan; }

printf '%6s %8s %5s %7s %10s %9s %8s %8s %s\n' t_s rss_mb fds flows packets http_ok http_bad dropped event
START=$(date +%s)
NEXT_MINUTE=60
DISABLED=0
while :; do
  T=$(( $(date +%s) - START ))
  EVENT=""
  if (( T >= NEXT_MINUTE )); then
    EVENT="reload:$(ctl reload)"
    if (( DISABLED )); then EVENT="$EVENT enable:$(ctl enable "$SID")"; DISABLED=0
    else EVENT="$EVENT disable:$(ctl disable "$SID" --reason soak)"; DISABLED=1; fi
    NEXT_MINUTE=$(( NEXT_MINUTE + 60 ))
  fi
  kill -0 "$ENGINE_PID" 2>/dev/null || { echo "the engine exited:" >&2; tail "$WORK/engine.log" >&2; exit 1; }
  RSS="$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$ENGINE_PID/status")"
  FDS="$(ls "/proc/$ENGINE_PID/fd" | wc -l)"
  printf '%6d %8s %5s %7s %10s %9s %8s %8s %s\n' "$T" "$RSS" "$FDS" \
    "$(stat '.inspect.flows // 0')" "$(stat '[.queues[].received] | add // 0')" \
    "$(grep -c '^200' "$WORK/http.log" || true)" "$(grep -vc '^200' "$WORK/http.log" || true)" \
    "$(stat '[.queues[].dropped] | add // 0')" "$EVENT"
  (( T >= DURATION )) && break
  sleep "$INTERVAL"
done
