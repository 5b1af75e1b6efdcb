"""Verify a converged lab VM: the crash kernel is reserved and loaded, the config sources right."""

import re
import shlex


def _read(host, path):
    return host.file(path).content_string.strip()


def test_crashkernel_on_cmdline(host):
    words = _read(host, "/proc/cmdline").split()
    values = [w for w in words if w.startswith("crashkernel=")]
    assert len(values) == 1, words


def test_memory_reserved(host):
    assert int(_read(host, "/sys/kernel/kexec_crash_size")) >= 128 * 1024 * 1024
    iomem = host.run("grep -i 'Crash kernel' /proc/iomem")
    assert iomem.rc == 0, iomem.stderr


def test_crash_kernel_loaded(host):
    assert _read(host, "/sys/kernel/kexec_crash_loaded") == "1"


def test_service_enabled(host):
    assert host.service("kdump-tools").is_enabled


def test_config_sources_to_intended_values(host):
    names = ["USE_KDUMP", "KDUMP_COREDIR", "MAKEDUMP_ARGS", "KDUMP_FAIL_CMD"]
    script = ". /etc/default/kdump-tools; " + "; ".join(
        'printf "%s=%s\\n" {0} "${0}"'.format(n) for n in names
    )
    result = host.run("env -i /bin/sh -c " + shlex.quote(script))
    assert result.rc == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert values["USE_KDUMP"] == "1"
    assert values["KDUMP_COREDIR"] == "/var/crash"
    args = values["MAKEDUMP_ARGS"].split()
    # kdump_compression auto, the role's default: zstd (-z) where makedumpfile has it (Debian 13's
    # 1.7.6), zlib (-c) where not (Debian 12's 1.7.2)
    expected = "-z" if host.backend.get_hostname() == "kdump-trixie" else "-c"
    assert expected in args, args
    assert not ({"-c", "-l", "-p", "-z"} - {expected}) & set(args), args
    assert args[args.index("-d") + 1] == "31", args
    assert values["KDUMP_FAIL_CMD"].startswith("reboot")


def test_kdump_tools_ready(host):
    status = host.run("kdump-config status")
    assert "ready to kdump" in status.stdout, status.stdout + status.stderr


def test_capture_command_line_masks_what_the_capture_does_not_need(host):
    # kdump_capture_lean_boot: the loaded crash kernel's command line (kdump-config show prints
    # the kexec command it ran) masks timers and utmp, and for kdump-bookworm's local target the
    # network; kdump-trixie's SSH target keeps the network
    with host.sudo():
        show = host.run("kdump-config show")
    assert show.rc == 0, show.stderr
    found = re.search(r'--command-line="([^"]*)"', show.stdout)
    assert found, show.stdout
    masked = sorted(w.split("=", 1)[1] for w in found.group(1).split() if w.startswith("systemd.mask="))
    expected = ["systemd-update-utmp.service", "timers.target"]
    if host.backend.get_hostname() == "kdump-bookworm":
        expected += ["network-online.target", "systemd-networkd.service", "systemd-networkd.socket",
                     "systemd-resolved.service"]
    assert masked == sorted(expected), found.group(1)
    assert "systemd.unit=kdump-tools-dump.service" in found.group(1).split()


def test_sysctl_panic_policy(host):
    assert _read(host, "/proc/sys/kernel/panic_on_oops") == "1"
    assert _read(host, "/proc/sys/kernel/sysrq") == "1"


def test_kdump_initramfs_not_built_again_at_the_boot_after_setup(host):
    # The role builds the kdump initramfs before the reboot; kdump-tools' first `load` deleted and
    # rebuilt it when the role had not recorded /etc/kdump/sysctl.conf as load does.
    log = host.run("journalctl -b -u kdump-tools --no-pager -o cat")
    assert log.rc == 0, log.stderr
    assert "loaded kdump kernel" in log.stdout, log.stdout
    assert "Generating /var/lib/kdump/initrd.img" not in log.stdout, log.stdout


def test_the_lean_capture_is_in_the_kdump_initramfs(host):
    # kdump_capture_mode auto (the default) on both clients: the hook, the capture boot's
    # note drop-in, and the script in the kdump initramfs the loaded kernel boots with
    name = host.backend.get_hostname()
    assert host.file("/etc/initramfs-tools/hooks/crashkit-capture").exists
    assert host.file("/etc/systemd/system/kdump-tools-dump.service.d/crashkit-capture-note.conf").exists
    with host.sudo():
        listing = host.run("lsinitramfs /var/lib/kdump/initrd.img-$(uname -r)")
    assert listing.rc == 0, listing.stderr
    names = [n[2:] if n.startswith("./") else n for n in listing.stdout.split()]
    crashkit = [n for n in names if "crashkit" in n]
    assert "scripts/local-bottom/crashkit-capture" in names, crashkit
    assert "usr/lib/crashkit-capture/makedumpfile" in names, crashkit
    # the same script before the root's fsck, to skip a check that cannot run (Debian 12 has
    # fsck.ext4 in this initramfs, so there it leaves the check alone)
    assert "scripts/local-premount/crashkit-capture" in names, crashkit
    if name == "kdump-bookworm":
        assert "usr/sbin/fsck.ext4" in names
    # kdump-trixie's SSH target: the way to the dump server recorded by the hook, and chroot to
    # run the root's own ip and ssh; kdump-bookworm's local target needs no network
    assert ("conf/crashkit-capture-net" in names) == (name == "kdump-trixie"), crashkit
    assert "usr/lib/crashkit-capture/chroot" in names, crashkit
