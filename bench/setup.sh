# Sourced by run.sh and callgrind.sh, with $PORT set and $TOOLS listing `command:package` pairs:
# installs what is missing and builds dnslb (prepare.sh, which makes the work directory $work),
# and writes there the zones, the configs of dnslb, NSD
# and Knot serving them on 127.0.0.1:$PORT, and the floor reflector; defines the query loads
# and wait_up.

# MaxMind's writer makes the geo load's database.
EXTRA_NEED=$(perl -MMaxMind::DB::Writer::Tree -e 1 2>/dev/null || echo libmaxmind-db-writer-perl)
. ./prepare.sh

# bench.test (static names, a CNAME, a wildcard, the pools) and a 200,000-name zone.
mkdir -p "$work/zones" "$work/plain" "$work/knot-run" "$work/knot-db"
cp zones/bench.test.zone "$work/zones/"
{
  printf '$ORIGIN big.test.\n$TTL 300\n@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n'
  seq 0 199999 | awk '{ printf "host%d A 10.%d.%d.%d\n", $1, int($1/65536)%256, int($1/256)%256, $1%256 }'
} > "$work/zones/big.test.zone"
cp "$work/zones/big.test.zone" "$work/plain/"
# signed.test: 20,000 names signed with NSEC3 (no salt, no extra iterations) by ldns-signzone,
# for the DO loads (a tenth of big.test: valgrind loads a signed zone slowly, and an answer's
# cost does not depend on the zone's size).
{
  printf '$ORIGIN signed.test.\n$TTL 300\n@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n'
  seq 0 19999 | awk '{ printf "host%d A 10.%d.%d.%d\n", $1, int($1/65536)%256, int($1/256)%256, $1%256 }'
} > "$work/signed.unsigned"
(
  cd "$work"
  ksk=$(ldns-keygen -a ECDSAP256SHA256 -k signed.test)
  zsk=$(ldns-keygen -a ECDSAP256SHA256 signed.test)
  ldns-signzone -n -s '' -t 0 -o signed.test -f zones/signed.test.zone signed.unsigned "$ksk" "$zsk"
)
cp "$work/zones/signed.test.zone" "$work/plain/"
# online.test: 20,000 names and two pools, signed by dnslb itself (NSEC3) with keys made here;
# NSD and Knot serve it signed by ldns-signzone with the same keys, the pools as plain RRsets.
{
  printf '$ORIGIN online.test.\n$TTL 300\n@ SOA ns1 h 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 127.0.0.1\n'
  seq 0 19999 | awk '{ printf "host%d A 10.%d.%d.%d\n", $1, int($1/65536)%256, int($1/256)%256, $1%256 }'
} > "$work/zones/online.test.zone"
mkdir -p "$work/online-keys"
(
  cd "$work/online-keys"
  ksk=$(ldns-keygen -a ECDSAP256SHA256 -k online.test)
  zsk=$(ldns-keygen -a ECDSAP256SHA256 online.test)
  { cat "$work/zones/online.test.zone"
    printf 'pool IN A 192.0.2.10\n     IN A 192.0.2.11\n     IN A 192.0.2.12\none  IN A 192.0.2.10\n'
  } > "$work/online.unsigned"
  ldns-signzone -n -s '' -t 0 -o online.test -f "$work/plain/online.test.zone" "$work/online.unsigned" "$ksk" "$zsk"
)
# NSD and Knot serve the pooled names as plain RRsets of the same addresses.
cp zones/bench.test.zone "$work/plain/"
printf 'pool IN A 192.0.2.10\n     IN A 192.0.2.11\n     IN A 192.0.2.12\none  IN A 192.0.2.10\n' >> "$work/plain/bench.test.zone"
printf 'region IN A 192.0.2.10\ngeo IN A 192.0.2.10\n' >> "$work/plain/bench.test.zone"
# The geo load's database: 64 /16 networks over four continents, and an IPv6 one.
{
  echo '['
  for i in $(seq 0 63); do
    c=$(echo "EU NA AS OC" | cut -d' ' -f$((i % 4 + 1)))
    printf '["10.%d.0.0/16", {"continent": {"code": "%s"}, "country": {"iso_code": "X%d"}}],\n' "$i" "$c" "$i"
  done
  echo '["2001:db8::/32", {"continent": {"code": "EU"}}]]'
} | perl ../tests/fixtures/geo/write-mmdb.pl "$work/geo.mmdb" GeoIP2-City
sed -e "s/127.0.0.1:5391/127.0.0.1:$PORT/" -e "s|zones = \"zones\"|zones = \"$work/zones\"|" \
  -e "s|keys = \"online-keys\"|keys = \"$work/online-keys\"|" dnslb.toml > "$work/dnslb.toml"

