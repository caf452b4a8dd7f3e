#!/usr/bin/env bash
# Signing a zone of one A record per name (200,000 by default) with NSEC3 (RFC 9276: no salt,
# no extra iteration) and one ECDSA P-256 key (a CSK, made by dnssec-keygen), one signer after
# the other on the same machine:
#
#   dnslb   start to the first signed answer (it signs at load), `check` (which signs too), the
#           memory while serving the signed zone (PSS) and the peak;
#   Knot    the same key imported by `keymgr`, knotd signing at load: start to the first signed
#           answer; then `knotc zone-sign` (signing everything again) to its end;
#   BIND    `dnssec-signzone -S` (a second peer), time and peak;
#   NSD     serving the zone BIND signed: its memory (PSS of every process), against dnslb's.
#
#   bench/sign.sh [names, default 200000]
#
# Installs nsd, knot, bind9-utils and dig with apt when missing. Listens on 127.0.0.1 only;
# every process started here is stopped by its PID on exit.
set -euo pipefail
cd "$(dirname "$0")"
NAMES=${1:-200000}
PORT=5396
TOOLS="nsd:nsd knotd:knot dnssec-keygen:bind9-utils dig:dnsutils bc:bc"
EXTRA_NEED=$([ -x /usr/bin/time ] || echo time)
. ./prepare.sh

mkdir -p "$work/zones" "$work/keys" "$work/knot-db" "$work/knot-run" "$work/bind"
{
  printf '$ORIGIN sign.test.\n$TTL 300\n@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n'
  seq 0 $((NAMES - 1)) | awk '{ printf "host%d A 10.%d.%d.%d\n", $1, int($1/65536)%256, int($1/256)%256, $1%256 }'
} > "$work/zones/sign.test.zone"
key=$(dnssec-keygen -q -K "$work/keys" -a ECDSAP256SHA256 -f KSK sign.test)
cat > "$work/dnslb.toml" <<CONF
[server]
listen = ["127.0.0.1:$PORT"]
zones = "$work/zones"
watch = false

[[zone]]
name = "sign.test"
dnssec = { keys = "$work/keys" }
CONF

signed_answer() { # the last name's A comes with its RRSIG
  dig +time=1 +tries=1 +dnssec @127.0.0.1 -p $PORT "host$((NAMES - 1)).sign.test" A 2>/dev/null | grep -q 'RRSIG'
}
until_signed() { # prints the seconds it took
  local t0; t0=$(now)
  for _ in $(seq 3000); do
    signed_answer && { printf '%.2f\n' "$(echo "$(now) - $t0" | bc)"; return 0; }
    sleep 0.02
  done
  echo "never"
}

echo "$NAMES names, NSEC3 (no salt, no extra iteration), one ECDSAP256SHA256 key; $(date -u +%F), $(nproc) cores"
echo "dnslb check (signs):    $(timed ../target/release/dnslb --config "$work/dnslb.toml" check)"
RUST_LOG=warn ../target/release/dnslb --config "$work/dnslb.toml" >"$work/dnslb.log" 2>&1 &
pid=$!
d_start=$(until_signed)
sleep 3 # the memory given back after the swap
d_pss=$(pss $pid); d_peak=$(peak $pid)
kill $pid; wait $pid 2>/dev/null || true; pid=""

keymgr -D "$work/knot-db/keys" sign.test. import-bind "$work/keys/$key" >/dev/null
# A CSK to Knot too (imported keys with the SEP flag are KSKs alone).
keymgr -D "$work/knot-db/keys" sign.test. set "$(echo "$key" | sed 's/.*+0*//')" zsk=yes >/dev/null
{ knot_server_conf; cat <<CONF
control:
  listen: "$work/knot.sock"
policy:
  - id: csk
    manual: on
    single-type-signing: on
    algorithm: ecdsap256sha256
    nsec3: on
    nsec3-iterations: 0
    nsec3-salt-length: 0
    cds-cdnskey-publish: none
template:
  - id: default
    storage: "$work/zones"
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
zone:
  - domain: sign.test
    file: sign.test.zone
    dnssec-signing: on
    dnssec-policy: csk
CONF
} > "$work/knot.conf"
knotd -c "$work/knot.conf" >"$work/knot.log" 2>&1 &
pid=$!
k_start=$(until_signed)
k_peak=$(peak $pid)
t0=$(now)
knotc -s "$work/knot.sock" -b -t 600 zone-sign sign.test >/dev/null 2>&1 || true
k_resign=$(printf '%.2f' "$(echo "$(now) - $t0" | bc)")
kill $pid; wait $pid 2>/dev/null || true; pid=""

b_sign=$(cd "$work/bind" && timed dnssec-signzone -z -S -K "$work/keys" -3 - -H 0 -o sign.test \
  -f "$work/bind/sign.test.zone" "$work/zones/sign.test.zone")
nsd_conf "$work/bind" sign.test > "$work/nsd.conf"
nsd -d -c "$work/nsd.conf" >"$work/nsd.out" 2>&1 &
pid=$!
n_start=$(until_signed)
sleep 3
n_pss=$(pss $pid); n_peak=$(peak $pid)
kill $pid; wait $pid 2>/dev/null || true; pid=""

echo "start to a signed answer: dnslb ${d_start} s, knot ${k_start} s (ratio $(echo "scale=2; $d_start / $k_start" | bc))"
echo "knot zone-sign again:     ${k_resign} s"
echo "dnssec-signzone -S:       ${b_sign}"
echo "memory serving signed:    dnslb ${d_pss} MB (peak ${d_peak} MB), nsd ${n_pss} MB (peak ${n_peak} MB, BIND's signed file, loaded in ${n_start} s), knot peak ${k_peak} MB"
echo "ratio dnslb/nsd PSS:      $(echo "scale=2; $d_pss / $n_pss" | bc)"
