#!/usr/bin/env bash
# The version matrix: the unit tests and ansible-test sanity on every ansible-core and Python the
# collection supports, each cell in a virtual environment of its own, two jobs at a time.
#
#   tools/matrix.sh setup              # create or refresh the cells' venvs (tools/bootstrap.sh runs it)
#   tools/matrix.sh run unit sanity    # the jobs of these groups (tools/test.sh's unit and sanity stages)
#   tools/matrix.sh run unit:host-3.6  # one job
#   tools/matrix.sh list               # the jobs
#
# Jobs:
#   unit:pinned     the whole tests/unit on the pinned toolchain (.venv: Python 3.11, ansible-core 2.19)
#   unit:<cell>     the plugin tests of one cell below
#   sanity:pinned   ansible-test sanity of ansible-core 2.19 on Python 3.11
#   sanity:<cell>   ansible-test sanity of the cell's ansible-core on its Python (ctl-* cells)
#
# Cells (requirements: tools/matrix/<cell>.txt, plus <cell>.nodeps.txt installed with --no-deps
# --ignore-requires-python where that ansible-core cannot install as a controller on that Python):
#
#   cell       Python  ansible-core                  unit tests
#   ctl-2.16   3.12    2.16 (oldest), full           tests/unit/plugins (modules, module_utils, filter, action),
#                                                    the playbooks' host selection and syntax
#   ctl-2.21   3.13    2.21 (newest), full           the same
#   host-3.6   3.6     2.16, module_utils only       modules + module_utils, managed-host side
#   host-3.7   3.7     2.16, module_utils only       modules + module_utils, managed-host side
#   host-3.8   3.8     2.16, module_utils only       modules + module_utils, managed-host side
#   host-3.9   3.9     2.21, module_utils only       modules + module_utils, managed-host side
#   host-3.10  3.10    2.16, full                    modules + module_utils, managed-host side
# The managed-host side leaves out the tests marked `controller` (they run ansible-playbook).
# The report page's Chromium test runs in unit:pinned only (tests/unit/plugins/conftest.py).
# The cells run hypothesis tests with at most CRASHKIT_HYPOTHESIS_MAX_EXAMPLES (default 10)
# examples each: they prove each version runs the code; unit:pinned keeps the full numbers.
#
# Interpreters: pythonX.Y on PATH, else the newest pyenv build of X.Y ($PYENV_ROOT or ~/.pyenv).
# Venvs: $CRASHKIT_MATRIX_VENVS (default .tmp/venvs/<cell>), rebuilt only when the cell's
# requirement files or its interpreter changed (a stamp, as bootstrap.sh does for .venv).
# Logs: .tmp/test/matrix/<job>.log. CRASHKIT_MATRIX_JOBS (default 2) jobs run at a time;
# CRASHKIT_MATRIX_SKIP="job ..." leaves jobs out (for example sanity:pinned when time is short).
# Each unit job's log (.tmp/test/matrix/<job>.log) ends with its 15 slowest tests.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
pinned=${CRASHKIT_VENV:-$root/.venv}
venvs=${CRASHKIT_MATRIX_VENVS:-$root/.tmp/venvs}
logs=$root/.tmp/test/matrix
slots=${CRASHKIT_MATRIX_JOBS:-2}

# cell python side
CELLS=(
  "ctl-2.16 3.12 controller"
  "ctl-2.21 3.13 controller"
  "host-3.6 3.6 host"
  "host-3.7 3.7 host"
  "host-3.8 3.8 host"
  "host-3.9 3.9 host"
  "host-3.10 3.10 host"
)
# Every job, longest first (the runner starts them in this order).
JOBS=(unit:pinned unit:ctl-2.21 unit:ctl-2.16 sanity:pinned sanity:ctl-2.16 sanity:ctl-2.21
      unit:host-3.6 unit:host-3.8 unit:host-3.7 unit:host-3.9 unit:host-3.10)

