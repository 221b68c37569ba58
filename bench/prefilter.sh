#!/usr/bin/env bash
# Kernel prefilter benchmark (not a test, not run in CI): throughput through the cli -> gw ->
# srv namespaces (bench/topology.sh) with N prefilterable Snort community rules, three ways:
# no IPS (kernel forwarding), plain queueing (port steering, the default) and the kernel
# prefilter (`--kernel-prefilter on`: only packets with a rule's fast pattern, and the rest of
# their flows, are queued). Two tables, ratios to plain queueing in the same run, and the
# crossover per workload: the largest N up to which it is at least as fast with the prefilter
# as with plain queueing. `auto`'s threshold (compiler/src/prefilter.rs AUTO_MAX_RULES) is the
# transactional one (what the queue round trip costs), with the bulk download's as the caveat.
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
# single stream, Gbit/s) and $SMALL small requests on one keep-alive connection (requests/s).
# python serves ~2,000 requests/s with or without an IPS, so that second workload never shows
# the queue round trip; the transactional ones do: nginx (one worker, access log off) on a
# second srv address, port 80 too, serving the same 1 KiB file to wrk ($TX_CONNS connections,
# 2 threads, $TX_SECS s each) with keep-alive ("ka") and with a new connection per request
# ("conn", `Connection: close`: handshake, request, response and teardown all cross the
# gateway), transactions/s and wrk's per-transaction latency p50/p99 (ms). Both modes queue
# every packet of a kept-alive connection only up to the stream depth (then the per-direction
# bypass hands it back), so "conn" is the case where the round trip is paid on every packet.
# Per N, $RUNS rounds alternating plain queueing and prefilter (an engine start each),
# medians. Table 1: N, the xt string-match steering rules (both sides of the port), download
# and small-request throughput per mode, the ratios prefilter/queue, and the packets queued in
# each mode over all the workloads. Table 2: the transactional workloads per mode.
# wrk and nginx are installed here (apt-get) when missing.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-3}"
BIG_MB="${BIG_MB:-256}"
SMALL="${SMALL:-300}"
TX_SECS="${TX_SECS:-3}"
TX_CONNS="${TX_CONNS:-8}"
NS_LIST="${NS_LIST:-8 16 32 64 128 256 512}"
COMMUNITY="${COMMUNITY:-$ROOT/../shared/rules/snort-community/community.rules}"
VERDICT="${VERDICT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/verdict}"

if [[ $EUID -ne 0 ]]; then echo "bench/prefilter.sh: needs root (network namespaces)" >&2; exit 1; fi
if ! command -v wrk >/dev/null || ! command -v nginx >/dev/null; then
  # RUNLEVEL=1: the package's init script must not start a system nginx on the host's port 80
  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    wrk nginx-light >/dev/null
fi
for t in ip curl python3 jq iptables-nft wrk nginx; do
  command -v "$t" >/dev/null || { echo "bench/prefilter.sh: $t is not installed" >&2; exit 1; }
done
[[ -x "$VERDICT" ]] || (cd "$ROOT" && cargo build --release --bin verdict)

