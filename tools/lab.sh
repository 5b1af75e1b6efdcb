#!/usr/bin/env bash
# The main job on a local lab of VMs: build (or reuse) the Debian lab image, start client VMs and
# one dump-server VM, then run the collection's playbooks as an operator would:
#   1. kdump_setup.yml   the dump server, every client (dumps go to the server over ssh)
#   2. panic_test.yml    a real sysrq crash of the pilot client, proven by a new complete dump
#   3. collect.yml       dumps and evidence bundles into the store, triage, the fleet report
# and print where the reports are. Installs what it needs first (tools/bootstrap.sh). Run as
# root on Debian 12.
#
#   tools/lab.sh                 # the whole job on a bookworm lab
#   tools/lab.sh down            # stop the lab and remove its VMs
# Environment: CRASHKIT_LAB_RELEASE=bookworm|trixie, CRASHKIT_LAB_CLIENTS=2,
#   CRASHKIT_LAB_TARGET=ssh|nfs|local|device (default ssh: the clients send their dumps to the
#   server; device: to a second disk of each client, ext4 labelled crashdump)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${CRASHKIT_VENV:-$root/.venv}
release=${CRASHKIT_LAB_RELEASE:-bookworm}
clients=${CRASHKIT_LAB_CLIENTS:-2}
target=${CRASHKIT_LAB_TARGET:-ssh}
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
crashlab up --clients "$clients" --server 1 --release "$release" --target "$target" \
  --inventory "$run/inventory.yml"

step "1/3 crashkit.kdump.kdump_setup (playbooks/kdump_setup.yml)"
ANSIBLE_LOG_PATH="$results/kdump_setup.log" \
  ansible-playbook -i "$run/inventory.yml" crashkit.kdump.kdump_setup -e kdump_reboot_ok=true

step "2/3 crashkit.kdump.panic_test on the pilot group (playbooks/panic_test.yml)"
run_id="lab-$(date -u +%Y%m%dT%H%M%SZ)"
(cd "$results" && ANSIBLE_LOG_PATH="$results/panic_test.log" \
  ansible-playbook -i "$run/inventory.yml" crashkit.kdump.panic_test \
    -e kdump_panic_confirm=yes-crash-it -e kdump_panic_run_id="$run_id")

step "3/3 crashkit.kdump.collect: store, evidence bundles, triage, fleet report"
(cd "$results" && ANSIBLE_LOG_PATH="$results/collect.log" \
  ansible-playbook -i "$run/inventory.yml" crashkit.kdump.collect \
    -e kdump_store_dir="$results/crash-store" -e kdump_change_id="$run_id" \
    -e "kdump_change_text='panic test of the crashkit lab'")

step "done"
cat <<EOM
panic test report: $results/panic-test-results/$run_id/   (report.json, junit.xml)
fleet report:      $results/crash-store/report.html   (open it in a browser; also report.md, report.json)
crash store:       $results/crash-store/<host id>/<crash id>/   (manifest.json, crashkit-bundle/)
inventory:         $run/inventory.yml
console logs:      $run/<vm>/console.log   (python3 -m crashlab status lists them)
playbook logs:     $results/*.log
stop the lab:      tools/lab.sh down
EOM
