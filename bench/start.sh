#!/usr/bin/env bash
# Start-up benchmark (not a test): for each rule set, `verdict compile` wall time and rules/s,
# then `verdict run` in a scratch network namespace: time to "ready" (with its parse /
# compile / engine / kernel split) and the engine's memory (peak RSS, VmHWM, and RSS once
# ready). Medians of $RUNS. No traffic: bench/net.sh measures the same sets under load.
#
#   sudo bench/start.sh                       # community and the ET Open half
#   SETS="etopen" RUNS=5 bench/start.sh
#
# Sets: community (the Snort community rules, enabled), etopen (every *.rules file of
# ../shared/rules/et-open, enabled rules, vars as in bench/etopen.toml).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-3}"
SETS="${SETS:-community etopen}"
WORKERS="${WORKERS:-2}"
RULES="${RULES:-$ROOT/../shared/rules}"
VERDICT="${VERDICT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/verdict}"

if [[ $EUID -ne 0 ]]; then echo "bench/start.sh: needs root (network namespace, nft)" >&2; exit 1; fi
if [[ ! -x "$VERDICT" ]]; then
  (cd "$ROOT" && cargo build --release --bin verdict)
fi

NS="vstart$$"
WORK="$(mktemp -d /tmp/verdict-start.XXXXXX)"
ENGINE_PID=""
cleanup() {
  [[ -n "$ENGINE_PID" ]] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null || true
  ip netns del "$NS" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$NS"
ip -n "$NS" link set lo up

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

set_args() { # set -> rule paths and options in SET_ARGS
  case "$1" in
    community) SET_ARGS=("$RULES/snort-community/community.rules") ;;
    etopen) SET_ARGS=("$RULES/et-open" --config "$ROOT/bench/etopen.toml") ;;
    *) echo "unknown set $1" >&2; exit 1 ;;
  esac
}

printf '%-10s %7s %10s %9s %9s %8s %8s %8s %8s %9s %9s\n' set rules compile_ms rules_s ready_ms parse compile engine kernel hwm_mb rss_mb
for s in $SETS; do
  set_args "$s"
  cms=() rdy=() pms=() cpms=() ems=() kms=() hwm=() rss=() rules=""
  for _ in $(seq "$RUNS"); do
    t0="$(now_ms)"
    "$VERDICT" compile -q "${SET_ARGS[@]}" -o "$WORK/out" 2>/dev/null
    cms+=($(( $(now_ms) - t0 )))
    rules="$(jq '[.fates[]] | add' "$WORK/out/report.json")"

    log="$WORK/engine.log"
    ip netns exec "$NS" "$VERDICT" run -r "${SET_ARGS[0]}" "${SET_ARGS[@]:1}" \
      --workers "$WORKERS" --log-dir "$WORK/log" --control-socket "$WORK/ctl.sock" \
      --state-file "$WORK/state.json" >"$log" 2>&1 &
    ENGINE_PID=$!
    for _ in $(seq 600); do
      grep -q 'verdict: ready' "$log" && break
      kill -0 "$ENGINE_PID" 2>/dev/null || { echo "engine failed:" >&2; cat "$log" >&2; exit 1; }
      sleep 0.02
    done
    line="$(grep 'verdict: ready' "$log" | head -1)"
    [[ -n "$line" ]] || { echo "engine never ready:" >&2; cat "$log" >&2; exit 1; }
    read -r r p c e k < <(sed -n 's/.*ready (\([0-9]*\) ms: parse \([0-9]*\), compile \([0-9]*\), engine \([0-9]*\), kernel \([0-9]*\) ms).*/\1 \2 \3 \4 \5/p' <<<"$line")
    rdy+=("$r") pms+=("$p") cpms+=("$c") ems+=("$e") kms+=("$k")
    sleep 0.5 # the workers have opened their queues and allocated what they keep
    hwm+=("$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$ENGINE_PID/status")")
    rss+=("$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$ENGINE_PID/status")")
    kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID" 2>/dev/null || true
    ENGINE_PID=""
  done
  m() { printf '%s\n' "$@" | median; }
  cm="$(m "${cms[@]}")"
  printf '%-10s %7s %10s %9.0f %9s %8s %8s %8s %8s %9s %9s\n' "$s" "$rules" "$cm" \
    "$(awk -v n="$rules" -v t="$cm" 'BEGIN {print n / (t / 1000)}')" \
    "$(m "${rdy[@]}")" "$(m "${pms[@]}")" "$(m "${cpms[@]}")" "$(m "${ems[@]}")" \
    "$(m "${kms[@]}")" "$(m "${hwm[@]}")" "$(m "${rss[@]}")"
done
echo "(rules: rules read, loaded or not; compile_ms: \`verdict compile\` wall time incl. writing; ready: \`verdict run\` start to ready, $WORKERS workers; hwm: peak RSS)"
