"""Make the repository importable as ``ansible_collections.crashkit.kdump`` for pytest.

The repository root is the collection root. Python resolves
``ansible_collections.crashkit.kdump`` through a symlink tree under ``.tmp/`` that points
back at this checkout, so unit tests import plugin code exactly as Ansible does.
"""
import os
import sys

_ROOT = os.path.dirname(os.path.abspath(__file__))
_TREE = os.path.join(_ROOT, ".tmp", "collections")
_LINK = os.path.join(_TREE, "ansible_collections", "crashkit", "kdump")

if not os.path.islink(_LINK):
    os.makedirs(os.path.dirname(_LINK), exist_ok=True)
    try:
        os.symlink(_ROOT, _LINK)
    except FileExistsError:
        pass
if _TREE not in sys.path:
    sys.path.insert(0, _TREE)
