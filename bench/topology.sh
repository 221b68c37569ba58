# Sourced by the network benches once $CLI, $GW and $SRV are named: the cli — gw — srv
# namespaces wired with veths, addresses on the documentation ranges, routes and forwarding;
# returns once cli reaches srv (bounded).
for ns in "$CLI" "$GW" "$SRV"; do ip netns add "$ns"; ip -n "$ns" link set lo up; done
ip -n "$CLI" link add eth0 type veth peer name c0 netns "$GW"
ip -n "$SRV" link add eth0 type veth peer name s0 netns "$GW"
ip -n "$CLI" addr add 192.0.2.2/24 dev eth0
ip -n "$GW" addr add 192.0.2.1/24 dev c0
ip -n "$GW" addr add 198.51.100.1/24 dev s0
ip -n "$SRV" addr add 198.51.100.2/24 dev eth0
for x in "$CLI eth0" "$GW c0" "$GW s0" "$SRV eth0"; do set -- $x; ip -n "$1" link set "$2" up; done
ip -n "$CLI" route add default via 192.0.2.1
ip -n "$SRV" route add default via 198.51.100.1
ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1
for _ in $(seq 50); do ip netns exec "$CLI" ping -c1 -W1 -q 198.51.100.2 >/dev/null 2>&1 && break; sleep 0.1; done
