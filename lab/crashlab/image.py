"""The image builder: Debian 12 / 13 disks built with mmdebstrap from Debian's archive, booted by GRUB.

This file is the builder's recipe and code, and its content is part of every image's recipe
hash: keep lookup, locking and cache housekeeping in ``images.py`` so editing them does not
invalidate the images.

The image is a sparse raw disk: msdos label, one ext4 partition, GRUB for BIOS (grub-pc)
installed in the MBR by the guest's own grub-install, so ``/etc/default/grub`` +
``update-grub`` inside a guest really change its next boot. Serial console everywhere,
systemd-networkd DHCP on the NAT NIC, sshd with the lab's key for root, apt pointed at the
host-side package cache (``http://10.0.2.100``). No kdump packages: the roles install them.

The recipe hash covers everything that decides the image's content (release, packages, the
files written into the guest, this builder's own source), so changing any of them builds a new
image and an unchanged recipe is a cache hit (see ``images.py``).
"""
import hashlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path


DISK_SIZE = "8G"
PART_START_SECTOR = 2048  # 1 MiB: room for GRUB's core.img after the MBR
NAT_MAC = "52:54:00:12:34:56"  # every VM's user-mode NIC; systemd-networkd DHCPs on it
GUEST_APT_BASE = "http://10.0.2.100"  # guestfwd address of the host's apt cache
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
GUEST_HOSTNAME = "crashlab"

PACKAGES = (
    "linux-image-amd64",
    "grub-pc",
    "initramfs-tools",
    "busybox",
    "zstd",
    "systemd-sysv",
    "udev",
    "dbus",
    "kmod",
    "procps",
    "iproute2",
    "netbase",
    "openssh-server",
    "sudo",
    "python3",
    "python3-apt",
)

GRUB_DEFAULTS = """\
# Written by the crashkit lab image builder (lab/crashlab/image.py).
# No "quiet": the lab reads kernel messages ("Linux version", panics) on the serial console.
GRUB_DEFAULT=0
GRUB_TIMEOUT=1
GRUB_DISTRIBUTOR=Debian
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=ttyS0,115200"
GRUB_TERMINAL=serial
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
"""


def guest_files(release: str, pubkey: str):
    """Files the builder writes into the guest, relative to its root (part of the recipe)."""
    return {
        "etc/default/grub": GRUB_DEFAULTS,
        "etc/hostname": GUEST_HOSTNAME + "\n",
        "etc/hosts": "127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n" % GUEST_HOSTNAME,
        "etc/apt/sources.list.d/debian.sources": (
            "Types: deb\nURIs: {base}/debian\nSuites: {r} {r}-updates\nComponents: main\nSigned-By: {k}\n\n"
            "Types: deb\nURIs: {base}/debian-security\nSuites: {r}-security\nComponents: main\nSigned-By: {k}\n"
        ).format(base=GUEST_APT_BASE, r=release, k=KEYRING),
        "etc/apt/apt.conf.d/80crashlab": 'Acquire::Retries "5";\nAcquire::http::Timeout "120";\n',
        "etc/systemd/network/10-crashlab-nat.network": (
            "[Match]\nMACAddress=%s\n\n[Network]\nDHCP=ipv4\nIPv6AcceptRA=no\n" % NAT_MAC
        ),
        "root/.ssh/authorized_keys": pubkey.strip() + "\n",
        # Guest-side initramfs rebuilds (installing kdump-tools triggers one) with Debian's default
        # MODULES=most run thousands of processes: > 16 min under TCG on a busy 2-core host,
        # MODULES=dep 6.5 min. The image's own initrd is still built with "most" (in the chroot,
        # "dep" would look at the build host's loop device); in the guest "dep" sees virtio.
        "etc/initramfs-tools/conf.d/crashlab-modules": "MODULES=dep\n",
        # ... and with this none at all: package triggers (installing kdump-tools) no longer
        # rebuild the guest's own initrd, about 6 minutes of every converge under TCG. On Debian
        # kdump-tools' hooks act only in the kdump initramfs, which kdump-tools builds itself with
        # mkinitramfs (this setting is read by update-initramfs only), so nothing the scenarios
        # prove depends on that rebuild. Only the lab's guests have this; the role never sets it.
        "etc/initramfs-tools/update-initramfs.conf": "update_initramfs=no\nbackup_initramfs=no\n",
    }


CHROOT_STEPS = (
    # networkd for DHCP, sshd for the lab; apt's daily timers would grab the dpkg lock in the
    # middle of a converge, so they are masked.
    ["systemctl", "enable", "systemd-networkd", "ssh"],
    ["systemctl", "mask", "apt-daily.timer", "apt-daily-upgrade.timer"],
)

