#!/usr/bin/env bash
# Replay cost of the DCE/RPC parser (not a test): a generated capture of N TCP associations
# (bind, bind_ack, then R requests of 1 KiB stub on srvsvc, every fourth split in two
# fragments), replayed with a rule file that reads no DCE/RPC (the parser is off), one DCE
# rule that never matches (the parser runs on every association), one that matches a third
# of the requests on their stub data, and the Snort community DCE/RPC rules (commented out
# in the file; uncommented here). One table: median seconds
# of RUNS replays, packets per second, each row's time over the first row's, and the
# alerts of the last replay.
#
#   bench/dcerpc.sh
#   N=20000 R=20 RUNS=5 bench/dcerpc.sh
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${N:-5000}"
R="${R:-20}"
RUNS="${RUNS:-3}"
COMMUNITY="${COMMUNITY:-$ROOT/../shared/rules/snort-community/community.rules}"
VERDICT="${VERDICT:-${CARGO_TARGET_DIR:-$ROOT/target}/release/verdict}"
[[ -x "$VERDICT" ]] || (cd "$ROOT" && cargo build --release --bin verdict)

WORK="$(mktemp -d /tmp/verdict-dcebench.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

python3 - "$WORK" "$N" "$R" <<'PY'
import struct, sys, uuid
work, n, r = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def csum(b):
    if len(b) % 2: b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def ip4(src, dst, payload):
    h = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, 6, 0, bytes(src), bytes(dst))
    return h[:10] + struct.pack("!H", csum(h)) + h[12:] + payload

def tcp(sp, dp, seq, ack, flags, payload):
    return struct.pack("!HHIIBBHHH", sp, dp, seq, ack, 5 << 4, flags, 64240, 0, 0) + payload

def eth(l3):
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + l3

CLI, SRV = [192, 0, 2, 2], [198, 51, 100, 2]
SRVSVC = uuid.UUID("4b324fc8-1670-01d3-1278-5a47bf6ee188").bytes_le
NDR = uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860").bytes_le

def co(ptype, flags, call, body):
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", 16 + len(body), 0, call) + body

bind = co(11, 3, 1, struct.pack("<HHI", 4280, 4280, 0) + b"\x01\0\0\0"
          + struct.pack("<HBB", 0, 1, 0) + SRVSVC + struct.pack("<HH", 3, 0) + NDR + struct.pack("<I", 2))
ack = co(12, 3, 1, struct.pack("<HHI", 4280, 4280, 1) + struct.pack("<H", 4) + b"135\0" + b"\0\0"
         + b"\x01\0\0\0" + struct.pack("<HH", 0, 0) + NDR + struct.pack("<I", 2))
stub = bytes(range(256)) * 4

def req(call, flags, data):
    return co(0, flags, call, struct.pack("<IHH", len(data), 0, 15 + call % 3) + data)

frames = []
for a in range(n):
    sp, dp = 10000 + a % 50000, 135
    c, s = 1000, 5000
    frames.append(ip4(CLI, SRV, tcp(sp, dp, c, 0, 0x02, b"")))
    frames.append(ip4(SRV, CLI, tcp(dp, sp, s, c + 1, 0x12, b"")))
    c += 1; s += 1
    turns = [(True, bind), (False, ack)]
    for k in range(r):
        if k % 4 == 3:
            turns += [(True, req(k, 1, stub[:512])), (True, req(k, 2, stub[512:]))]
        else:
            turns.append((True, req(k, 3, stub)))
    for to_server, data in turns:
        if to_server:
            frames.append(ip4(CLI, SRV, tcp(sp, dp, c, s, 0x18, data))); c += len(data)
        else:
            frames.append(ip4(SRV, CLI, tcp(dp, sp, s, c, 0x18, data))); s += len(data)
    frames.append(ip4(SRV, CLI, tcp(dp, sp, s, c, 0x10, b"")))
with open(f"{work}/dce.pcap", "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, fr in enumerate(frames):
        fr = eth(fr)
        f.write(struct.pack("<IIII", 1700000000 + i // 100000, i % 100000 * 10, len(fr), len(fr)))
        f.write(fr)
print(len(frames), file=open(f"{work}/count", "w"))
PY

echo 'alert tcp any any -> any any (msg:"never"; content:"never-there-0123"; sid:1;)' > "$WORK/none.rules"
echo 'alert tcp any any -> any any (msg:"other iface"; dce_iface:338cd001-2244-31f1-aaaa-900038001003; dce_opnum:24; sid:2;)' > "$WORK/miss.rules"
echo 'alert tcp any any -> any any (msg:"srvsvc 15"; dce_iface:4b324fc8-1670-01d3-1278-5a47bf6ee188; dce_opnum:15; dce_stub_data; content:"|fc fd fe ff|"; sid:3;)' > "$WORK/hit.rules"
grep 'dce_iface' "$COMMUNITY" | sed 's/^# *//; s/\$EXTERNAL_NET/any/g; s/\$HOME_NET/any/g' > "$WORK/community.rules"
PKTS=$(cat "$WORK/count")

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
run() { # rules
  for _ in $(seq "$RUNS"); do
    local t0 t1
    rm -rf "$WORK/out"
    t0=$(date +%s.%N)
    "$VERDICT" replay "$WORK/dce.pcap" -r "$WORK/$1.rules" --no-suricata-config \
      -o "$WORK/out" -q >/dev/null 2>"$WORK/err" || { cat "$WORK/err" >&2; echo nan; continue; }
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc -l
  done | median
}

echo "$N associations, $R requests each, $PKTS packets"
echo "| rules | median s | packets/s | time / none | alerts |"
echo "|---|---|---|---|---|"
base=""
for rules in none miss hit community; do
  s=$(run "$rules")
  base=${base:-$s}
  alerts=$(grep -c '"event_type":"alert"' "$WORK/out/eve.json" || true)
  printf '| %s | %.3f | %.0f | %.2f | %s |\n' "$rules" "$s" "$(echo "$PKTS / $s" | bc -l)" \
    "$(echo "$s / $base" | bc -l)" "$alerts"
done
