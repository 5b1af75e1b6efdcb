"""Recipe hashing of the lab's base images: stable, and sensitive to every recipe input."""
import copy

import pytest

from crashlab import image, images

PUB = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHk8 crashkit-lab\n"
SOURCES = {"image.py": b"builder source v1"}


def base_recipe():
    return image.recipe("bookworm", PUB)


def test_hash_is_stable_across_calls_and_dict_order():
    a = base_recipe()
    b = dict(reversed(list(copy.deepcopy(a).items())))
    assert image.recipe_hash(a, SOURCES) == image.recipe_hash(b, SOURCES)
    assert len(image.recipe_hash(a, SOURCES)) == 16


def _change_release(r):
    r["release"] = "trixie"


def _add_package(r):
    r["packages"].append("kdump-tools")


def _reorder_packages(r):
    r["packages"].reverse()


def _edit_grub_snippet(r):
    r["files"]["etc/default/grub"] += "GRUB_CMDLINE_LINUX_DEFAULT=quiet\n"


def _edit_network_snippet(r):
    r["files"]["etc/systemd/network/10-crashlab-nat.network"] = "[Match]\nName=*\n"


def _change_disk_size(r):
    r["disk_size"] = "16G"


def _change_chroot_step(r):
    r["chroot_steps"].append(["systemctl", "enable", "serial-getty@ttyS0"])


@pytest.mark.parametrize("mutate", [
    _change_release, _add_package, _reorder_packages, _edit_grub_snippet, _edit_network_snippet,
    _change_disk_size, _change_chroot_step,
])
def test_every_recipe_input_changes_the_hash(mutate):
    r = base_recipe()
    before = image.recipe_hash(r, SOURCES)
    mutate(r)
    assert image.recipe_hash(r, SOURCES) != before


def test_builder_source_changes_the_hash():
    r = base_recipe()
    assert image.recipe_hash(r, SOURCES) != image.recipe_hash(r, {"image.py": b"builder source v2"})


def test_hash_does_not_confuse_adjacent_strings():
    # "ab" + "c" must not hash like "a" + "bc": values are length-prefixed
    assert image.recipe_hash({"x": ["ab", "c"]}, {}) != image.recipe_hash({"x": ["a", "bc"]}, {})


def test_ssh_key_is_part_of_the_recipe():
    other = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOther crashkit-lab\n"
    assert image.recipe_hash(image.recipe("bookworm", PUB), SOURCES) != image.recipe_hash(
        image.recipe("bookworm", other), SOURCES)


def test_builder_sources_are_the_real_files():
    src = image.builder_sources()
    assert set(src) == {"image.py"}
    assert b"def recipe_hash" in src["image.py"]


@pytest.mark.parametrize("release", ["bookworm", "trixie"])
def test_guest_files_serial_console_grub_and_apt(release):
    files = image.guest_files(release, PUB)
    grub = files["etc/default/grub"]
    assert 'GRUB_CMDLINE_LINUX="console=ttyS0,115200"' in grub
    assert "GRUB_TERMINAL=serial" in grub
    assert "GRUB_TIMEOUT=1" in grub
    assert "quiet" not in grub.split("GRUB_CMDLINE_LINUX_DEFAULT=")[1].splitlines()[0]
    sources = files["etc/apt/sources.list.d/debian.sources"]
    assert "URIs: http://10.0.2.100/debian\n" in sources
    assert "Suites: %s %s-updates\n" % (release, release) in sources
    assert "Suites: %s-security\n" % release in sources
    assert files["root/.ssh/authorized_keys"] == PUB
    assert "MACAddress=%s" % image.NAT_MAC in files["etc/systemd/network/10-crashlab-nat.network"]
    assert files["etc/initramfs-tools/conf.d/crashlab-modules"] == "MODULES=dep\n"
    # package triggers do not rebuild the guest's own initrd (update-initramfs reads this)
    assert "update_initramfs=no\n" in files["etc/initramfs-tools/update-initramfs.conf"].splitlines(True)


def test_no_kdump_packages_are_baked_in():
    assert not [p for p in image.PACKAGES if "kdump" in p or "kexec" in p or "makedumpfile" in p]


def test_prunable_keeps_current_and_open_images():
    dirs = ["/c/images/bookworm-old1", "/c/images/bookworm-new", "/c/images/trixie-old", "/c/images/trixie-new"]
    current = {"/c/images/bookworm-new", "/c/images/trixie-new"}
    open_paths = {"/c/images/trixie-old/disk.raw", "/work/main/.tmp/lab/vms/x/disk.qcow2"}
    assert images.prunable(dirs, current, open_paths) == ["/c/images/bookworm-old1"]
