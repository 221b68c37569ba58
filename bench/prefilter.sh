#!/usr/bin/env bash
# Kernel prefilter benchmark (not a test, not run in CI): throughput through the cli -> gw ->
# srv namespaces (bench/topology.sh) with N prefilterable Snort community rules, three ways:
# no IPS (kernel forwarding), plain queueing (port steering, the default) and the kernel
# prefilter (`--kernel-prefilter on`: only packets with a rule's fast pattern, and the rest of
# their flows, are queued). One table, ratios to plain queueing in the same run, and the
# crossover: the largest N up to which small requests (what the queue round trip costs) are at
# least as fast with the prefilter as with plain queueing (`auto`'s threshold,
# compiler/src/prefilter.rs AUTO_MAX_RULES), and the same for the bulk download.
#
#   sudo bench/prefilter.sh
#   NS_LIST="8 64 512" RUNS=1 bench/prefilter.sh
#
# Rules: every community rule (the commented-out ones enabled, as bench/net.sh's `big`) whose
# fast pattern the kernel can see (`verdict compile --kernel-prefilter on` reports their sids),
# TCP ones; those whose service port is the bench's HTTP port (any, $HTTP_PORTS, 80) first,
# then the others with their service port rewritten to $HTTP_PORTS, so that every drawn
# rule's pattern is searched in the bench traffic as it would be on its own port. HOME_NET and
# EXTERNAL_NET are any. The first N of that list make set N.
# Workloads (python3 http.server in srv on port 80, curl in cli): a $BIG_MB MiB download (bulk
# single stream, Gbit/s) and $SMALL small requests on one keep-alive connection (requests/s);
# per N, $RUNS rounds alternating plain queueing and prefilter (an engine start each), medians. Columns: N, the xt string-match steering rules
# (both sides of the port), download and small-request throughput per mode, the ratios
# prefilter/queue, and the packets queued in each mode over the workloads.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-3}"
BIG_MB="${BIG_MB:-256}"
SMALL="${SMALL:-300}"
NS_LIST="${NS_LIST:-8 16 32 64 128 256 512}"
COMMUNITY="${COMMUNITY:-$ROOT/../shared/rules/snort-community/community.rules}"
VERDICT="${VERDICT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/verdict}"

if [[ $EUID -ne 0 ]]; then echo "bench/prefilter.sh: needs root (network namespaces)" >&2; exit 1; fi
for t in ip curl python3 jq iptables-nft; do
  command -v "$t" >/dev/null || { echo "bench/prefilter.sh: $t is not installed" >&2; exit 1; }
done
[[ -x "$VERDICT" ]] || (cd "$ROOT" && cargo build --release --bin verdict)

TAG="vpref$$"
CLI="$TAG-cli" GW="$TAG-gw" SRV="$TAG-srv"
WORK="$(mktemp -d /tmp/verdict-prefbench.XXXXXX)"
ENGINE_PID="" HTTP_PID=""
cleanup() {
  [[ -n "$ENGINE_PID" ]] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null || true
  [[ -n "$HTTP_PID" ]] && kill "$HTTP_PID" 2>/dev/null && wait "$HTTP_PID" 2>/dev/null || true
  for ns in "$CLI" "$GW" "$SRV"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the rule pool ----
printf '[vars]\nHOME_NET = "any"\nEXTERNAL_NET = "any"\n' > "$WORK/bench.toml"
sed -n 's/^# *//; /^\(alert\|drop\|reject\|pass\) /p' "$COMMUNITY" > "$WORK/all.rules"
"$VERDICT" compile -q "$WORK/all.rules" --config "$WORK/bench.toml" -o "$WORK/all" \
  --kernel-prefilter on 2>/dev/null
python3 - "$WORK/all.rules" "$WORK/all/report.json" > "$WORK/pool.rules" <<'PY'
import json, re, sys
sids = set(json.load(open(sys.argv[2]))["prefilter"].get("with_pattern", []))
web, rest = [], []
for line in open(sys.argv[1]):
    line = line.strip()
    m = re.search(r"\bsid:\s*(\d+)\s*;", line)
    if not m or int(m.group(1)) not in sids:
        continue
    head, body = line.split("(", 1)
    h = head.split()
    if len(h) != 7 or h[1] not in ("tcp", "http"):
        continue
    # the ports the steering uses: the destination's, else the source's (kernel::header_ports)
    side = 6 if h[6] != "any" else 3
    if h[side] in ("any", "$HTTP_PORTS", "80"):
        web.append(line)
    else:
        h[side] = "$HTTP_PORTS"
        rest.append(" ".join(h) + " (" + body)
print("\n".join(web + rest))
PY
POOL="$(wc -l < "$WORK/pool.rules")"

source "$ROOT/bench/topology.sh"
source "$ROOT/bench/http_lib.sh"

small_rps() { # requests per second over $SMALL requests on one keep-alive connection
  local urls=()
  for _ in $(seq "$SMALL"); do urls+=(-o /dev/null http://198.51.100.2/small.bin); done
  for _ in $(seq "$RUNS"); do
    ip netns exec "$CLI" curl -s -w '%{time_total}\n' --max-time 120 "${urls[@]}" \
      | awk '{s+=$1} END {printf "%.0f\n", NR/s}'
  done | median
}

start_engine() {
  local log="$WORK/engine.log"
  ip netns exec "$GW" "$VERDICT" run --log-dir "$WORK/log" --control-socket "$WORK/ctl.sock" \
    --state-file "$WORK/state.json" --stats-interval-ms 200 --config "$WORK/bench.toml" \
    "$@" >"$log" 2>&1 &
  ENGINE_PID=$!
  for _ in $(seq 1200); do
    grep -q 'verdict: ready' "$log" && return 0
    kill -0 "$ENGINE_PID" 2>/dev/null || { echo "engine failed:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  echo "engine never ready" >&2; cat "$log" >&2; exit 1
}

stop_engine() { # sets QUEUED
  sleep 0.4
  QUEUED="$(jq '[.queues[].received] | add' "$WORK/log/stats.json" 2>/dev/null || echo nan)"
  kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID" 2>/dev/null || true
  ENGINE_PID=""
}

measure() { # mode -> DL RPS QUEUED, one round of each workload
  QUEUED="-"
  case "$1" in
    none) ;;
    queue) start_engine -r "$WORK/n.rules" --kernel-prefilter off ;;
    prefilter) start_engine -r "$WORK/n.rules" --kernel-prefilter on ;;
  esac
  DL="$(RUNS=1 download_gbps)"; RPS="$(RUNS=1 small_rps)"
  [[ -n "$ENGINE_PID" ]] && stop_engine
  return 0
}

