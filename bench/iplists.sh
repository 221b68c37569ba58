#!/usr/bin/env bash
# IP reputation lists in the kernel (not a test): time to "ready" and memory of `verdict run`
# with ET Open's IP-list rules (drop.rules, compromised.rules, botcc.rules: header-only rules
# over address lists with a threshold and dead flowbits) in nft, against the same lists kept in
# the queue, and with a large synthetic list. Prints one table, medians of $RUNS; one gateway
# namespace, no traffic.
#
#   sudo bench/iplists.sh
#   RUNS=5 bench/iplists.sh
#
# Configurations:
#   lists         ET Open's IP-list files: the rules go to the kernel
#   lists-queued  the same files plus one queued rule testing ET.Evil (`flowbits:isset`): the
#                 rules that set the bit must then stay queued (compromised.rules sets none)
#   et-half       the whole public ET Open half (lists in the kernel, the rest queued)
#   synthetic     $SYN_RULES rules of $SYN_PER addresses each from 2001:db8::/32 (a large
#                 list in one transaction; documentation addresses only)
#
# Columns: rules in kernel / queue, nft rules, elements of the loaded table's sets, time
# to "ready" (ms; compile, nft -c and nft -f included), the engine's peak RSS (MB), and the
# growth of the kernel's slab memory while the table is loaded (MB, noisy on a shared box).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
RUNS="${RUNS:-3}"
ET="${ET:-$ROOT/../shared/rules/et-open}"
SYN_RULES="${SYN_RULES:-50}"
SYN_PER="${SYN_PER:-2000}"
CONFIGS="${CONFIGS:-lists lists-queued et-half synthetic}"
VERDICT="${VERDICT:-$ROOT/target/release/verdict}"

if [[ $EUID -ne 0 ]]; then echo "bench/iplists.sh: needs root (network namespace, nft)" >&2; exit 1; fi
for t in ip nft jq; do
  command -v "$t" >/dev/null || { echo "bench/iplists.sh: $t is not installed" >&2; exit 1; }
done
if [[ ! -x "$VERDICT" ]]; then
  (cd "$ROOT" && cargo build --release --bin verdict)
fi

GW="vbenchip$$-gw"
WORK="$(mktemp -d /tmp/verdict-bench-ip.XXXXXX)"
ENGINE_PID=""
cleanup() {
  [[ -n "$ENGINE_PID" ]] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null || true
  ip netns del "$GW" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
ip netns add "$GW"
ip -n "$GW" link set lo up

LISTS=("$ET/drop.rules" "$ET/compromised.rules" "$ET/botcc.rules" "$ET/botcc.portgrouped.rules")
cat "${LISTS[@]}" >"$WORK/lists.rules"
{ cat "$WORK/lists.rules"
  echo 'alert tcp any any -> any any (msg:"bench: tests ET.Evil"; flowbits:isset,ET.Evil; content:"never-in-a-bench"; sid:9990001; rev:1;)'
} >"$WORK/lists-queued.rules"
cat "$ET"/*.rules >"$WORK/et-half.rules"
awk -v n="$SYN_RULES" -v per="$SYN_PER" 'BEGIN {
  for (r = 0; r < n; r++) {
    printf "alert ip ["
    for (i = 0; i < per; i++) {
      k = r * per + i
      printf "%s2001:db8:%x:%x::1", (i ? "," : ""), int(k / 65536), k % 65536
    }
    printf "] any -> any any (msg:\"bench synthetic list %d\"; threshold: type limit, track by_src, seconds 3600, count 1; sid:%d; rev:1;)\n", r, 9980000 + r
  }
}' >"$WORK/synthetic.rules"

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }

run_once() { # file; prints "ready_ms rss_mb slab_mb kernel queue nft_rules intervals"
  local log="$WORK/engine.log" slab0 slab1
  slab0="$(slab_kb)"
  ip netns exec "$GW" "$VERDICT" run -r "$1" --log-dir "$WORK/log" --workers 1 >"$log" 2>&1 &
  ENGINE_PID=$!
  for _ in $(seq 1200); do
    if grep -q 'verdict: ready' "$log"; then break; fi
    if ! kill -0 "$ENGINE_PID" 2>/dev/null; then echo "engine failed:" >&2; cat "$log" >&2; exit 1; fi
    sleep 0.05
  done
  local ready k q rules ivals rss
  ready="$(sed -n 's/.*verdict: ready (\([0-9]*\) ms.*/\1/p' "$log" | head -1)"
  [[ -n "$ready" ]] || { echo "engine never ready:" >&2; cat "$log" >&2; exit 1; }
  slab1="$(slab_kb)"
  k="$(sed -n 's/.* \([0-9]*\) in kernel.*/\1/p' "$log" | head -1)"
  q="$(sed -n 's/.* \([0-9]*\) in queue.*/\1/p' "$log" | head -1)"
  ip netns exec "$GW" nft list table inet verdict >"$WORK/table.nft"
  rules="$(grep -c 'comment "sid:' "$WORK/table.nft" || true)"
  # Elements of the table's named sets, as the kernel holds them (it merges adjacent ones).
  ivals="$(ip netns exec "$GW" nft -j list table inet verdict \
    | jq '[.nftables[] | .set? // empty | (.elem // []) | length] | add // 0')"
  rss="$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$ENGINE_PID/status" 2>/dev/null || echo nan)"
  kill -TERM "$ENGINE_PID"; wait "$ENGINE_PID" 2>/dev/null || true
  ENGINE_PID=""
  echo "$ready $rss $(awk -v a="$slab0" -v b="$slab1" 'BEGIN {printf "%.1f", (b - a) / 1024}') $k $q $rules $ivals"
}

printf '%-13s %7s %7s %9s %10s %9s %7s %8s\n' config kernel queue nft_rules intervals ready_ms rss_mb slab_mb
for c in $CONFIGS; do
  readys=() rsss=() slabs=()
  for _ in $(seq "$RUNS"); do
    read -r ready rss slab k q rules ivals < <(run_once "$WORK/$c.rules")
    readys+=("$ready"); rsss+=("$rss"); slabs+=("$slab")
  done
  printf '%-13s %7s %7s %9s %10s %9s %7s %8s\n' "$c" "$k" "$q" "$rules" "$ivals" \
    "$(printf '%s\n' "${readys[@]}" | median)" "$(printf '%s\n' "${rsss[@]}" | median)" \
    "$(printf '%s\n' "${slabs[@]}" | median)"
done
