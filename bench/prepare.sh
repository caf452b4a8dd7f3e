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