# The two modes alternate round by round, so that both meet the same background load (a
# shared machine moves the baseline); medians of $RUNS rounds.
compare() { # -> qdl qrps qq pdl prps pq
  local a=() b=() c=() d=() e=() f=()
  for _ in $(seq "$RUNS"); do
    measure queue; a+=("$DL") b+=("$RPS") c+=("$QUEUED")
    measure prefilter; d+=("$DL") e+=("$RPS") f+=("$QUEUED")
  done
  m() { printf '%s\n' "$@" | median; }
  qdl="$(m "${a[@]}")" qrps="$(m "${b[@]}")" qq="$(m "${c[@]}")"
  pdl="$(m "${d[@]}")" prps="$(m "${e[@]}")" pq="$(m "${f[@]}")"
}

NONE_DL="$(download_gbps)" NONE_RPS="$(small_rps)"
echo "no IPS: download $NONE_DL Gbit/s, $NONE_RPS small requests/s; rule pool: $POOL prefilterable community rules"
printf '%5s %8s | %9s %9s %7s | %9s %9s %7s | %10s %10s\n' \
  rules xt_rules dl_queue dl_pref dl_x rps_queue rps_pref rps_x queued_q queued_p
CROSS=0 LOST="" DL_CROSS=0 DL_LOST=""
for n in $NS_LIST; do
  if (( n > POOL )); then echo "($n rules: only $POOL in the pool)" >&2; continue; fi
  head -n "$n" "$WORK/pool.rules" > "$WORK/n.rules"
  "$VERDICT" compile -q "$WORK/n.rules" --config "$WORK/bench.toml" -o "$WORK/n" \
    --kernel-prefilter on 2>/dev/null
  xtr="$(jq '.prefilter.rules' "$WORK/n/report.json")"
  compare
  dx="$(awk -v a="$pdl" -v b="$qdl" 'BEGIN {printf "%.2f", a/b}')"
  rx="$(awk -v a="$prps" -v b="$qrps" 'BEGIN {printf "%.2f", a/b}')"
  printf '%5s %8s | %9s %9s %7s | %9s %9s %7s | %10s %10s\n' \
    "$n" "$xtr" "$qdl" "$pdl" "$dx" "$qrps" "$prps" "$rx" "$qq" "$pq"
  # The crossover is about the queue round trip the prefilter saves: small transactions.
  if [[ -z "$LOST" ]] && awk -v r="$rx" 'BEGIN {exit !(r >= 1)}'; then
    CROSS="$n"
  else
    LOST=1
  fi
  if [[ -z "$DL_LOST" ]] && awk -v d="$dx" 'BEGIN {exit !(d >= 1)}'; then
    DL_CROSS="$n"
  else
    DL_LOST=1
  fi
done
echo "(medians of $RUNS alternating rounds; dl: ${BIG_MB} MiB download, Gbit/s; rps: $SMALL requests on one keep-alive connection, per second;"
echo " _x: prefilter / queue; queued_q/_p: packets the queue received, plain queueing / prefilter)"
echo "crossover: small requests at least as fast with the prefilter as with plain queueing up to $CROSS rules"
echo "           (bulk download at least as fast up to $DL_CROSS rules)"
