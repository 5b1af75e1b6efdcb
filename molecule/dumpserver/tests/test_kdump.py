"""Verify a converged kdump client VM: the crash kernel is reserved and loaded, the config sources
right (the dump server over ssh on kdump-bookworm, a local target on kdump-trixie)."""

import os
import shlex

import pytest
import yaml

# kdump-bookworm sends its dumps to kdump-dumpsrv over ssh (molecule.yml host_vars).
SSH_CLIENTS = {"kdump-bookworm": "kdump-dumpsrv"}


def _private_address(name):
    with open(os.environ["MOLECULE_INSTANCE_CONFIG"]) as f:
        return next(i["lab_private_address"] for i in yaml.safe_load(f) if i["instance"] == name)


@pytest.fixture(autouse=True)
def _clients_only(host):
    if "kdump_clients" not in host.ansible.get_variables().get("group_names", []):
        pytest.skip("not a kdump client")


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


def _sourced(host, names):
    script = ". /etc/default/kdump-tools; " + "; ".join(
        'printf "%s=%s\\n" {0} "${0}"'.format(n) for n in names
    )
    result = host.run("env -i /bin/sh -c " + shlex.quote(script))
    assert result.rc == 0, result.stderr
    return dict(line.split("=", 1) for line in result.stdout.splitlines())


def test_ssh_target_config_and_pinned_server(host):
    name = host.ansible.get_variables()["inventory_hostname"]
    values = _sourced(host, ["SSH", "SSH_KEY"])
    if name not in SSH_CLIENTS:
        assert values == {"SSH": "", "SSH_KEY": ""}
        return
    server = _private_address(SSH_CLIENTS[name])
    assert values["SSH"] == "kdumprecv@" + server
    key = values["SSH_KEY"]
    assert key == "/root/.ssh/kdump_id_ed25519"  # ed25519: Debian's capture runs the system's OpenSSH
    with host.sudo():
        private = host.file(key)
        assert private.mode == 0o600 and private.user == "root"
        assert host.file(key + ".pub").content_string.startswith("ssh-ed25519 ")
        pinned = host.run("ssh-keygen -F %s -f /root/.ssh/known_hosts", server)
        assert pinned.rc == 0 and server in pinned.stdout, pinned.stdout + pinned.stderr


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
    # kdump_compression auto, the role's default: zstd with Debian 13's makedumpfile, zlib with 12's
    assert ("-z" if host.backend.get_hostname() == "kdump-trixie" else "-c") in args, args
    assert args[args.index("-d") + 1] == "31", args
    assert values["KDUMP_FAIL_CMD"].startswith("reboot")


def test_kdump_tools_ready(host):
    status = host.run("kdump-config status")
    assert "ready to kdump" in status.stdout, status.stdout + status.stderr


def test_sysctl_panic_policy(host):
    assert _read(host, "/proc/sys/kernel/panic_on_oops") == "1"
    assert _read(host, "/proc/sys/kernel/sysrq") == "1"
