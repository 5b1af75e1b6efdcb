#!/usr/bin/env bash
# The execution environment's build context (ansible-builder, definition execution-environment.yml).
#
#   tools/ee.sh prepare            # build the collection tarball from this checkout into .tmp/ee/
#                                  # and write .tmp/ee/requirements.yml beside it
#   tools/ee.sh create [context]   # prepare, then ansible-builder create (default .tmp/ee-context)
#
# execution-environment.yml takes the collection from .tmp/ee/requirements.yml, which only
# `prepare` writes, after the tarball it names was built: without it `ansible-builder create`
# fails ("Dependency file .tmp/ee/requirements.yml does not exist") instead of writing a context
# without the collection (ansible-builder only warns about a missing additional_build_files src).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$root/.tmp/ee

prepare() {
  rm -rf "$out"
  mkdir -p "$out/dist"
  ansible-galaxy collection build --force --output-path "$out/dist" . >/dev/null
  local built
  built=$(ls "$out"/dist/crashkit-kdump-*.tar.gz)
  mv "$built" "$out/crashkit-kdump.tar.gz"
  rmdir "$out/dist"
  cat > "$out/requirements.yml" <<YAML
---
# Written by tools/ee.sh prepare from $(basename "$built") ($(sha256sum "$out/crashkit-kdump.tar.gz" | cut -d' ' -f1)).
collections:
  - name: collections/crashkit-kdump.tar.gz
    type: file
YAML
  echo "ee: $out/crashkit-kdump.tar.gz (from $(basename "$built")), $out/requirements.yml"
}

case "${1:-}" in
  prepare)
    prepare
    ;;
  create)
    context=${2:-$root/.tmp/ee-context}
    prepare
    ansible-builder create -f execution-environment.yml -c "$context" --output-filename Containerfile -v 1
    test -s "$context/_build/collections/crashkit-kdump.tar.gz"
    ;;
  *)
    echo "usage: tools/ee.sh prepare | create [context]" >&2
    exit 2
    ;;
esac