TAG="vpref$$"
CLI="$TAG-cli" GW="$TAG-gw" SRV="$TAG-srv"
WORK="$(mktemp -d /tmp/verdict-prefbench.XXXXXX)"
ENGINE_PID="" HTTP_PID="" NGINX_PID=""
cleanup() {
  [[ -n "$ENGINE_PID" ]] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null || true
  [[ -n "$HTTP_PID" ]] && kill "$HTTP_PID" 2>/dev/null && wait "$HTTP_PID" 2>/dev/null || true
  [[ -n "$NGINX_PID" ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null || true
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

# nginx for the transactional workloads: srv's second address, port 80 (the rules' port)
ip -n "$SRV" addr add 198.51.100.3/24 dev eth0
# A connection per request at ~10,000/s leaves TIME_WAIT sockets in cli too (wrk sometimes
# closes first): without reuse, connect() soon scans a port range half in TIME_WAIT and the
# rate falls to a few hundred per second — measuring the client's port search, not the IPS.
ip netns exec "$CLI" sysctl -qw net.ipv4.tcp_tw_reuse=1 net.ipv4.ip_local_port_range="1024 65535"
# and gw's conntrack would hold each for 120 s: ~250,000 a minute in the engine modes, past the
# host's nf_conntrack_max (table full drops SYNs). The bench's gateway forgets them after 2 s.
ip netns exec "$GW" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=2
mkdir -p "$WORK/nginx"
cat > "$WORK/nginx.conf" <<EOF
daemon off;
user root;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 10000000;
  client_body_temp_path $WORK/nginx/body;
  proxy_temp_path $WORK/nginx/proxy;
  fastcgi_temp_path $WORK/nginx/fastcgi;
  uwsgi_temp_path $WORK/nginx/uwsgi;
  scgi_temp_path $WORK/nginx/scgi;
  server { listen 198.51.100.3:80; root $WORK/www; }
}
EOF
ip netns exec "$SRV" nginx -c "$WORK/nginx.conf" -p "$WORK/nginx" & NGINX_PID=$!
for _ in $(seq 100); do
  ip netns exec "$CLI" curl -s -o /dev/null http://198.51.100.3/small.bin && break
  sleep 0.1
done

tx() { # [wrk args] -> "transactions/s p50_ms p99_ms", one wrk run on small.bin
  ip netns exec "$CLI" wrk -t2 -c"$TX_CONNS" -d"${TX_SECS}s" --latency "$@" \
    http://198.51.100.3/small.bin | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0;
                     if (v ~ /m$/) return v * 60000; return v * 1000 }
    /^ *50%/ { p50 = ms($2) } /^ *99%/ { p99 = ms($2) } /^Requests\/sec:/ { r = $2 }
    /Non-2xx/ { print "wrk: " $0 > "/dev/stderr"; bad = 1 }
    END { if (bad || r == "") exit 1; printf "%.0f %.3f %.3f\n", r, p50, p99 }'
}

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

measure() { # mode -> DL RPS KA CL (tx lines) QUEUED, one round of each workload
  QUEUED="-"
  case "$1" in
    none) ;;
    queue) start_engine -r "$WORK/n.rules" --kernel-prefilter off ;;
    prefilter) start_engine -r "$WORK/n.rules" --kernel-prefilter on ;;
  esac
  DL="$(RUNS=1 download_gbps)"; RPS="$(RUNS=1 small_rps)"
  KA="$(tx)"; CL="$(tx -H 'Connection: close')"
  [[ -n "$ENGINE_PID" ]] && stop_engine
  return 0
}

# The two modes alternate round by round, so that both meet the same background load (a
# shared machine moves the baseline); medians of $RUNS rounds.
# Each tx field (rate, p50, p99) is the median of its own over the rounds.
txm() { # field, "rate p50 p99" lines -> median of that field
  local f="$1"; shift
  printf '%s\n' "$@" | awk -v f="$f" '{print $f}' | median
}
m() { printf '%s\n' "$@" | median; }
compare() { # -> q*/p* (dl rps ka ka50 ka99 cl cl50 cl99 q) for plain queueing / prefilter
  local a=() b=() c=() g=() h=() d=() e=() f=() i=() j=()
  for _ in $(seq "$RUNS"); do
    measure queue; a+=("$DL") b+=("$RPS") c+=("$QUEUED") g+=("$KA") h+=("$CL")
    measure prefilter; d+=("$DL") e+=("$RPS") f+=("$QUEUED") i+=("$KA") j+=("$CL")
  done
  qdl="$(m "${a[@]}")" qrps="$(m "${b[@]}")" qq="$(m "${c[@]}")"
  pdl="$(m "${d[@]}")" prps="$(m "${e[@]}")" pq="$(m "${f[@]}")"
  qka="$(txm 1 "${g[@]}")" qka50="$(txm 2 "${g[@]}")" qka99="$(txm 3 "${g[@]}")"
  qcl="$(txm 1 "${h[@]}")" qcl50="$(txm 2 "${h[@]}")" qcl99="$(txm 3 "${h[@]}")"
  pka="$(txm 1 "${i[@]}")" pka50="$(txm 2 "${i[@]}")" pka99="$(txm 3 "${i[@]}")"
  pcl="$(txm 1 "${j[@]}")" pcl50="$(txm 2 "${j[@]}")" pcl99="$(txm 3 "${j[@]}")"
}

