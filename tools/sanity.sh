#!/usr/bin/env bash
# Run `ansible-test sanity` on a copy of the git-tracked (and untracked, not ignored) files,
# placed where ansible-test wants them: <tmp>/ansible_collections/crashkit/kdump.
# Usage: tools/sanity.sh [ansible-test sanity args...]   (default: all tests, Python 3.11)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CRASHKIT_VENV:-$root/.venv}
tree=$root/.tmp/sanity/ansible_collections/crashkit/kdump
rm -rf "$root/.tmp/sanity"
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
exec ansible-test sanity --color no --python 3.11 --local "${@}"
