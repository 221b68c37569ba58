#!/usr/bin/env bash
# Network benchmark of the inline path (not a test): cli -> gw -> srv network namespaces,
# traffic with iperf3 and ping, verdict running on gw. Prints one table, medians of $RUNS.
#
#   sudo bench/net.sh                 # all configurations
#   CONFIGS="none bare" bench/net.sh  # a subset
#   RUNS=1 SECS=2 bench/net.sh        # quicker, noisier
#
# Configurations:
#   none       no IPS: plain kernel forwarding
#   bare       bare accept-all NFQUEUE loop: `verdict run --accept-all` (all forwarded traffic
#              queued, same worker code and queue flags, no detection)
#   bare-nogso the same without the GSO flag (shows what the flag is worth)
#   empty      verdict with an empty rule set
#   probe      verdict with never-matching content rules on tcp/udp/icmp any any (all TCP,
#              UDP and ICMP queued and run through the prefilter and VM)
#   community  verdict with the Snort community rule set (+ the ICMP probe rule, so that the
#              ping latency is measured through the queue)
#   community-1mb  the same, payload inspected up to 1 MB per flow direction
#              (--inspect-depth, Suricata's default stream depth)
#   big        25,000 rules: the community set with its commented-out rules enabled, copied
#              with fresh sids until there are $BIG rules (startup time and RSS at scale)
#   etopen     the ET Open half (every *.rules file of ../shared/rules/et-open, fully loaded)
#              with bench/etopen.toml's variables: cli's network is HOME_NET and EXTERNAL_NET
#              is any, so the rules of both directions are live for the bench traffic (+ the
#              ICMP probe rule, so that ping crosses the queue)
#   etopen-full  the same with `--bypass off`: every packet of a steered flow is queued and
#              inspected, also past the stream depth (the default `direction` bypass hands a
#              bulk direction to the kernel after 1 MiB, which is most of an iperf3 run)
#
# Columns: TCP throughput 1 and 4 streams (Gbit/s), UDP 64-byte datagrams received per
# second, ping RTT avg and p99 (ms) and the p99 added over `none`, time to "ready" (ms) and the
# engine's RSS after the traffic (MB). Everything stays inside the namespaces, on the
# documentation ranges 192.0.2.0/24 and 198.51.100.0/24.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-3}"
SECS="${SECS:-3}"
WORKERS="${WORKERS:-}"
CONFIGS="${CONFIGS:-none bare bare-nogso empty probe community community-1mb big etopen}"
BIG="${BIG:-25000}"
COMMUNITY="${COMMUNITY:-$ROOT/../shared/rules/snort-community/community.rules}"
ETOPEN="${ETOPEN:-$ROOT/../shared/rules/et-open}"
VERDICT="${VERDICT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/verdict}"

if [[ $EUID -ne 0 ]]; then echo "bench/net.sh: needs root (network namespaces)" >&2; exit 1; fi
for t in ip iperf3 ping jq; do
  command -v "$t" >/dev/null || { echo "bench/net.sh: $t is not installed" >&2; exit 1; }
done
if [[ ! -x "$VERDICT" ]]; then
  (cd "$ROOT" && cargo build --release --bin verdict)
fi

TAG="vbench$$"
CLI="$TAG-cli" GW="$TAG-gw" SRV="$TAG-srv"
WORK="$(mktemp -d /tmp/verdict-bench.XXXXXX)"
ENGINE_PID=""
IPERF_PID=""

cleanup() {
  [[ -n "$ENGINE_PID" ]] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null || true
  [[ -n "$IPERF_PID" ]] && kill "$IPERF_PID" 2>/dev/null && wait "$IPERF_PID" 2>/dev/null || true
  for ns in "$CLI" "$GW" "$SRV"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

source "$ROOT/bench/topology.sh"

ip netns exec "$SRV" iperf3 -s -B 198.51.100.2 -D --pidfile "$WORK/iperf.pid" >/dev/null
sleep 0.3
IPERF_PID="$(cat "$WORK/iperf.pid")"

# Never-matching content rules: they steer all TCP, UDP and ICMP (so ping measures the queue
# path) through the prefilter and the VM without ever firing.
{
  printf 'alert tcp any any -> any any (msg:"bench probe"; content:"zq9vXk2pW"; sid:9000001; rev:1;)\n'
  printf 'alert udp any any -> any any (msg:"bench probe"; content:"zq9vXk2pW"; sid:9000002; rev:1;)\n'
} > "$WORK/probe.rules"
printf 'alert icmp any any -> any any (msg:"bench probe"; content:"zq9vXk2pW"; sid:9000003; rev:1;)\n' > "$WORK/icmp.rules"
cat "$WORK/icmp.rules" >> "$WORK/probe.rules"
: > "$WORK/empty.rules"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }

tcp_gbps() { # streams
  for _ in $(seq "$RUNS"); do
    ip netns exec "$CLI" iperf3 -c 198.51.100.2 -t "$SECS" -P "$1" -J 2>/dev/null \
      | jq '(.end.sum_received.bits_per_second // 0) / 1e9'
  done | median
}

udp_pps() {
  for _ in $(seq "$RUNS"); do
    ip netns exec "$CLI" iperf3 -c 198.51.100.2 -u -l 64 -b 0 -t "$SECS" -J 2>/dev/null \
      | jq '((.end.sum.packets // 0) - (.end.sum.lost_packets // 0)) / (.end.sum.seconds // 1) | floor'
  done | median
}

