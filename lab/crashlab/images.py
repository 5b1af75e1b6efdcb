"""Base images in the cache: lookup by recipe hash, locked builds, housekeeping.

``python3 -m crashlab image build --release bookworm|trixie`` | ``image list`` | ``image prune``

Images live in ``<cache>/images/<release>-<recipe hash>/`` (``disk.raw`` + ``manifest.json``).
A build runs under a per-release lock, so two concurrent runs never build the same image twice:
the second waits and reuses the first one's result.
"""
import os
import shutil
import subprocess
import time
from pathlib import Path

from crashlab import RELEASES, aptcache, paths
from crashlab.image import Builder, builder_sources, log, recipe, recipe_hash, run


# --- ssh key ------------------------------------------------------------------------------------

def ssh_key(cache: Path = None) -> Path:
    """Path of the lab's private key (ed25519, generated once per cache dir)."""
    cache = cache or paths.cache_dir()
    key = cache / "ssh" / "id_ed25519"
    if key.exists() and key.with_suffix(".pub").exists():
        return key
    with paths.locked(cache / "ssh.lock"):
        if not key.exists():
            key.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(key.parent, 0o700)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "crashkit-lab", "-f", str(key)],
                           check=True)
    return key


# --- image lookup -------------------------------------------------------------------------------

class Image:
    def __init__(self, release, directory: Path):
        self.release = release
        self.dir = Path(directory)
        self.disk = self.dir / "disk.raw"
        self.manifest_path = self.dir / "manifest.json"

    @property
    def manifest(self):
        return paths.read_json(self.manifest_path, {})

    def exists(self):
        return self.manifest_path.exists() and self.disk.exists()


def images_dir(cache: Path = None) -> Path:
    return (cache or paths.cache_dir()) / "images"


def current_image(release: str, cache: Path = None) -> Image:
    cache = cache or paths.cache_dir()
    pub = ssh_key(cache).with_suffix(".pub").read_text()
    h = recipe_hash(recipe(release, pub), builder_sources())
    return Image(release, images_dir(cache) / ("%s-%s" % (release, h)))


def ensure(release: str, force: bool = False) -> Image:
    """Return the current image of ``release``, building it if the recipe changed."""
    if release not in RELEASES:
        raise ValueError("release must be one of %s" % ", ".join(RELEASES))
    img = current_image(release)
    if img.exists() and not force:
        return img
    pub = ssh_key().with_suffix(".pub").read_text()
    with paths.locked(images_dir() / (".%s.lock" % release)):
        if img.exists() and not force:
            log("%s: built by a concurrent run meanwhile: %s" % (release, img.dir))
            return img
        _teardown_stale(release)
        work = images_dir() / (".build-%s-%d" % (release, os.getpid()))
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        t0 = time.monotonic()
        server = aptcache.start_in_thread(paths.cache_dir() / "apt")
        try:
            manifest = Builder(release, work, server.server_address[1], pub).run()
        except BaseException:
            _teardown_stale(release)
            raise
        finally:
            server.shutdown()
            server.server_close()
        manifest["build_seconds"] = round(time.monotonic() - t0, 1)
        manifest["recipe_hash"] = img.dir.name.rsplit("-", 1)[1]
        paths.write_json(work / "manifest.json", manifest)
        if img.dir.exists():
            shutil.rmtree(img.dir)
        os.rename(work, img.dir)
        log("%s: built in %.1f s: %s" % (release, manifest["build_seconds"], img.disk))
        return img


def _loop_devices():
    """``{loop device: backing file}`` of the attached loop devices."""
    out = run(["losetup", "--list", "--noheadings", "--output", "NAME,BACK-FILE"],
              capture_output=True, text=True).stdout
    devs = {}
    for line in out.splitlines():
        parts = line.split(None, 1)
        if len(parts) == 2:
            devs[parts[0]] = parts[1].strip()
    return devs


def _teardown_stale(release):
    """Undo what a killed build of ``release`` left: mounts, loop devices, its work dir."""
    prefix = str(images_dir() / (".build-%s-" % release))
    with open("/proc/mounts", encoding="utf-8") as f:
        mounts = [line.split()[1].replace("\\040", " ") for line in f]
    for m in sorted((m for m in mounts if m.startswith(prefix)), key=len, reverse=True):
        run(["umount", "-l", m], check=False)
    for dev, back in _loop_devices().items():
        if back.startswith(prefix):
            run(["partx", "-d", dev], check=False, stderr=subprocess.DEVNULL)
            run(["losetup", "-d", dev], check=False)
    for d in images_dir().glob(".build-%s-*" % release):
        shutil.rmtree(d, ignore_errors=True)


def list_images():
    out = []
    for d in sorted(images_dir().glob("*-*")):
        if d.name.startswith("."):
            continue
        img = Image(d.name.rsplit("-", 1)[0], d)
        if img.exists():
            out.append(img)
    return out


def prunable(image_dirs, current_dirs, open_paths):
    """Image dirs that are neither current nor backing a running VM (their disk is open)."""
    return [d for d in image_dirs if d not in current_dirs and str(Path(d) / "disk.raw") not in open_paths]


def open_files():
    """Every path some process has open (QEMU keeps its overlay's backing file open)."""
    found = set()
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir("/proc/%s/fd" % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                found.add(os.readlink("/proc/%s/fd/%s" % (pid, fd)))
            except OSError:
                continue
    return found


def prune(dry_run=False):
    """Remove old images (not the current recipe's, not open by a running VM)."""
    current = {current_image(r).dir for r in RELEASES}
    victims = prunable([i.dir for i in list_images()], current, open_files())
    if not dry_run:
        for d in victims:
            shutil.rmtree(d)
    return victims