nsd_conf "$work/plain" bench.test big.test signed.test online.test > "$work/nsd.conf"
{ knot_server_conf; cat <<CONF
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
  - domain: signed.test
    file: signed.test.zone
  - domain: online.test
    file: online.test.zone
CONF
} > "$work/knot.conf"
cc -O2 -o "$work/floor" floor.c

declare -A QUERIES=(
  [static]="static.bench.test A"
  [pool3]="pool.bench.test A"
  [pool1]="one.bench.test A"
  [mixed]=$'static.bench.test A\nalias.bench.test A\nx.wild.bench.test A\nnope.bench.test A\nbench.test SOA'
  [big_a]=$'host123456.big.test A\nhost7.big.test A\nhost199999.big.test A'
  [big_nx]=$'nope1.big.test A\nzzz.big.test A\nhost1.host2.big.test A'
  [big_nodata]=$'host123456.big.test TXT\nhost7.big.test MX\nhost199999.big.test AAAA'
  [region]="region.bench.test A"
  [geo]="geo.bench.test A"
  [signed_a]=$'host12345.signed.test A\nhost7.signed.test A\nhost19999.signed.test A'
  [signed_a_do]=$'host12345.signed.test A\nhost7.signed.test A\nhost19999.signed.test A'
  [signed_nodata_do]=$'host12345.signed.test TXT\nhost7.signed.test MX\nhost19999.signed.test AAAA'
  [signed_nx_do]=$'nope1.signed.test A\nzzz.signed.test A\nhost1.host2.signed.test A'
  [online_a]=$'host12345.online.test A\nhost7.online.test A\nhost19999.online.test A'
  [online_a_do]=$'host12345.online.test A\nhost7.online.test A\nhost19999.online.test A'
  [online_pool3]="pool.online.test A"
  [online_pool3_do]="pool.online.test A"
  [online_pool1]="one.online.test A"
  [online_pool1_do]="one.online.test A"
  [online_a_edns]=$'host12345.online.test A\nhost7.online.test A\nhost19999.online.test A'
  [online_pool3_edns]="pool.online.test A"
  [online_pool1_edns]="one.online.test A"
)
# The loads asked with DO (dnsperf -D).
DO_LOADS="signed_a_do signed_nodata_do signed_nx_do online_a_do online_pool3_do online_pool1_do"
# The loads asked with EDNS but without DO (dnsperf -e), as a resolver that does not validate.
EDNS_LOADS="online_a_edns online_pool3_edns online_pool1_edns"
# The ECS options (dnsperf -E code:hex) the region and geo loads are sent with, in turn:
# family 1, source /24, scope 0, three address octets.
ECS_LOADS="region geo"
ECS_OPTIONS="8:000118000a0105 8:000118000a0205 8:000118000a2a07 8:000118000a3f09"

# Waits (up to 5 minutes: valgrind loads a 200,000-name zone slowly) for an answer.
wait_up() {
  for _ in $(seq 600); do
    dig +time=1 +tries=1 @127.0.0.1 -p "$PORT" ns1.big.test A 2>/dev/null | grep -q 'status: NOERROR' && return 0
    sleep 0.5
  done
  echo "the server on port $PORT did not come up" >&2
  return 1
}