DEBCONF_BUILD = "grub-pc grub-pc/install_devices multiselect\ngrub-pc grub-pc/install_devices_empty boolean true\n"
DEBCONF_FINAL = "grub-pc grub-pc/install_devices multiselect /dev/vda\n"


def recipe(release: str, pubkey: str):
    return {
        "release": release,
        "packages": list(PACKAGES),
        "disk_size": DISK_SIZE,
        "files": guest_files(release, pubkey),
        "chroot_steps": [list(s) for s in CHROOT_STEPS],
        "debconf": [DEBCONF_BUILD, DEBCONF_FINAL],
    }


def recipe_hash(rec, sources) -> str:
    """Stable hash of a recipe dict plus the builder's source files (``{name: bytes}``)."""
    h = hashlib.sha256()

    def feed(obj):
        if isinstance(obj, dict):
            h.update(b"{")
            for k in sorted(obj):
                feed(k)
                feed(obj[k])
            h.update(b"}")
        elif isinstance(obj, (list, tuple)):
            h.update(b"[")
            for v in obj:
                feed(v)
            h.update(b"]")
        elif isinstance(obj, bytes):
            h.update(b"b%d:" % len(obj) + obj)
        else:
            s = str(obj).encode()
            h.update(b"s%d:" % len(s) + s)

    feed(rec)
    feed({name: bytes(data) for name, data in sources.items()})
    return h.hexdigest()[:16]


def builder_sources():
    """The files whose code decides what an image contains."""
    here = Path(__file__).resolve()
    return {here.name: here.read_bytes()}


