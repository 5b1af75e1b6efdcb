#!/usr/bin/env bash
# Install everything the README commands need on a Debian 12 machine, as root. Safe to run
# again: Debian packages are installed only when missing, the Python toolchain only when
# requirements-dev.txt changed since the last install, each venv of the version matrix only when
# its tools/matrix/<cell>.txt changed (tools/matrix.sh setup; Pythons 3.6 - 3.13 from pyenv).
#
#   tools/bootstrap.sh            # Debian packages + Python toolchain (.venv) + matrix venvs
#   tools/bootstrap.sh --no-lab   # skip the VM lab's host packages
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CRASHKIT_VENV:-$root/.venv}
want_lab=1
[ "${1:-}" = "--no-lab" ] && want_lab=0

log() { printf '[bootstrap] %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
pkgs=(python3 python3-venv python3-dev git rsync openssh-client gcc shellcheck)
# Headless Chromium for the fleet report's browser test (tests/unit/plugins/module_utils/
# test_fleetreport_browser.py), with a font to draw the page.
pkgs+=(chromium fonts-dejavu-core)
if [ "$want_lab" = 1 ] && [ -f "$root/lab/host-packages.txt" ]; then
  while read -r p _; do
    case "$p" in ''|'#'*) continue ;; esac
    pkgs+=("$p")
  done < "$root/lab/host-packages.txt"
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "bootstrap: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# --- Python toolchain ------------------------------------------------------------------------
py=${CRASHKIT_PYTHON:-python3}
if ! "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
  echo "bootstrap: $py is $("$py" --version 2>&1); ansible-core 2.19 is pinned for Python 3.11" >&2
  exit 1
fi
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$root/requirements-dev.txt" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  log "Python toolchain up to date ($venv)"
else
  log "installing the Python toolchain into $venv"
  [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$root/requirements-dev.txt"
  echo "$want" > "$stamp"
fi

# --- the version matrix (ansible-core 2.16 and 2.21, managed-host Pythons) -------------------
"$root/tools/matrix.sh" setup
