#!/usr/bin/env bash
# A 1,000,000-record zone (one A record per name) on dnslb and on NSD, one after the other on
# the same machine: how long `check` takes and how much memory it peaks at (against
# nsd-checkzone), the time from start to the first answer, the memory while serving (PSS of
# every process of the server, and the peak), and for dnslb a reload of a changed zone (its
# time, its peak, and the memory it comes back to).
#
#   bench/million.sh [records, default 1000000]
#   SIGNED=1 bench/million.sh 200000   # the zone signed by ldns-signzone (NSEC3, RFC 9276)
#
# Installs nsd and dig with apt when missing. Listens on 127.0.0.1 only; every process started
# here is stopped by its PID on exit.
set -euo pipefail
cd "$(dirname "$0")"
RECORDS=${1:-1000000}
PORT=5397
SIGNED=${SIGNED:-}
TOOLS="nsd:nsd dig:dnsutils bc:bc${SIGNED:+ ldns-signzone:ldnsutils}"
EXTRA_NEED=$([ -x /usr/bin/time ] || echo time)
. ./prepare.sh

mkdir -p "$work/zones"
plain_zone() { # serial
  printf '$ORIGIN million.test.\n$TTL 300\n@ SOA ns1 h %s 7200 3600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n' "$1"
  seq 0 $((RECORDS - 1)) | awk '{ printf "host%d A 10.%d.%d.%d\n", $1, int($1/65536)%256, int($1/256)%256, $1%256 }'
}
small() { # serial: a small zone beside it
  printf '$ORIGIN small.test.\n$TTL 300\n@ SOA ns1 h %s 7200 3600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n' "$1"
}
if [ -n "$SIGNED" ]; then
  # One KSK and one ZSK (ECDSA P-256); NSEC3 with no salt and no extra iterations.
  (cd "$work" && ldns-keygen -a ECDSAP256SHA256 -k million.test >ksk && ldns-keygen -a ECDSAP256SHA256 million.test >zsk)
fi
zone() { # serial: the zone, signed when asked
  if [ -z "$SIGNED" ]; then plain_zone "$1"; return; fi
  plain_zone "$1" > "$work/unsigned"
  (cd "$work" && ldns-signzone -n -s '' -t 0 -o million.test -f - unsigned "$(cat ksk)" "$(cat zsk)")
}
zone 1 > "$work/zones/million.test.zone"
small 1 > "$work/zones/small.test.zone"
cat > "$work/dnslb.toml" <<CONF
[server]
listen = ["127.0.0.1:$PORT"]
zones = "$work/zones"
watch = false
CONF
nsd_conf "$work/zones" million.test small.test > "$work/nsd.conf"

answers() { # serial [zone]: the zone's SOA has that serial
  dig +time=1 +tries=1 +short @127.0.0.1 -p $PORT "${2:-million.test}" SOA 2>/dev/null | awk '{ print $3 }' | grep -qx "$1"
}
until_answered() { # serial [zone]; prints the seconds it took
  local t0; t0=$(now)
  for _ in $(seq 6000); do
    answers "$@" && { printf '%.2f\n' "$(echo "$(now) - $t0" | bc)"; return 0; }
    sleep 0.02
  done
  echo "never"
}

echo "$RECORDS-record zone${SIGNED:+, signed with NSEC3} ($(du -m "$work/zones/million.test.zone" | cut -f1) MB of zone file), $(date -u +%F), $(nproc) cores"
echo "check:        dnslb $(timed ../target/release/dnslb --config "$work/dnslb.toml" check)"
echo "              nsd-checkzone $(timed nsd-checkzone million.test "$work/zones/million.test.zone")"

RUST_LOG=warn ../target/release/dnslb --config "$work/dnslb.toml" >"$work/dnslb.log" 2>&1 &
pid=$!
d_start=$(until_answered 1)
sleep 3 # the memory given back after the swap
d_pss=$(pss $pid); d_peak=$(peak $pid)
zone 2 > "$work/zones/million.test.zone"
kill -HUP $pid
d_reload=$(until_answered 2)
sleep 4
d_after=$(pss $pid); d_reload_peak=$(peak $pid)
small 2 > "$work/zones/small.test.zone"
kill -HUP $pid
d_small=$(until_answered 2 small.test)
kill $pid; wait $pid 2>/dev/null || true; pid=""

zone 1 > "$work/zones/million.test.zone"
nsd -d -c "$work/nsd.conf" >"$work/nsd.out" 2>&1 &
pid=$!
n_start=$(until_answered 1)
sleep 3
n_pss=$(pss $pid); n_peak=$(peak $pid)
kill $pid; wait $pid 2>/dev/null || true; pid=""

echo "start to first answer: dnslb ${d_start} s, nsd ${n_start} s"
echo "serving (PSS):         dnslb ${d_pss} MB (peak ${d_peak} MB), nsd ${n_pss} MB (peak ${n_peak} MB, all its processes)"
echo "dnslb reload:          ${d_reload} s to the new serial, peak ${d_reload_peak} MB, ${d_after} MB after"
echo "                       ${d_small} s to a small zone's new serial, the large one unchanged"
echo "ratios dnslb/nsd:      start $(echo "scale=1; $d_start / $n_start" | bc), PSS $(echo "scale=2; $d_pss / $n_pss" | bc)"