log() { printf '[matrix] %s\n' "$*"; }

find_python() {  # X.Y -> an interpreter of that version
  local want=$1 p d best=
  if p=$(command -v "python$want" 2>/dev/null) \
     && "$p" -c "import sys; sys.exit(0 if '%d.%d' % sys.version_info[:2] == '$want' else 1)" 2>/dev/null; then
    echo "$p"
    return 0
  fi
  for d in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$want".*; do
    if ! [[ $d =~ /$want\.[0-9]+$ ]] || ! [ -x "$d/bin/python" ]; then
      continue
    fi
    best=$(printf '%s\n%s\n' "$best" "$d" | sed '/^$/d' | sort -V | tail -1)
  done
  [ -n "$best" ] || return 1
  echo "$best/bin/python"
}

cell() {  # name -> "python side"
  local c name want side
  for c in "${CELLS[@]}"; do
    read -r name want side <<< "$c"
    if [ "$name" = "$1" ]; then
      echo "$want $side"
      return 0
    fi
  done
  echo "matrix: no cell $1" >&2
  return 1
}

setup_cell() {  # name python
  local name=$1 want=$2 py venv stamp have
  if ! py=$(find_python "$want"); then
    echo "matrix: no Python $want for the cell $name (python$want on PATH or a pyenv build of $want)" >&2
    return 1
  fi
  venv=$venvs/$name
  stamp=$venv/.crashkit-matrix.sha256
  have=$( { "$py" -c 'import sys; print(sys.version)'; cat "tools/matrix/$name.txt"
            cat "tools/matrix/$name.nodeps.txt" 2>/dev/null || true; } | sha256sum | cut -d' ' -f1)
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$have" ]; then
    log "$name: up to date (Python $want)"
    return 0
  fi
  log "$name: installing (Python $want, tools/matrix/$name.txt)"
  rm -rf "$venv"
  "$py" -m venv "$venv"
  # The pip of 3.6's venv predates Requires-Python checks for wheels found through --find-links.
  case $want in
    3.6) "$venv/bin/python" -m pip install -q --disable-pip-version-check -U "pip<22" ;;
    *) "$venv/bin/python" -m pip install -q --disable-pip-version-check -U pip ;;
  esac
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "tools/matrix/$name.txt"
  if [ -f "tools/matrix/$name.nodeps.txt" ]; then
    "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --ignore-requires-python \
      -r "tools/matrix/$name.nodeps.txt"
  fi
  "$venv/bin/python" -c 'from ansible.module_utils.basic import AnsibleModule; import pytest, hypothesis'
  echo "$have" > "$stamp"
}