def log(msg):
    sys.stderr.write("[image %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def run(cmd, check=True, **kw):
    return subprocess.run([str(c) for c in cmd], check=check, **kw)


class Builder:
    def __init__(self, release, work: Path, cache_port: int, pubkey: str):
        self.release = release
        self.work = work
        self.mnt = work / "mnt"
        self.disk = work / "disk.raw"
        self.base = "http://127.0.0.1:%d" % cache_port
        self.pubkey = pubkey
        self.loop = None
        self.part = None
        self.mounts = []

    def run(self):
        try:
            self._partition()
            self._bootstrap()
            self._configure()
            self._install_grub()
            return self._manifest()
        finally:
            self._teardown()

    def _partition(self):
        log("%s: disk %s, msdos label, ext4 partition" % (self.release, DISK_SIZE))
        run(["truncate", "-s", DISK_SIZE, self.disk])
        run(["sfdisk", "--quiet", self.disk], input="label: dos\nstart=%d, type=83, bootable\n" % PART_START_SECTOR,
            text=True)
        self.loop = run(["losetup", "--find", "--show", self.disk], capture_output=True, text=True).stdout.strip()
        # The loop driver here has max_part=0: no partition nodes from the kernel's own scan.
        # partx adds the partition with BLKPG; devtmpfs creates /dev/loopNp1.
        run(["partx", "-a", self.loop])
        self.part = self.loop + "p1"
        for _attempt in range(50):
            if os.path.exists(self.part):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("partition node %s did not appear" % self.part)
        run(["mkfs.ext4", "-q", "-L", "rootfs", self.part])
        self.mnt.mkdir()
        self._mount([self.part, self.mnt])

    def _mount(self, args, target=None):
        run(["mount"] + list(args))
        self.mounts.append(str(target or args[-1]))

    def _bootstrap(self):
        r = self.release
        sel = self.work / "debconf.sel"
        sel.write_text(DEBCONF_BUILD)
        signed = "[signed-by=%s]" % KEYRING
        cmd = [
            "mmdebstrap", "--mode=root", "--variant=minbase", "--format=directory",
            "--include=" + ",".join(PACKAGES),
            '--aptopt=Acquire::Retries "5"',
            "--essential-hook=chroot \"$1\" debconf-set-selections < %s" % sel,
            r, str(self.mnt),
            "deb %s %s/debian %s main" % (signed, self.base, r),
            "deb %s %s/debian %s-updates main" % (signed, self.base, r),
            "deb %s %s/debian-security %s-security main" % (signed, self.base, r),
        ]
        log("%s: mmdebstrap (%d packages + minbase) through the apt cache" % (r, len(PACKAGES)))
        with open(self.work / "mmdebstrap.log", "w") as logf:
            p = subprocess.run(cmd, stdout=logf, stderr=subprocess.STDOUT, env=dict(os.environ, LC_ALL="C.UTF-8"),
                               check=False)
        if p.returncode:
            tail = (self.work / "mmdebstrap.log").read_text(errors="replace").splitlines()[-30:]
            raise RuntimeError("mmdebstrap failed (%d):\n%s" % (p.returncode, "\n".join(tail)))

    def _configure(self):
        root = self.mnt
        for rel, content in guest_files(self.release, self.pubkey).items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        os.chmod(root / "root/.ssh", 0o700)
        os.chmod(root / "root/.ssh/authorized_keys", 0o600)
        legacy = root / "etc/apt/sources.list"
        if legacy.exists():
            legacy.unlink()
        uuid = run(["blkid", "-s", "UUID", "-o", "value", self.part], capture_output=True, text=True).stdout.strip()
        (root / "etc/fstab").write_text("UUID=%s / ext4 errors=remount-ro 0 1\n" % uuid)
        self.uuid = uuid
        # The image has no package lists (mmdebstrap removes them, they named the build-time
        # URIs), but the empty lists dir has a fresh mtime: Ansible's apt `cache_valid_time`
        # reads that as "updated just now" and skips the update. Make it look never updated.
        os.utime(root / "var/lib/apt/lists", (0, 0))

    def _chroot_env(self):
        """Private /dev (tmpfs + the nodes GRUB needs + a by-uuid link), /proc, /sys."""
        dev = self.mnt / "dev"
        self._mount(["-t", "tmpfs", "-o", "mode=755", "crashlab-dev", dev])
        for name in ("null", "zero", "random", "urandom", "full", "tty"):
            _copy_node("/dev/" + name, dev / name)
        for node in (self.loop, self.part):
            _copy_node(node, dev / os.path.basename(node))
        byuuid = dev / "disk" / "by-uuid"
        byuuid.mkdir(parents=True)
        # grub-mkconfig writes root=UUID=... only when this link exists (no udev here).
        os.symlink("../../" + os.path.basename(self.part), byuuid / self.uuid)
        (dev / "pts").mkdir()
        self._mount(["--bind", "/proc", self.mnt / "proc"])
        self._mount(["--bind", "/sys", self.mnt / "sys"])

    def _chroot(self, *cmd, **kw):
        env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C.UTF-8", "DEBIAN_FRONTEND": "noninteractive"}
        return run(["chroot", self.mnt] + list(cmd), env=env, **kw)

    def _install_grub(self):
        self._chroot_env()
        for step in CHROOT_STEPS:
            self._chroot(*step, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        log("%s: grub-install (i386-pc) + update-grub" % self.release)
        self._chroot("grub-install", "--target=i386-pc", self.loop, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
        self._chroot("update-grub", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._chroot("debconf-set-selections", input=DEBCONF_FINAL, text=True)
        cfg = (self.mnt / "boot/grub/grub.cfg").read_text()
        linux = [ln.strip() for ln in cfg.splitlines() if ln.strip().startswith("linux")]
        if not linux or not all("root=UUID=%s" % self.uuid in ln and "console=ttyS0" in ln for ln in linux):
            raise RuntimeError("grub.cfg does not boot root=UUID=%s with console=ttyS0:\n%s" % (self.uuid, linux))

    def _manifest(self):
        out = self._chroot("dpkg-query", "-W", "-f=${Package}\t${Version}\n", capture_output=True, text=True).stdout
        pkgs = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        kernels = sorted(p.name[len("vmlinuz-"):] for p in (self.mnt / "boot").glob("vmlinuz-*"))
        os_release = (self.mnt / "etc/os-release").read_text()
        m = re.search(r'^PRETTY_NAME="?([^"\n]*)', os_release, re.M)
        return {
            "release": self.release,
            "os": m.group(1) if m else self.release,
            "kernels": kernels,
            "root_uuid": self.uuid,
            "partition_offset": PART_START_SECTOR * 512,
            "disk_size": DISK_SIZE,
            "packages": pkgs,
            "built": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }

    def _teardown(self):
        for m in reversed(self.mounts):
            run(["umount", m], check=False)
        self.mounts = []
        if self.loop:
            run(["partx", "-d", self.loop], check=False, stderr=subprocess.DEVNULL)
            run(["losetup", "-d", self.loop], check=False)
            self.loop = None
        subprocess.run(["sync"], check=False)


def _copy_node(src, dst):
    st = os.stat(src)
    os.mknod(dst, st.st_mode, st.st_rdev)
    os.chmod(dst, st.st_mode & 0o7777)