NONE_DL="$(download_gbps)" NONE_RPS="$(small_rps)"
nka=() ncl=()
for _ in $(seq "$RUNS"); do nka+=("$(tx)") ncl+=("$(tx -H 'Connection: close')"); done
echo "no IPS: download $NONE_DL Gbit/s, $NONE_RPS small requests/s;" \
  "keep-alive $(txm 1 "${nka[@]}")/s (p50 $(txm 2 "${nka[@]}") ms, p99 $(txm 3 "${nka[@]}") ms);" \
  "connection per request $(txm 1 "${ncl[@]}")/s (p50 $(txm 2 "${ncl[@]}") ms, p99 $(txm 3 "${ncl[@]}") ms)"
echo "rule pool: $POOL prefilterable community rules"
printf '%5s %8s | %9s %9s %7s | %9s %9s %7s | %10s %10s\n' \
  rules xt_rules dl_queue dl_pref dl_x rps_queue rps_pref rps_x queued_q queued_p
CROSS=0 LOST="" DL_CROSS=0 DL_LOST="" KA_CROSS=0 KA_LOST="" CL_CROSS=0 CL_LOST="" TX_ROWS=()
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
  kx="$(awk -v a="$pka" -v b="$qka" 'BEGIN {printf "%.2f", a/b}')"
  cx="$(awk -v a="$pcl" -v b="$qcl" 'BEGIN {printf "%.2f", a/b}')"
  TX_ROWS+=("$(printf '%5s | %7s %7s %5s %6s/%-6s %6s/%-6s | %7s %7s %5s %6s/%-6s %6s/%-6s' \
    "$n" "$qka" "$pka" "$kx" "$qka50" "$pka50" "$qka99" "$pka99" \
    "$qcl" "$pcl" "$cx" "$qcl50" "$pcl50" "$qcl99" "$pcl99")")
  # crossover per workload: the largest N up to which every count was at least as fast
  if [[ -z "$KA_LOST" ]] && awk -v r="$kx" 'BEGIN {exit !(r >= 1)}'; then KA_CROSS="$n"; else KA_LOST=1; fi
  if [[ -z "$CL_LOST" ]] && awk -v r="$cx" 'BEGIN {exit !(r >= 1)}'; then CL_CROSS="$n"; else CL_LOST=1; fi
  # python's server-bound requests and the bulk download, for comparison
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
echo
printf '%5s | %7s %7s %5s %13s %13s | %7s %7s %5s %13s %13s\n' rules ka_q ka_p ka_x \
  p50_q/p_ms p99_q/p_ms conn_q conn_p conn_x p50_q/p_ms p99_q/p_ms
printf '%s\n' "${TX_ROWS[@]}"
echo "(transactions/s with wrk, $TX_CONNS connections, ${TX_SECS} s, medians of $RUNS rounds: ka keep-alive, conn a"
echo " connection per request; latency per transaction in ms, plain queueing / prefilter; _x: prefilter / queue)"
echo "crossover: the largest rule count up to which the prefilter was at least as fast as plain queueing"
echo "  transactions, connection per request: $CL_CROSS; keep-alive: $KA_CROSS"
echo "  small requests (python, server-bound): $CROSS; bulk download: $DL_CROSS"
echo "AUTO_MAX_RULES (both transactional workloads gain): $(( KA_CROSS < CL_CROSS ? KA_CROSS : CL_CROSS ))"
