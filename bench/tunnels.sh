#!/usr/bin/env bash
# Replay cost of the tunnel decoders (not a test): generated captures of N UDP/TCP packets,
# plain and inside VXLAN and GRE, replayed with the decoders on (the default) and off
# ([decoder] all false), with the Snort community rules. One table: median seconds of RUNS
# replays and packets per second; the plain-traffic rows say what looking for tunnels costs
# traffic that has none.
#
#   bench/tunnels.sh
#   N=500000 RUNS=5 bench/tunnels.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${N:-200000}"
RUNS="${RUNS:-3}"
RULES="${RULES:-$ROOT/../shared/rules/snort-community/community.rules}"
VERDICT="${VERDICT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/verdict}"
[[ -x "$VERDICT" ]] || (cd "$ROOT" && cargo build --release --bin verdict)

WORK="$(mktemp -d /tmp/verdict-tunnelbench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

python3 - "$WORK" "$N" <<'PY'
import struct, sys
work, n = sys.argv[1], int(sys.argv[2])

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip4(src, dst, proto, payload, ident):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident & 0xffff, 0, 64, proto, 0,
                    bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

def udp(sp, dp, payload):
    return struct.pack("!HHHH", sp, dp, 8 + len(payload), 0) + payload

def tcp(sp, dp, seq, payload):
    return struct.pack("!HHIIBBHHH", sp, dp, seq, 1, 5 << 4, 0x18, 64240, 0, 0) + payload

def eth(l3):
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + l3

CLI, SRV = [192, 0, 2, 2], [198, 51, 100, 2]
OA, OB = [192, 0, 2, 10], [198, 51, 100, 10]
body = b"GET /index.html HTTP/1.1\r\nHost: example\r\n\r\n" + b"x" * 200

def inner(i):
    if i % 2:
        return ip4(CLI, SRV, 17, udp(40000 + i % 1000, 53, body[:120]), i)
    return ip4(CLI, SRV, 6, tcp(40000 + i % 1000, 8080, i * 300, body), i)

wraps = {
    "plain": lambda p, i: p,
    "vxlan": lambda p, i: ip4(OA, OB, 17, udp(50000, 4789, b"\x08\0\0\0\0\0\x2a\0" + eth(p)), i),
    "gre": lambda p, i: ip4(OA, OB, 47, b"\0\0\x08\x00" + p, i),
}
for name, wrap in wraps.items():
    with open(f"{work}/{name}.pcap", "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        for i in range(n):
            fr = eth(wrap(inner(i), i))
            f.write(struct.pack("<IIII", 1700000000 + i // 100000, i % 100000 * 10, len(fr), len(fr)))
            f.write(fr)
PY

printf '[decoder]\ngre = false\nipip = false\nteredo = false\nvxlan = false\ngeneve = false\n' > "$WORK/off.toml"
: > "$WORK/on.toml"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # capture config
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s.%N)
    "$VERDICT" replay "$WORK/$1.pcap" -r "$RULES" --config "$WORK/$2.toml" --no-suricata-config \
      -o "$WORK/out" -q >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; echo nan; continue; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
  done | median
}

echo "| capture | decoders | median s | packets/s |"
echo "|---|---|---|---|"
for cap in plain vxlan gre; do
  for cfg in on off; do
    s=$(run "$cap" "$cfg")
    printf '| %s | %s | %.3f | %.0f |\n' "$cap" "$cfg" "$s" "$(echo "$N / $s" | bc -l)"
  done
done
