#!/usr/bin/env bash
# The whole test suite (the static stages beside the VMs, see below; each part failing fast):
#   1. unit tests (pytest): the whole suite on the pinned toolchain, and the plugin tests on
#      ansible-core 2.16 and 2.21 and on every managed-host Python 3.6 - 3.13 (tools/matrix.sh)
#   2. ansible-test sanity of ansible-core 2.19 (pinned), 2.16 and 2.21
#   3. ansible-lint, changelog build  5. ansible-builder create (execution environment)
#   4. collection build + install + ansible-doc   6. Molecule scenarios in real VMs
# The unit and sanity jobs run two at a time (tools/matrix.sh); when both stages are asked for,
# they share one pool. Installs what it needs first (tools/bootstrap.sh). Run as root on Debian 12.
#
#   tools/test.sh                  # everything
#   tools/test.sh unit sanity      # only the named stages
# Environment: CRASHKIT_SCENARIOS="..." overrides the Molecule scenarios to run (default "kdump":
# the lab itself and the whole kdump cycle on Debian 12 and 13 with a dump server and zero-touch
# evidence; dumpserver, the kdump cycle plus a third VM as dump server and the failing panics, on
# request). CRASHKIT_PARALLEL=0 runs the stages one after the other.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${CRASHKIT_VENV:-$root/.venv}
export PATH="$venv/bin:$PATH"
export ANSIBLE_NOCOLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0
scenarios=${CRASHKIT_SCENARIOS-"kdump"}
stages=("$@")
[ "${#stages[@]}" -gt 0 ] || stages=(unit sanity lint build ee molecule)

t0=$(date +%s)
stage() { printf '\n===== %s (t+%ss) =====\n' "$1" "$(( $(date +%s) - t0 ))"; }

work="$root/.tmp/test"
# CRASHKIT_TEST_STATIC=1: the static stages started by this script beside the VMs (below), after
# its bootstrap and in its work directory.
if [ "${CRASHKIT_TEST_STATIC:-0}" != 1 ]; then
  stage bootstrap
  "$root/tools/bootstrap.sh"
  rm -rf "$work"
fi
mkdir -p "$work"

# The checkout itself, seen as ansible_collections/crashkit/kdump (as conftest.py does for pytest).
link="$root/.tmp/collections/ansible_collections/crashkit/kdump"
mkdir -p "$(dirname "$link")"
[ -L "$link" ] || ln -s "$root" "$link"
export ANSIBLE_COLLECTIONS_PATH="$root/.tmp/collections"

# The VM images (a few minutes each on a clean machine, mostly downloads and disk work) are built
# in the background while the static stages run; the molecule stage waits for them.
images_pid=
if printf '%s\n' "${stages[@]}" | grep -qx molecule && [ -n "$scenarios" ]; then
  ( for release in bookworm trixie; do
      PYTHONPATH="$root/lab" python3 -m crashlab image build --release "$release" || exit 1
    done ) > "$work/images.log" 2>&1 &
  images_pid=$!
fi

pooled=
if printf '%s\n' "${stages[@]}" | grep -qx unit && printf '%s\n' "${stages[@]}" | grep -qx sanity; then
  pooled=1
fi
# Waits for the background image build (in this shell: the build is its child).
wait_images() {
  [ -n "$images_pid" ] || return 0
  stage "VM images (built in the background: $work/images.log)"
  if ! wait "$images_pid"; then
    images_pid=
    tail -n 40 "$work/images.log"
    echo "image build failed" >&2
    return 1
  fi
  images_pid=
  tail -n 3 "$work/images.log"
}

