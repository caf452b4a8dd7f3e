# Sourced by every benchmark script, with $TOOLS listing `command:package` pairs and $EXTRA_NEED
# any packages whose check is not a command: installs what is missing with apt, builds dnslb,
# and makes the work directory $work, removed on exit with the server of $pid stopped.

export PATH="$PATH:/usr/sbin:/sbin"
need=(${EXTRA_NEED:-})
for t in $TOOLS; do
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

# NSD's config for $work on 127.0.0.1:$PORT, serving the zones of directory $1 named by the rest
# (ORIGIN, from ORIGIN.zone), one server process, no rate limiting (it would cap a benchmark at
# 200 q/s).
nsd_conf() { # zonesdir origin...
  local dir=$1 z
  shift
  cat <<CONF
server:
  ip-address: 127.0.0.1
  port: $PORT
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "$dir"
  database: ""
  pidfile: "$work/nsd.pid"
  xfrdfile: "$work/xfrd.state"
  zonelistfile: "$work/zone.list"
  logfile: "$work/nsd.log"
  rrl-ratelimit: 0
remote-control:
  control-enable: no
CONF
  for z in "$@"; do
    printf 'zone:\n  name: %s\n  zonefile: %s.zone\n' "$z" "$z"
  done
}

# The server, database and log sections of Knot's config for $work on 127.0.0.1:$PORT: one
# worker of each kind, its run directory and database under $work, errors on stderr.
knot_server_conf() {
  cat <<CONF
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
CONF
}

# Timing and memory, for the scripts that measure loads (million.sh, sign.sh).
now() { date +%s.%N; }
# Seconds and peak resident MB of a command (GNU time's report).
timed() { # command...
  /usr/bin/time -o "$work/time" -f '%e %M' "$@" >/dev/null 2>&1 || true
  tail -1 "$work/time" | awk '{ printf "%.2f s, peak %d MB", $1, $2 / 1024 }'
}
# Proportional set size in MB of a process and its descendants.
pss() { # pid
  local total=0 p
  for p in $1 $(pgrep -P "$1" || true); do
    total=$((total + $(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)))
  done
  echo $((total / 1024))
}
peak() { # pid: the highest resident size of it and its children, MB
  local max=0 p v
  for p in $1 $(pgrep -P "$1" || true); do
    v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
    [ "$v" -gt "$max" ] && max=$v
  done
  echo $((max / 1024))
}
