#!/usr/bin/env bash
# Userland instructions per query, counted by valgrind's callgrind over every thread (and process)
# of each server: dnslb, NSD, Knot and the floor (bench/floor.c, a reflector doing no DNS work),
# on the same zones, at a low rate. For each load the counters are dumped (and zeroed) before
# and after N queries: Ir / N. The count is exact and the same from run to run.
#
#   bench/callgrind.sh [queries per load, default 2000]
#
# Installs valgrind, dnsperf, nsd, knot and dig with apt when missing. Everything listens on
# 127.0.0.1 only; every process started here is stopped by its PID on exit.
set -euo pipefail
cd "$(dirname "$0")"
N=${1:-2000}
PORT=5395
export PATH="$PATH:/usr/sbin:/sbin"
need=()
for t in valgrind:valgrind dnsperf:dnsperf nsd:nsd knotd:knot dig:dnsutils bc:bc; do
  command -v "${t%%:*}" >/dev/null || need+=("${t##*:}")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
(cd .. && cargo build --release --quiet)

work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The zones: bench.test (static names, a CNAME, a wildcard, the pools) and a 200,000-name zone.
mkdir -p "$work/zones" "$work/plain"
cp zones/bench.test.zone "$work/zones/"
{
  printf '$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n'
  seq 0 199999 | awk '{ printf "host%d A 10.%d.%d.%d\n", $1, int($1/65536)%256, int($1/256)%256, $1%256 }'
} > "$work/zones/big.test.zone"
cp "$work/zones/big.test.zone" "$work/plain/"
# NSD and Knot serve the pooled names as plain RRsets of the same addresses.
cp zones/bench.test.zone "$work/plain/"
printf 'pool IN A 192.0.2.10\n     IN A 192.0.2.11\n     IN A 192.0.2.12\none  IN A 192.0.2.10\n' >> "$work/plain/bench.test.zone"
sed -e "s/127.0.0.1:5391/127.0.0.1:$PORT/" -e "s|zones = \"zones\"|zones = \"$work/zones\"|" dnslb.toml > "$work/dnslb.toml"

cat > "$work/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1
  port: $PORT
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$work/plain"
  database: ""
  pidfile: "$work/nsd.pid"
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  logfile: "$work/nsd.log"
  rrl-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: bench.test.zone
zone:
  name: big.test
  zonefile: big.test.zone
CONF
cat > "$work/knot.conf" <<CONF
server:
  listen: 127.0.0.1@$PORT
  rundir: "$work/knot-run"
  udp-workers: 1
  tcp-workers: 1
  background-workers: 1
database:
  storage: "$work/knot-db"
log:
  - target: stderr
    any: error
template:
  - id: default
    storage: "$work/plain"
    zonefile-load: whole
    journal-content: none
zone:
  - domain: bench.test
    file: bench.test.zone
  - domain: big.test
    file: big.test.zone
CONF
mkdir -p "$work/knot-run" "$work/knot-db"

wait_up() {
  for _ in $(seq 600); do
    dig +time=1 +tries=1 @127.0.0.1 -p $PORT ns1.big.test A 2>/dev/null | grep -q 'status: NOERROR' && return 0
    sleep 0.5
  done
  echo "server did not come up" >&2
  return 1
}

# Ir since the previous dump, summed over every process of the server.
dump() { # outdir
  callgrind_control -d >/dev/null 2>&1 || true
  sleep 1
  local total=0 f t
  for f in "$1"/cg.out.*; do
    [ -e "$f" ] || continue
    t=$(awk '/^(summary|totals):/ {print $2; exit}' "$f")
    total=$((total + ${t:-0}))
    rm -f "$f"
  done
  echo "$total"
}

LOADS=(static pool3 pool1 mixed big_a big_nx big_nodata)
declare -A QUERIES=(
  [static]="static.bench.test A"
  [pool3]="pool.bench.test A"
  [pool1]="one.bench.test A"
  [mixed]=$'static.bench.test A\nalias.bench.test A\nx.wild.bench.test A\nnope.bench.test A\nbench.test SOA'
  [big_a]=$'host123456.big.test A\nhost7.big.test A\nhost199999.big.test A'
  [big_nx]=$'nope1.big.test A\nzzz.big.test A\nhost1.host2.big.test A'
  [big_nodata]=$'host123456.big.test TXT\nhost7.big.test MX\nhost199999.big.test AAAA'
)
declare -A RESULT

measure() { # name, command...
  local name=$1; shift
  local out="$work/cg-$name"
  mkdir -p "$out"
  valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$out/cg.out.%p" "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  if ! wait_up; then RESULT[$name]="did not start"; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""; return; fi
  dump "$out" >/dev/null
  for load in "${LOADS[@]}"; do
    printf '%s\n' "${QUERIES[$load]}" > "$work/q.txt"
    local lines rounds sent
    lines=$(wc -l < "$work/q.txt")
    rounds=$(( (N + lines - 1) / lines ))
    sent=$(dnsperf -s 127.0.0.1 -p $PORT -d "$work/q.txt" -n "$rounds" -c 1 -Q 1000 2>&1 | awk '/Queries completed/ {print $3}')
    local ir; ir=$(dump "$out")
    RESULT[$name.$load]=$(( ir / (sent > 0 ? sent : 1) ))
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
}

cc -O2 -o "$work/floor" floor.c
measure floor "$work/floor" 127.0.0.1 $PORT
measure dnslb env RUST_LOG=warn ../target/release/dnslb --config "$work/dnslb.toml"
measure nsd nsd -d -c "$work/nsd.conf"
measure knot knotd -c "$work/knot.conf"

echo "userland instructions per query (callgrind, every thread and process; $N queries per load, $(date -u +%F))"
printf '%-12s' server; for load in "${LOADS[@]}"; do printf '%12s' "$load"; done; echo
for s in floor dnslb nsd knot; do
  printf '%-12s' "$s"
  if [ -n "${RESULT[$s]:-}" ]; then echo " ${RESULT[$s]}"; continue; fi
  for load in "${LOADS[@]}"; do printf '%12s' "${RESULT[$s.$load]}"; done; echo
done
