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