run_stage() {
  local s=$1
  case "$s" in
    unit|sanity)
      if [ -n "$pooled" ]; then
        [ "$pooled" = ran ] && return 0
        stage "unit tests and ansible-test sanity, every version of the matrix (tools/matrix.sh)"
        "$root/tools/matrix.sh" run unit sanity
        pooled=ran
      else
        stage "$s (tools/matrix.sh)"
        "$root/tools/matrix.sh" run "$s"
      fi
      ;;
    lint)
      stage "ansible-lint (production profile), changelog fragments"
      ansible-lint --offline --profile production
      antsibull-changelog lint
      # The release changelog builds from the fragments (in a copy: the checkout keeps them) and
      # names every module.
      cl="$work/changelog/ansible_collections/crashkit/kdump"
      mkdir -p "$cl"
      tar -c --exclude=./.git --exclude=./.tmp --exclude=./.venv . | tar -x -C "$cl"
      if ! (cd "$cl" && ANSIBLE_COLLECTIONS_PATH="$work/changelog" \
            antsibull-changelog release --date "$(date -u +%F)" > "$work/changelog.log" 2>&1); then
        cat "$work/changelog.log" >&2
        exit 1
      fi
      test -s "$cl/CHANGELOG.rst"
      test -z "$(find "$cl/changelogs/fragments" -type f)"
      for f in plugins/modules/*.py; do
        grep -q "crashkit.kdump.$(basename "$f" .py) - " "$cl/CHANGELOG.rst" || { echo "CHANGELOG.rst does not list $f" >&2; exit 1; }
      done
      echo "CHANGELOG.rst builds from $(find changelogs/fragments -type f | wc -l) fragments: $cl/CHANGELOG.rst"
      ;;
    build)
      stage "collection build, install, ansible-doc"
      (
      ansible-galaxy collection build --force --output-path "$work/dist" . >/dev/null
      tarball=$(ls "$work"/dist/crashkit-kdump-*.tar.gz)
      ansible-galaxy collection install --force -p "$work/installed" "$tarball" >/dev/null
      export ANSIBLE_COLLECTIONS_PATH="$work/installed"
      listed=$(ansible-doc -t module -l crashkit.kdump | awk '{print $1}' | sort)
      expected=$(for f in plugins/modules/*.py; do n=$(basename "$f" .py); echo "crashkit.kdump.$n"; done | sort)
      if [ "$listed" != "$expected" ]; then
        printf 'ansible-doc -l lists:\n%s\nexpected:\n%s\n' "$listed" "$expected" >&2
        exit 1
      fi
      for m in $expected; do ansible-doc -t module "$m" >/dev/null; done
      for flt in $(ansible-doc -t filter -l crashkit.kdump | awk '{print $1}'); do
        ansible-doc -t filter "$flt" >/dev/null
      done
      echo "built $(basename "$tarball"); ansible-doc renders: ${expected//$'\n'/ }"
      )
      ;;
    ee)
      stage "execution environment build context (ansible-builder create)"
      # Without the collection tarball (and the requirements file tools/ee.sh writes beside it),
      # creating the context must fail, not write a context without the collection.
      rm -rf .tmp/ee
      if ansible-builder create -f execution-environment.yml -c "$work/ee-missing" --output-filename Containerfile \
           > "$work/ee-missing.log" 2>&1; then
        echo "ansible-builder create succeeded without the collection tarball:" >&2
        cat "$work/ee-missing.log" >&2
        exit 1
      fi
      grep -q "\.tmp/ee/requirements.yml does not exist" "$work/ee-missing.log"
      echo "without the tarball: $(tail -1 "$work/ee-missing.log")"
      "$root/tools/ee.sh" create "$work/ee-context"
      test -s "$work/ee-context/Containerfile"
      test -s "$work/ee-context/_build/requirements.yml"
      test -s "$work/ee-context/_build/collections/crashkit-kdump.tar.gz"
      echo "build context: $work/ee-context"
      ;;
    molecule)
      wait_images || exit 1
      for sc in $scenarios; do
        stage "molecule test -s $sc"
        molecule test -s "$sc"
      done
      ;;
    *)
      echo "unknown stage: $s" >&2
      exit 2
      ;;
  esac
}

# With the VMs and the static stages both asked for, the static stages run beside the Molecule
# scenarios at the lowest CPU priority: the TCG guests leave much of this machine's two cores
# idle (a guest waits for the controller, the controller for a guest; in a minute of converge
# measured on 2026-12-03 the guests used 59 of the 120 CPU seconds), and the static stages take
# only what they leave. Linux first shares the CPU between sessions (autogroups: each guest's
# qemu has its own) and only then by nice within one, so the static stages run in a session of
# their own whose autogroup is set to nice 19 (the guests' boot in create, 2026-12-03: 234 s
# alone, 331 s beside two nice-19 CPU loops in Molecule's session, 231 s beside the static stages
# so started). CRASHKIT_PARALLEL=0 runs every stage in order. Output: the VMs' live, the static
# stages' in $work/static.log, printed when both are done; the run fails if either did.
static=()
for s in "${stages[@]}"; do [ "$s" = molecule ] || static+=("$s"); done
if [ "${CRASHKIT_PARALLEL:-1}" = 1 ] && [ "${#static[@]}" -gt 0 ] && [ "${#static[@]}" -lt "${#stages[@]}" ] \
   && [ -n "$scenarios" ]; then
  stage "static stages (${static[*]}) beside the VMs at the lowest CPU priority: $work/static.log"
  # shellcheck disable=SC2016  # expanded by the session's own shell
  CRASHKIT_TEST_STATIC=1 setsid -w bash -c '{ echo 19 > /proc/self/autogroup; } 2> /dev/null; exec nice -n 19 "$@"' \
    static "$root/tools/test.sh" "${static[@]}" > "$work/static.log" 2>&1 &
  static_pid=$!
  set +e
  wait_images
  molecule_rc=$?
  if [ "$molecule_rc" = 0 ]; then
    ( set -e; run_stage molecule )
    molecule_rc=$?
  fi
  if kill -0 "$static_pid" 2> /dev/null; then
    stage "molecule done (exit $molecule_rc); waiting for the static stages: $(grep -E '^=====' "$work/static.log" | tail -n 1)"
  fi
  wait "$static_pid"
  static_rc=$?
  set -e
  stage "the static stages' output (exit $static_rc; they ran beside the VMs)"
  cat "$work/static.log"
  [ "$static_rc" = 0 ] || { echo "static stages failed (exit $static_rc)" >&2; exit "$static_rc"; }
  [ "$molecule_rc" = 0 ] || { echo "molecule failed (exit $molecule_rc)" >&2; exit "$molecule_rc"; }
else
  for s in "${stages[@]}"; do run_stage "$s"; done
fi
stage "all stages passed: ${stages[*]}"