ping_once() { # prints "avg p99" in ms for 300 pings 5 ms apart
  ip netns exec "$CLI" ping -c 300 -i 0.005 -W 1 198.51.100.2 2>/dev/null \
    | sed -n 's/.*time=\([0-9.]*\) ms/\1/p' | sort -g \
    | awk '{a[NR]=$1; s+=$1} END {if (NR==0) {print "nan nan"} else {i=int(NR*0.99); if (i<1) i=1; printf "%.3f %.3f\n", s/NR, a[i]}}'
}

ping_stats() { # prints "avg p99" in ms: medians over $RUNS rounds (p99 is noisy on a busy box)
  ip netns exec "$CLI" ping -c 50 -i 0.005 -q -W 1 198.51.100.2 >/dev/null 2>&1 || true
  local avgs=() p99s=() a p
  for _ in $(seq "$RUNS"); do
    read -r a p < <(ping_once)
    avgs+=("$a"); p99s+=("$p")
  done
  echo "$(printf '%s\n' "${avgs[@]}" | median) $(printf '%s\n' "${p99s[@]}" | median)"
}

start_engine() { # args...; sets ENGINE_PID, READY_MS
  local log="$WORK/engine.log"
  local workers=()
  [[ -n "$WORKERS" ]] && workers=(--workers "$WORKERS")
  # Own control socket and state file: other engines (tests, benches) may run at the same time.
  ip netns exec "$GW" "$VERDICT" run --log-dir "$WORK/log" --control-socket "$WORK/ctl.sock" \
    --state-file "$WORK/state.json" "${workers[@]}" "$@" >"$log" 2>&1 &
  ENGINE_PID=$!
  for _ in $(seq 600); do
    if grep -q 'verdict: ready' "$log"; then break; fi
    if ! kill -0 "$ENGINE_PID" 2>/dev/null; then echo "engine failed:" >&2; cat "$log" >&2; exit 1; fi
    sleep 0.05
  done
  READY_MS="$(sed -n 's/.*verdict: ready (\([0-9]*\) ms.*/\1/p' "$log" | head -1)"
  [[ -n "$READY_MS" ]] || { echo "engine never ready:" >&2; cat "$log" >&2; exit 1; }
}

stop_engine() {
  RSS_MB="$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$ENGINE_PID/status" 2>/dev/null || echo nan)"
  kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID" 2>/dev/null || true
  ENGINE_PID=""
}

printf '%-13s %9s %9s %10s %9s %9s %9s %8s %7s\n' config tcp1_gbps tcp4_gbps udp64_pps ping_avg ping_p99 p99_added ready_ms rss_mb
BASE_P99=""
for c in $CONFIGS; do
  READY_MS="-" RSS_MB="-"
  case "$c" in
    none) ;;
    bare) start_engine --accept-all ;;
    bare-nogso) start_engine --accept-all --no-gso ;;
    empty) start_engine -r "$WORK/empty.rules" --allow-empty ;;
    probe) start_engine -r "$WORK/probe.rules" ;;
    community)
      if [[ ! -f "$COMMUNITY" ]]; then echo "skipping community: $COMMUNITY not found" >&2; continue; fi
      # Plus the never-matching ICMP rule, so ping crosses the queue with the community set.
      start_engine -r "$COMMUNITY" "$WORK/icmp.rules" ;;
    community-1mb)
      if [[ ! -f "$COMMUNITY" ]]; then echo "skipping community-1mb: $COMMUNITY not found" >&2; continue; fi
      start_engine -r "$COMMUNITY" "$WORK/icmp.rules" --inspect-depth 1048576 ;;
    big)
      if [[ ! -f "$COMMUNITY" ]]; then echo "skipping big: $COMMUNITY not found" >&2; continue; fi
      sed -n 's/^# *//; /^\(alert\|drop\|reject\|pass\) /p' "$COMMUNITY" > "$WORK/one.rules"
      n="$(wc -l < "$WORK/one.rules")"
      : > "$WORK/big.rules"
      for k in $(seq 0 $(( (BIG + n - 1) / n - 1 ))); do
        K="$k" perl -pe 's/sid:\s*(\d+)\s*;/"sid:".($1+$ENV{K}*100000000).";"/e' "$WORK/one.rules" >> "$WORK/big.rules"
      done
      head -n "$BIG" "$WORK/big.rules" > "$WORK/big25k.rules"
      start_engine -r "$WORK/big25k.rules" "$WORK/icmp.rules" ;;
    etopen)
      if [[ ! -d "$ETOPEN" ]]; then echo "skipping etopen: $ETOPEN not found" >&2; continue; fi
      start_engine -r "$ETOPEN" "$WORK/icmp.rules" --config "$ROOT/bench/etopen.toml" ;;
    etopen-full)
      if [[ ! -d "$ETOPEN" ]]; then echo "skipping etopen-full: $ETOPEN not found" >&2; continue; fi
      start_engine -r "$ETOPEN" "$WORK/icmp.rules" --config "$ROOT/bench/etopen.toml" --bypass off ;;
    *) echo "unknown config $c" >&2; exit 1 ;;
  esac
  t1="$(tcp_gbps 1)"; t4="$(tcp_gbps 4)"; u="$(udp_pps)"
  read -r pavg p99 < <(ping_stats)
  [[ "$c" == none ]] && BASE_P99="$p99"
  added="-"
  [[ -n "$BASE_P99" ]] && added="$(awk -v a="$p99" -v b="$BASE_P99" 'BEGIN {printf "%.3f", a-b}')"
  [[ -n "$ENGINE_PID" ]] && stop_engine
  printf '%-13s %9.2f %9.2f %10s %9s %9s %9s %8s %7s\n' "$c" "$t1" "$t4" "$u" "$pavg" "$p99" "$added" "$READY_MS" "$RSS_MB"
done
