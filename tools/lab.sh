#!/usr/bin/env bash
# The main job on a local lab of VMs: build (or reuse) the Debian lab image, start two client
# VMs and one dump-server VM, and run playbooks/kdump_setup.yml against them.
# Installs what it needs first (tools/bootstrap.sh). Run as root on Debian 12.
#
#   tools/lab.sh                 # bookworm lab, setup playbook
#   tools/lab.sh down            # stop the lab and remove its VMs
# Environment: CRASHKIT_LAB_RELEASE=bookworm|trixie, CRASHKIT_LAB_CLIENTS=2
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${CRASHKIT_VENV:-$root/.venv}
release=${CRASHKIT_LAB_RELEASE:-bookworm}
clients=${CRASHKIT_LAB_CLIENTS:-2}
run=${CRASHKIT_LAB_RUN:-$root/.tmp/lab}
results="$run/results"
export CRASHKIT_LAB_RUN="$run"
export PYTHONPATH="$root/lab${PYTHONPATH:+:$PYTHONPATH}"

crashlab() { "$venv/bin/python" -m crashlab "$@"; }

if [ "${1:-}" = "down" ]; then
  crashlab down
  exit 0
fi

"$root/tools/bootstrap.sh"
export PATH="$venv/bin:$PATH" ANSIBLE_NOCOLOR=1

link="$root/.tmp/collections/ansible_collections/crashkit/kdump"
mkdir -p "$(dirname "$link")" "$results"
[ -L "$link" ] || ln -s "$root" "$link"
export ANSIBLE_COLLECTIONS_PATH="$root/.tmp/collections"

t0=$(date +%s)
step() { printf '\n===== %s (t+%ss) =====\n' "$1" "$(( $(date +%s) - t0 ))"; }

step "lab image ($release)"
crashlab image build --release "$release"

step "start the lab: $clients client VMs + 1 dump-server VM"
crashlab up --clients "$clients" --server 1 --release "$release" --inventory "$run/inventory.yml"

step "crashkit.kdump.kdump_setup (playbooks/kdump_setup.yml)"
ANSIBLE_LOG_PATH="$results/kdump_setup.log" \
  ansible-playbook -i "$run/inventory.yml" crashkit.kdump.kdump_setup -e kdump_reboot_ok=true

step "done"
cat <<EOM
inventory:      $run/inventory.yml
console logs:   $run/<vm>/console.log   (python3 -m crashlab status lists them)
results:        $results
stop the lab:   tools/lab.sh down
EOM
