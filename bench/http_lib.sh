# Sourced by the HTTP benches (bench/http.sh, bench/prefilter.sh) once the topology is up and
# $WORK, $SRV, $CLI, $RUNS and $BIG_MB are set: the python3 HTTP/1.1 file server in srv
# (198.51.100.2:80, serving $WORK/www: big.bin of $BIG_MB MiB, small.bin of 1 KiB; its pid in
# $HTTP_PID, for the caller's cleanup), `median`, and `download_gbps` (median of $RUNS curl
# downloads of big.bin, Gbit/s).
mkdir -p "$WORK/www"
head -c "$((BIG_MB << 20))" /dev/urandom > "$WORK/www/big.bin"
head -c 1024 /dev/urandom > "$WORK/www/small.bin"
cat > "$WORK/srv.py" <<'PY'
import http.server, os, sys
os.chdir(sys.argv[1])
class H(http.server.SimpleHTTPRequestHandler):
    protocol_version = 'HTTP/1.1'
    disable_nagle_algorithm = True  # else header and body writes wait 40 ms on delayed ACKs
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('198.51.100.2', 80), H).serve_forever()
PY
ip netns exec "$SRV" python3 "$WORK/srv.py" "$WORK/www" & HTTP_PID=$!
for _ in $(seq 100); do
  ip netns exec "$CLI" curl -s -o /dev/null http://198.51.100.2/small.bin && break
  sleep 0.1
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "nan"; else print a[int((NR+1)/2)]}'; }

download_gbps() {
  for _ in $(seq "$RUNS"); do
    ip netns exec "$CLI" curl -s -o /dev/null -w '%{size_download} %{time_total}\n' \
      --max-time 120 http://198.51.100.2/big.bin | awk '{printf "%.3f\n", $1*8/$2/1e9}'
  done | median
}
