#!/usr/bin/env bash
# dnslb against NSD, Knot and the floor (bench/floor.c: a recvmmsg/sendmmsg reflector that does
# no DNS work) on the same zones, in one run. Each server runs pinned to core 0, dnsperf to
# core 1. For each load it reports the peak rate and the server's CPU time per query at that
# rate (user + system, from /proc), with the ratio to the floor; then p99 latency at a fixed
# 10,000 q/s, and resident memory with the 200,000-name zone loaded.
#
#   bench/run.sh [seconds per run, default 10] [repetitions, default 1]
#
# With repetitions, the four servers are measured in turn that many times (interleaved, so that
# a slow spell of the machine touches all of them) and the median of each figure is reported:
# on a shared 2-core machine one run's CPU figures vary by up to 25 %. SERVERS="floor dnslb"
# measures only those (the floor always comes first: the ratios are against it).
#
# Userland instructions per query, which are exact where CPU time is noisy, are
# bench/callgrind.sh's. Installs dnsperf, nsd, knot, dig and bc with apt when missing.
# Everything listens on 127.0.0.1 only; every process started here is stopped by its PID.
set -euo pipefail
cd "$(dirname "$0")"
DURATION=${1:-10}
REPS=${2:-1}
PORT=5391
TOOLS="dnsperf:dnsperf nsd:nsd knotd:knot dig:dnsutils bc:bc taskset:util-linux cc:gcc ldns-signzone:ldnsutils"
. ./setup.sh # installs, builds, and writes the zones and configs into $work

LOADS=(static pool3 pool1 mixed big_a big_nx big_nodata)

# CPU clock ticks of a process and all its descendants (NSD forks its servers).
ticks() {
  local t p
  t=$(sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}')
  for p in $(pgrep -P "$1" || true); do t=$((t + $(ticks "$p"))); done
  echo "$t"
}
# Proportional set size (kB) of a process and its descendants: shared pages counted once.
pss() {
  local t p
  t=$(awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup")
  for p in $(pgrep -P "$1" || true); do t=$((t + $(pss "$p"))); done
  echo "$t"
}

start() { # name, command...
  local name=$1; shift
  taskset -c 0 "$@" >"$work/$name.log" 2>&1 &
  pid=$!
  wait_up
  # Knot pins its UDP workers itself: every thread back on core 0.
  taskset -a -cp 0 "$pid" >/dev/null
  for c in $(pgrep -P "$pid" || true); do taskset -a -cp 0 "$c" >/dev/null; done
}
stop() {
  kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""
}

declare -A QPS CPU P99 MEM
measure() { # name, repetition
  local name=$1 rep=$2 load before after done_ secs
  for load in "${LOADS[@]}"; do
    printf '%s\n' "${QUERIES[$load]}" > "$work/q.txt"
    before=$(ticks "$pid")
    read -r done_ secs < <(taskset -c 1 dnsperf -s 127.0.0.1 -p $PORT -d "$work/q.txt" -l "$DURATION" -c 4 -q 500 2>&1 \
      | awk '/Queries completed/ {d=$3} /Run time \(s\)/ {s=$4} END {print d, s}')
    after=$(ticks "$pid")
    QPS[$name.$load.$rep]=$(echo "$done_ / $secs" | bc)
    CPU[$name.$load.$rep]=$(echo "($after - $before) * 1000000 / $(getconf CLK_TCK) / $done_" | bc -l)
  done
  printf '%s\n' "${QUERIES[static]}" > "$work/q.txt"
  P99[$name.$rep]=$(taskset -c 1 dnsperf -s 127.0.0.1 -p $PORT -d "$work/q.txt" -l "$DURATION" -c 4 -Q 10000 -v 2>/dev/null \
    | awk '$1 == ">" {print $NF}' | sort -g | awk '{v[NR]=$1} END {i=int(NR*0.99); if (i<1) i=1; printf "%.0f", v[i]*1000000}')
  MEM[$name]="$(awk '/VmRSS/ {print $2}' "/proc/$pid/status") $(pss "$pid")"
}

SERVERS=${SERVERS:-floor dnslb nsd knot}
[[ " $SERVERS " == *" floor "* ]] || SERVERS="floor $SERVERS"
serving() { [[ " $SERVERS " == *" $1 "* ]]; }
for rep in $(seq "$REPS"); do
  start floor "$work/floor" 127.0.0.1 $PORT; measure floor "$rep"; stop
  if serving dnslb; then
    start dnslb env RUST_LOG=warn ../target/release/dnslb --config "$work/dnslb.toml"; measure dnslb "$rep"; stop
  fi
  if serving nsd; then start nsd nsd -d -c "$work/nsd.conf"; measure nsd "$rep"; stop; fi
  if serving knot; then start knot knotd -c "$work/knot.conf"; measure knot "$rep"; stop; fi
done

# The median over the repetitions of the figure `array[key.REP]`.
median() { # array name, key
  local -n arr=$1
  local r
  for r in $(seq "$REPS"); do echo "${arr[$2.$r]}"; done | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
for s in $SERVERS; do
  for load in "${LOADS[@]}"; do
    CPU[$s.$load]=$(median CPU "$s.$load")
    QPS[$s.$load]=$(median QPS "$s.$load")
  done
  P99[$s]=$(median P99 "$s")
done

echo "bench/run.sh, $(date -u +%F), $(nproc) cores: each server on core 0, dnsperf (-c 4) on core 1, $DURATION s per load, median of $REPS"
echo
echo "server CPU per query at the peak rate, microseconds (and the ratio to the floor's)"
printf '%-7s' ""; for load in "${LOADS[@]}"; do printf '%16s' "$load"; done; echo
for s in $SERVERS; do
  printf '%-7s' "$s"
  for load in "${LOADS[@]}"; do
    printf '%9.2f (%.2f)' "${CPU[$s.$load]}" "$(echo "${CPU[$s.$load]} / ${CPU[floor.$load]}" | bc -l)"
  done
  echo
done
if [ "$REPS" -gt 1 ]; then
  echo "the median of each run's ratio to the floor's (floor and server measured back to back)"
  for s in $SERVERS; do
    [ "$s" = floor ] && continue
    printf '%-7s' "$s"
    for load in "${LOADS[@]}"; do
      for r in $(seq "$REPS"); do
        echo "${CPU[$s.$load.$r]} / ${CPU[floor.$load.$r]}" | bc -l
      done | sort -g | awk '{v[NR]=$1} END {printf "%16.2f", v[int((NR+1)/2)]}'
    done
    echo
  done
fi
echo
echo "peak rate, queries per second"
printf '%-7s' ""; for load in "${LOADS[@]}"; do printf '%12s' "$load"; done; echo
for s in $SERVERS; do
  printf '%-7s' "$s"; for load in "${LOADS[@]}"; do printf '%12s' "${QPS[$s.$load]}"; done; echo
done
echo
echo "p99 latency at 10,000 q/s (static A), microseconds; memory with both zones loaded (VmRSS, PSS of all processes), kB"
for s in $SERVERS; do
  printf '%-7s p99 %6s us   rss %8s kB   pss %8s kB\n' "$s" "${P99[$s]}" ${MEM[$s]}
done
