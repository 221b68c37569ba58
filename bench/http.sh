#!/usr/bin/env bash
# HTTP and bypass benchmark of the inline path (not a test): cli -> gw -> srv namespaces,
# python3's http.server in srv, curl in cli, iperf3 for bulk TCP; verdict on gw. One table.
#
#   sudo bench/http.sh
#   CONFIGS="none community" RUNS=1 bench/http.sh
#   WORKLOADS=iperf CONFIGS="none community community-either" bench/http.sh
#
# Configurations: none (kernel forwarding), bare (accept-all queue loop), community (Snort
# community set, default bypass: each direction past the stream depth leaves the queue on its
# own), etopen (the public ET Open half, ../shared/rules/et-open/*.rules), community-both
# (community with --bypass both: only whole flows, once both directions are past the depth),
# community-either (community with --bypass either: the whole flow once one direction is).
# Columns: large download (a $BIG_MB MiB file, median of $RUNS curl runs, Gbit/s); $SMALL small
# requests on one keep-alive connection: p50 and p99 per request (ms) and p99 added over
# none; iperf3 single stream ($SECS s, Gbit/s); flows bypassed whole / by one direction;
# packets the queues received over all workloads (what bypass did not spare) and the workers'
# busy seconds on them; engine RSS (MB).
# WORKLOADS picks among download, small and iperf (default all; the others print "-").
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-3}"
SECS="${SECS:-3}"
BIG_MB="${BIG_MB:-256}"
SMALL="${SMALL:-300}"
CONFIGS="${CONFIGS:-none bare community etopen community-both community-either}"
WORKLOADS="${WORKLOADS:-download small iperf}"
COMMUNITY="${COMMUNITY:-$ROOT/../shared/rules/snort-community/community.rules}"
ETOPEN="${ETOPEN:-$ROOT/../shared/rules/et-open}"
VERDICT="${VERDICT:-$ROOT/target/release/verdict}"

if [[ $EUID -ne 0 ]]; then echo "bench/http.sh: needs root (network namespaces)" >&2; exit 1; fi
for t in ip iperf3 curl python3 jq; do
  command -v "$t" >/dev/null || { echo "bench/http.sh: $t is not installed" >&2; exit 1; }
done
[[ -x "$VERDICT" ]] || (cd "$ROOT" && cargo build --release --bin verdict)

TAG="vhttp$$"
CLI="$TAG-cli" GW="$TAG-gw" SRV="$TAG-srv"
WORK="$(mktemp -d /tmp/verdict-httpbench.XXXXXX)"
ENGINE_PID="" HTTP_PID="" IPERF_PID=""
cleanup() {
  [[ -n "$ENGINE_PID" ]] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null || true
  [[ -n "$HTTP_PID" ]] && kill "$HTTP_PID" 2>/dev/null && wait "$HTTP_PID" 2>/dev/null || true
  [[ -n "$IPERF_PID" ]] && kill "$IPERF_PID" 2>/dev/null || true
  for ns in "$CLI" "$GW" "$SRV"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

source "$ROOT/bench/topology.sh"

source "$ROOT/bench/http_lib.sh"
ip netns exec "$SRV" iperf3 -s -B 198.51.100.2 -D --pidfile "$WORK/iperf.pid" >/dev/null
sleep 0.5
IPERF_PID="$(cat "$WORK/iperf.pid")"
cat "$ETOPEN"/*.rules > "$WORK/etopen.rules" 2>/dev/null || true

small_ms() { # p50 p99 in ms over $SMALL requests on one connection
  local urls=()
  for _ in $(seq "$SMALL"); do urls+=(-o /dev/null http://198.51.100.2/small.bin); done
  ip netns exec "$CLI" curl -s -w '%{time_total}\n' --max-time 120 "${urls[@]}" \
    | sort -g | awk '{a[NR]=$1*1000} END {i=int(NR*0.99); if (i<1) i=1; printf "%.3f %.3f\n", a[int((NR+1)/2)], a[i]}'
}

iperf_gbps() {
  for _ in $(seq "$RUNS"); do
    ip netns exec "$CLI" iperf3 -c 198.51.100.2 -t "$SECS" -J 2>/dev/null \
      | jq '(.end.sum_received.bits_per_second // 0) / 1e9 * 100 | round / 100'
  done | median
}

start_engine() {
  local log="$WORK/engine.log"
  ip netns exec "$GW" "$VERDICT" run --log-dir "$WORK/log" --stats-interval-ms 200 "$@" >"$log" 2>&1 &
  ENGINE_PID=$!
  for _ in $(seq 1200); do
    grep -q 'verdict: ready' "$log" && return 0
    kill -0 "$ENGINE_PID" 2>/dev/null || { echo "engine failed:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  echo "engine never ready" >&2; cat "$log" >&2; exit 1
}

stop_engine() {
  RSS_MB="$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$ENGINE_PID/status" 2>/dev/null || echo nan)"
  sleep 0.3
  QUEUED="$(jq '[.queues[].received] | add' "$WORK/log/stats.json" 2>/dev/null || echo nan)"
  BUSY="$(jq '[.queues[].busy_ns] | add / 1e7 | round / 100' "$WORK/log/stats.json" 2>/dev/null || echo nan)"
  BYPASSED="$(jq -r '"\([.queues[].bypassed] | add)/\([.queues[].half_bypassed // 0] | add)"' "$WORK/log/stats.json" 2>/dev/null || echo nan)"
  kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID" 2>/dev/null || true
  ENGINE_PID=""
}

wants() { [[ " $WORKLOADS " == *" $1 "* ]]; }

printf '%-17s %10s %9s %9s %10s %10s %12s %10s %7s %7s\n' config dl_gbps small_p50 small_p99 p99_added iperf1_gbps byp_flow/dir queued_pkts busy_s rss_mb
BASE=""
for c in $CONFIGS; do
  RSS_MB="-" BYPASSED="-" QUEUED="-" BUSY="-" dl="-" p50="-" p99="-" ip1="-"
  case "$c" in
    none) ;;
    bare) start_engine --accept-all ;;
    community) start_engine -r "$COMMUNITY" ;;
    community-both) start_engine -r "$COMMUNITY" --bypass both ;;
    community-either) start_engine -r "$COMMUNITY" --bypass either ;;
    etopen) start_engine -r "$WORK/etopen.rules" ;;
    *) echo "unknown config $c" >&2; exit 1 ;;
  esac
  if wants download; then dl="$(download_gbps)"; fi
  if wants small; then read -r p50 p99 < <(small_ms); fi
  if wants iperf; then ip1="$(iperf_gbps)"; fi
  [[ "$c" == none ]] && BASE="$p99"
  added="-"; [[ -n "$BASE" && "$p99" != - ]] && added="$(awk -v a="$p99" -v b="$BASE" 'BEGIN {printf "%.3f", a-b}')"
  [[ -n "$ENGINE_PID" ]] && stop_engine
  printf '%-17s %10s %9s %9s %10s %10s %12s %10s %7s %7s\n' "$c" "$dl" "$p50" "$p99" "$added" "$ip1" "$BYPASSED" "$QUEUED" "$BUSY" "$RSS_MB"
done
