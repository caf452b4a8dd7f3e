#!/usr/bin/env bash
# Userland instructions per query, counted by valgrind's callgrind over every thread (and process)
# of each server: dnslb, NSD, Knot and the floor (bench/floor.c, a reflector doing no DNS work),
# on the same zones, at a low rate. For each load the counters are dumped (and zeroed) before
# and after N queries: Ir / N. The count is exact and the same from run to run.
#
#   bench/callgrind.sh [queries per load, default 2000]
#
# SERVERS="dnslb" measures only those (default: floor dnslb nsd knot); DNSLB=path measures
# another dnslb binary (an older build, to compare before and after a change).
#
# Installs valgrind, dnsperf, nsd, knot and dig with apt when missing. Everything listens on
# 127.0.0.1 only; every process started here is stopped by its PID on exit.
set -euo pipefail
cd "$(dirname "$0")"
N=${1:-2000}
PORT=5395
TOOLS="valgrind:valgrind dnsperf:dnsperf nsd:nsd knotd:knot dig:dnsutils bc:bc cc:gcc ldns-signzone:ldnsutils"
. ./setup.sh # installs, builds, and writes the zones and configs into $work

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

# Waits (at most 3 minutes) until the server is idle: after its first answer the previous
# generation and the loader's scratch work may still be being freed and purged, work that would
# otherwise be counted in the first load.
settle() { # pid
  local last=-1 now still=0
  for _ in $(seq 180); do
    now=$(awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0)
    if [ "$now" -le $((last + 1)) ]; then still=$((still + 1)); else still=0; fi
    [ "$still" -ge 3 ] && return 0
    last=$now
    sleep 1
  done
}

LOADS=(static pool3 pool1 mixed big_a big_nx big_nodata region geo signed_a signed_a_do signed_nodata_do signed_nx_do
  online_a online_a_edns online_a_do online_pool3 online_pool3_edns online_pool3_do
  online_pool1 online_pool1_edns online_pool1_do)
declare -A RESULT

measure() { # name, command...
  local name=$1; shift
  local out="$work/cg-$name"
  mkdir -p "$out"
  valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$out/cg.out.%p" "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  if ! wait_up; then RESULT[$name]="did not start"; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; pid=""; return; fi
  settle "$pid"
  dump "$out" >/dev/null
  for load in "${LOADS[@]}"; do
    printf '%s\n' "${QUERIES[$load]}" > "$work/q.txt"
    local lines rounds sent
    lines=$(wc -l < "$work/q.txt")
    rounds=$(( (N + lines - 1) / lines ))
    if [[ " $ECS_LOADS " == *" $load "* ]]; then
      # Several client networks, in turn: each a quarter of the queries.
      sent=0
      for e in $ECS_OPTIONS; do
        local part
        part=$(dnsperf -s 127.0.0.1 -p $PORT -d "$work/q.txt" -n $(( (rounds + 3) / 4 )) -c 1 -Q 1000 -E "$e" 2>&1 | awk '/Queries completed/ {print $3}')
        sent=$((sent + ${part:-0}))
      done
    else
      local dnssec=""
      [[ " $DO_LOADS " == *" $load "* ]] && dnssec="-D"
      [[ " $EDNS_LOADS " == *" $load "* ]] && dnssec="-e"
      sent=$(dnsperf -s 127.0.0.1 -p $PORT -d "$work/q.txt" -n "$rounds" -c 1 -Q 1000 $dnssec 2>&1 | awk '/Queries completed/ {print $3}')
    fi
    local ir; ir=$(dump "$out")
    RESULT[$name.$load]=$(( ir / (sent > 0 ? sent : 1) ))
  done
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
}

SERVERS=${SERVERS:-floor dnslb nsd knot}
DNSLB=${DNSLB:-../target/release/dnslb}
for s in $SERVERS; do
  case $s in
    floor) measure floor "$work/floor" 127.0.0.1 $PORT ;;
    dnslb) measure dnslb env RUST_LOG=warn "$DNSLB" --config "$work/dnslb.toml" ;;
    nsd) measure nsd nsd -d -c "$work/nsd.conf" ;;
    knot) measure knot knotd -c "$work/knot.conf" ;;
  esac
done

echo "userland instructions per query (callgrind, every thread and process; $N queries per load, $(date -u +%F))"
printf '%-12s' server; for load in "${LOADS[@]}"; do printf '%12s' "$load"; done; echo
for s in $SERVERS; do
  printf '%-12s' "$s"
  if [ -n "${RESULT[$s]:-}" ]; then echo " ${RESULT[$s]}"; continue; fi
  for load in "${LOADS[@]}"; do printf '%12s' "${RESULT[$s.$load]}"; done; echo
done
