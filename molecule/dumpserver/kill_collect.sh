#!/usr/bin/env bash
# Kill a collection mid-transfer, for real, over ssh: start playbooks/collect.yml against one
# host with a bandwidth limit, wait until a dump's .part holds at least 1 MiB, SIGKILL
# ansible-playbook's whole process group, then check that no file of that crash is under its
# final name unless it is complete (same size as its .part's source, i.e. not the one being
# copied). Prints the .part it left, for the rerun to resume.
#   kill_collect.sh HOST STORE INVENTORY...
set -euo pipefail
host=$1 store=$2
shift 2
inventories=()
for i in "$@"; do inventories+=(-i "$i"); done
log=$(mktemp)
mkdir -p "$store"
setsid ansible-playbook "${inventories[@]}" crashkit.kdump.collect \
  -e kdump_collect_hosts="$host" -e kdump_store_dir="$store" \
  -e kdump_collect_bandwidth_limit=256 -e kdump_collect_report=false >"$log" 2>&1 &
pid=$!
# Whatever happens below, no collection of ours goes on after this script.
trap 'kill -KILL -- "-$pid" 2>/dev/null || true' EXIT
part=
for _ in $(seq 600); do
  part=$(find "$store" -name '*.part' -size +1024k 2>/dev/null | head -1) || true
  [ -n "$part" ] && break
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "collect.yml ended before any .part reached 1 MiB:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 1
done
[ -n "$part" ] || { echo "no .part of 1 MiB after 600 s" >&2; cat "$log" >&2; kill -KILL -- "-$pid"; exit 1; }
kill -KILL -- "-$pid"
wait "$pid" 2>/dev/null || true
sleep 5   # the worker notices its parent is gone after its current chunk
final=${part%.part}
if [ -e "$final" ]; then
  echo "after the kill, $final exists under its final name" >&2
  exit 1
fi
[ -e "$part" ] || { echo "the .part $part is gone" >&2; exit 1; }
size=$(stat -c %s "$part")
sleep 10
if [ "$(stat -c %s "$part")" != "$size" ] || [ -e "$final" ]; then
  echo "the copy went on after ansible-playbook was killed" >&2
  exit 1
fi
echo "$part $(stat -c %s "$part")"
