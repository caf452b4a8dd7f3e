#!/usr/bin/env bash
# Throughput of dnslb against NSD on the same zone, in the same run, with dnsperf.
#
#   bench/run.sh [seconds per run, default 10]
#
# Installs dnsperf, nsd, dig and bc with apt when missing. Everything listens on 127.0.0.1 only; every
# process started here is stopped by its PID on exit.
set -euo pipefail
cd "$(dirname "$0")"
DURATION=${1:-10}
DNSLB_PORT=5391
NSD_PORT=5392

export PATH="$PATH:/usr/sbin:/sbin"
if ! command -v dnsperf >/dev/null || ! command -v nsd >/dev/null || ! command -v dig >/dev/null || ! command -v bc >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq dnsperf nsd dnsutils bc >/dev/null
fi
(cd .. && cargo build --release --quiet)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# NSD serves the same zone, with the pooled names as plain RRsets of the same addresses.
cp zones/bench.test.zone "$work/bench.test.zone"
cat >> "$work/bench.test.zone" <<'ZONE'
pool    IN A   192.0.2.10
        IN A   192.0.2.11
        IN A   192.0.2.12
one     IN A   192.0.2.10
ZONE
# A 200,000-name zone, to show that answers do not slow down with the zone's size.
mkdir -p "$work/big/zones"
{
  printf '$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n'
  seq 0 199999 | awk '{ printf "host%d A 10.%d.%d.%d\n", $1, int($1/65536)%256, int($1/256)%256, $1%256 }'
} > "$work/big/zones/big.test.zone"
cp "$work/big/zones/big.test.zone" "$work/big.test.zone"
printf '[server]\nlisten = ["127.0.0.1:%s"]\nwatch = false\n' "$DNSLB_PORT" > "$work/big/dnslb.toml"

cat > "$work/nsd.conf" <<CONF
server:
  ip-address: 127.0.0.1
  port: $NSD_PORT
  server-count: $(nproc)
  username: ""
  chroot: ""
  zonesdir: "$work"
  database: ""
  pidfile: "$work/nsd.pid"
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  logfile: "$work/nsd.log"
  hide-version: yes
  rrl-ratelimit: 0          # response rate limiting would cap a benchmark at 200 q/s
remote-control:
  control-enable: no
zone:
  name: bench.test
  zonefile: bench.test.zone
zone:
  name: big.test
  zonefile: big.test.zone
CONF
nsd -d -c "$work/nsd.conf" &
NSD_PID=$!
pids+=("$NSD_PID")
start_dnslb() { # config
  RUST_LOG=warn ../target/release/dnslb --config "$1" &
  DNSLB_PID=$!
  pids+=("$DNSLB_PID")
}
start_dnslb dnslb.toml

wait_for() { # port [zone]
  for _ in $(seq 100); do
    dig +time=1 +tries=1 @127.0.0.1 -p "$1" "ns1.${2:-bench.test}" A +short 2>/dev/null | grep -q 127.0.0.1 && return 0
    sleep 0.1
  done
  echo "server on port $1 did not come up" >&2
  exit 1
}
wait_for $DNSLB_PORT
wait_for $NSD_PORT

qps() { # port, query file
  dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$DURATION" -c 4 -q 200 2>&1 | awk '/Queries per second/ {print $4}'
}

declare -A QPS
run() { # key, label, query lines...
  local key=$1 label=$2; shift 2
  printf '%s\n' "$@" > "$work/q.txt"
  local a b
  a=$(qps $DNSLB_PORT "$work/q.txt")
  b=$(qps $NSD_PORT "$work/q.txt")
  printf '%-38s dnslb %10.0f q/s   nsd %10.0f q/s   dnslb/nsd %.2f\n' "$label" "$a" "$b" "$(echo "$a / $b" | bc -l)"
  QPS[$key]=$a
}

echo "dnsperf, $DURATION s per run, $(nproc) cores, dnslb and NSD on 127.0.0.1"
run static "static A (3-record RRset)" "static.bench.test A"
run mixed "mixed (A, CNAME, wildcard, NXDOMAIN)" "static.bench.test A" "alias.bench.test A" "x.wild.bench.test A" "nope.bench.test A" "bench.test SOA"
run pool3 "pool A, answers=3 (NSD: RRset)" "pool.bench.test A"
run pool1 "pool A, answers=1 (NSD: one A)" "one.bench.test A"

# CPU time per query at a fixed rate the machine sustains: steadier than peak rates on a box
# where dnsperf and the server share two cores.
ticks() { # pid: CPU clock ticks of the process and all its descendants (NSD forks its servers)
  local t p
  # utime + stime, counted after the command name, which may hold spaces ("nsd: server 1")
  t=$(sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}')
  for p in $(pgrep -P "$1" || true); do
    t=$((t + $(ticks "$p")))
  done
  echo "$t"
}
cpu_per_query() { # port, pid, question -> microseconds of CPU per query
  local before after done_
  printf '%s\n' "$3" > "$work/q.txt"
  before=$(ticks "$2")
  done_=$(dnsperf -s 127.0.0.1 -p "$1" -d "$work/q.txt" -l "$DURATION" -c 4 -q 200 -Q 50000 2>&1 | awk '/Queries completed/ {print $3}')
  after=$(ticks "$2")
  echo "($after - $before) * 1000000 / $(getconf CLK_TCK) / $done_" | bc -l
}
a=$(cpu_per_query $DNSLB_PORT "$DNSLB_PID" "static.bench.test A")
b=$(cpu_per_query $NSD_PORT "$NSD_PID" "static.bench.test A")
printf '%-38s dnslb %7.2f us    nsd %7.2f us    nsd/dnslb %.2f\n' "CPU per query at 50k q/s (static A)" "$a" "$b" "$(echo "$b / $a" | bc -l)"
p=$(cpu_per_query $DNSLB_PORT "$DNSLB_PID" "pool.bench.test A")
printf '%-38s dnslb %7.2f us    pooled/static %.2f\n' "CPU per query at 50k q/s (pool, 3 ans)" "$p" "$(echo "$p / $a" | bc -l)"

# The same questions on the 200,000-name zone.
kill "$DNSLB_PID"; wait "$DNSLB_PID" 2>/dev/null || true
start_dnslb "$work/big/dnslb.toml"
wait_for $DNSLB_PORT big.test
run big_a "200k-name zone: A" "host123456.big.test A" "host7.big.test A" "host199999.big.test A"
run big_nx "200k-name zone: NXDOMAIN" "nope1.big.test A" "zzz.big.test A" "host1.host2.big.test A"

echo
printf 'pooled vs static in dnslb: pool(answers=3)/static = %.2f\n' "$(echo "${QPS[pool3]} / ${QPS[static]}" | bc -l)"
