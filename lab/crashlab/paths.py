"""Where the lab keeps things, and the small file helpers everything else uses.

* cache dir (``CRASHKIT_LAB_CACHE``, default ``/var/cache/crashkit-lab``): base images, the
  lab's ssh key, the apt package cache, the acceleration probe result. Outside the checkout,
  survives ``git clean``; shared by every checkout on the machine.
* run dir (``CRASHKIT_LAB_RUN``, default ``<repo>/.tmp/lab``): one lab's live state: one
  subdirectory per VM under ``vms/``, the lab's helper services under ``services/``.
"""
import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CACHE = Path("/var/cache/crashkit-lab")


def cache_dir() -> Path:
    return Path(os.environ.get("CRASHKIT_LAB_CACHE") or DEFAULT_CACHE).absolute()


def run_dir() -> Path:
    return Path(os.environ.get("CRASHKIT_LAB_RUN") or REPO_ROOT / ".tmp" / "lab").absolute()


def lab_id(run: Path) -> str:
    """Short stable id of a run dir; part of every process marker of that lab."""
    return hashlib.sha256(str(Path(run).absolute()).encode()).hexdigest()[:10]


def marker(run: Path) -> str:
    """String carried on the command line of every process this lab starts.

    ``cleanup`` finds leftover processes by it, so two labs (two run dirs) on one machine never
    touch each other's VMs.
    """
    return "crashlab-" + lab_id(run)


def atomic_write(path: Path, data, mode: int = 0o644) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix="." + path.name + ".")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: Path, obj, mode: int = 0o644) -> None:
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=True) + "\n", mode)


def read_json(path: Path, default=None):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return default


@contextlib.contextmanager
def locked(path: Path):
    """Exclusive advisory lock on ``path`` (created if missing), held for the block."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