job_venv() {  # job -> its venv
  local target=${1#*:}
  if [ "$target" = pinned ]; then echo "$pinned"; else echo "$venvs/$target"; fi
}

run_job() {  # job; output to its log, exit status of the job
  local job=$1 kind=${1%%:*} target=${1#*:} venv want side selection
  venv=$(job_venv "$job")
  [ -x "$venv/bin/python" ] || { echo "matrix: $job has no venv $venv; run tools/bootstrap.sh" >&2; return 1; }
  if [ "$kind" = sanity ]; then
    CRASHKIT_VENV=$venv "$root/tools/sanity.sh"
  elif [ "$target" = pinned ]; then
    PATH="$venv/bin:$PATH" "$venv/bin/python" -m pytest -q -p no:cacheprovider --durations=15 tests/unit
  else
    read -r want side <<< "$(cell "$target")"
    if [ "$side" = controller ]; then
      selection=(tests/unit/plugins tests/unit/playbooks tests/unit/test_playbooks_fqcn.py)
    else
      selection=(tests/unit/plugins/modules tests/unit/plugins/module_utils)
    fi
    PATH="$venv/bin:$PATH" CRASHKIT_TEST_SIDE=$side \
      CRASHKIT_HYPOTHESIS_MAX_EXAMPLES=${CRASHKIT_HYPOTHESIS_MAX_EXAMPLES:-10} \
      "$venv/bin/python" -m pytest -x -q -p no:cacheprovider --durations=15 "${selection[@]}"
  fi
}

job_line() {  # job seconds rc -> one line of the summary table
  local job=$1 secs=$2 rc=$3 venv logf result
  venv=$(job_venv "$job")
  logf=$logs/${job/:/-}.log
  if [ "${job%%:*}" = sanity ]; then
    result=$(grep -Eo 'The [0-9]+ sanity test\(s\) listed below \(out of [0-9]+\) failed' "$logf" | tail -1 || true)
    [ -n "$result" ] || result=$([ "$rc" = 0 ] && echo "$(grep -c '^Running sanity test' "$logf") sanity tests passed" || echo "failed")
  else
    result=$(grep -E '[0-9]+ (passed|failed)' "$logf" | tail -1 | tr -d '=' | sed 's/^ *//' || true)
  fi
  printf '%-16s Python %-7s ansible-core %-8s %5ss  %s  %s\n' "$job" \
    "$("$venv/bin/python" -c 'import platform; print(platform.python_version())' 2>/dev/null || echo '?')" \
    "$("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)' 2>/dev/null || echo '?')" \
    "$secs" "$([ "$rc" = 0 ] && echo ok || echo FAILED)" "${result:-see $logf}"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  list)
    printf '%s\n' "${JOBS[@]}"
    ;;
  setup)
    mkdir -p "$venvs"
    for c in "${CELLS[@]}"; do
      read -r name want _side <<< "$c"
      setup_cell "$name" "$want"
    done
    ;;
  run)
    [ $# -gt 0 ] || set -- unit sanity
    todo=()
    for job in "${JOBS[@]}"; do
      if tr ' ' '\n' <<< "${CRASHKIT_MATRIX_SKIP:-}" | grep -qx "$job"; then
        log "skipped $job (CRASHKIT_MATRIX_SKIP)"
        continue
      fi
      for want in "$@"; do
        if [ "$job" = "$want" ] || [ "${job%%:*}" = "$want" ]; then
          todo+=("$job")
          break
        fi
      done
    done
    [ "${#todo[@]}" -gt 0 ] || { echo "matrix: no job matches: $*" >&2; exit 2; }
    mkdir -p "$logs"
    declare -A started=()
    running=0
    t0=$(date +%s)
    for job in "${todo[@]}"; do
      if [ "$running" -ge "$slots" ]; then
        wait -n || true
        running=$((running - 1))
      fi
      logf=$logs/${job/:/-}.log
      rm -f "$logf.rc"
      started[$job]=$(date +%s)
      ( rc=0; run_job "$job" > "$logf" 2>&1 || rc=$?
        echo "$rc $(( $(date +%s) - ${started[$job]} ))" > "$logf.rc" ) &
      running=$((running + 1))
      log "started $job"
    done
    wait || true
    failed=()
    printf '\n'
    for job in "${todo[@]}"; do
      logf=$logs/${job/:/-}.log
      read -r rc secs < "$logf.rc" || { rc=1; secs='?'; }
      job_line "$job" "$secs" "$rc"
      [ "$rc" = 0 ] || failed+=("$job")
    done
    printf 'matrix: %d jobs in %ss, %d at a time\n' "${#todo[@]}" "$(( $(date +%s) - t0 ))" "$slots"
    if [ "${#failed[@]}" -gt 0 ]; then
      for job in "${failed[@]}"; do
        printf '\n----- %s: last lines of %s -----\n' "$job" "$logs/${job/:/-}.log" >&2
        grep -v 'is ignored: it is neither' "$logs/${job/:/-}.log" | tail -40 >&2
      done
      echo "matrix: failed: ${failed[*]}" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: tools/matrix.sh setup | run [unit|sanity|<job>...] | list" >&2
    exit 2
    ;;
esac
