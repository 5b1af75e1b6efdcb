#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of the git-tracked (and untracked, not ignored) files,
# placed where ansible-test wants them: <tmp>/ansible_collections/crashkit/kdump.
# Usage: tools/sanity.sh [ansible-test sanity args...]   (default: all tests)
# Environment: CRASHKIT_VENV (default .venv: ansible-core 2.19, Python 3.11) is the toolchain whose
# ansible-test runs, on its own Python (the matrix runs this with ansible-core 2.16 and 2.21).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CRASHKIT_VENV:-$root/.venv}
pyver=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
copy=$root/.tmp/sanity/$(basename "$venv")
tree=$copy/ansible_collections/crashkit/kdump
rm -rf "$copy"
mkdir -p "$tree"
cd "$root"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] || continue
  mkdir -p "$tree/$(dirname "$f")"
  cp -a "$f" "$tree/$f"
done
cd "$tree"
# ansible-test only looks at files git knows: give the copy its own repository.
git init -q . && git add -A >/dev/null && git -c user.email=s@l -c user.name=sanity commit -qm sanity
export PATH="$venv/bin:$PATH"
# ansible-test bootstraps pip into each per-test virtual environment with a "get-pip" script it
# downloads from a host outside Debian/PyPI. Give it a local equivalent instead: the script is
# run with pip-install arguments, so ensure pip from the interpreter's own ensurepip, then
# pip-install the requested versions from PyPI.
pip_version=$(python - <<'PY'
import re, ansible_test, os
src = open(os.path.join(os.path.dirname(ansible_test.__file__), "_internal", "python_requirements.py")).read()
print(re.search(r"pip='([0-9.]+)'", src).group(1))
PY
)
shim=$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py
mkdir -p "$(dirname "$shim")"
# Written to a temporary name and renamed: tools/matrix.sh runs sanity of two ansible-cores at once.
cat > "$shim.$$" <<'PY'
"""Local stand-in for get-pip.py, written by crashkit.kdump's tools/sanity.sh."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
# get-pip's own options: --no-setuptools / --no-wheel mean "do not add them"; drop them.
args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", "-q", "--no-warn-script-location"] + args))
PY
mv -f "$shim.$$" "$shim"
exec ansible-test sanity --color no --python "$pyver" --local "${@}"
