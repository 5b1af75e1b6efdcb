"""The converged dump server (kdump-bookworm): the receiver account, the per-client directories,
every client key restricted to the receiver (from= its private address, the ingest queue), the
zero-touch ingest's units and store; on the clients, the evidence service where it belongs."""
import os

import pytest
import yaml

CLIENTS = {"kdump-bookworm", "kdump-trixie"}


def _groups(host):
    return host.ansible.get_variables().get("group_names", [])


def _private_address(name):
    with open(os.environ["MOLECULE_INSTANCE_CONFIG"]) as f:
        return next(i["lab_private_address"] for i in yaml.safe_load(f) if i["instance"] == name)


@pytest.fixture
def server(host):
    if "kdump_dump_servers" not in _groups(host):
        pytest.skip("not a dump server")
    return host


def test_receiver_account_has_no_password(server):
    with server.sudo():
        shadow = server.run("getent shadow kdumprecv")
    assert shadow.rc == 0
    assert shadow.stdout.split(":")[1] == "*"


def test_dump_root_store_and_client_directories_are_private(server):
    with server.sudo():
        for path in ["/srv/crash", "/srv/crash/.queue", "/srv/crash-store"] + ["/srv/crash/" + c for c in CLIENTS]:
            d = server.file(path)
            assert d.is_directory and d.mode == 0o700 and d.user == "kdumprecv", path


def test_each_client_key_is_restricted_to_the_receiver(server):
    with server.sudo():
        keys = server.file("/var/lib/kdumprecv/.ssh/authorized_keys")
        assert keys.user == "root" and keys.mode == 0o644
        lines = [line for line in keys.content_string.splitlines() if line and not line.startswith("#")]
    assert len(lines) == len(CLIENTS), lines
    for client in CLIENTS:
        line = next(line for line in lines if " --host %s " % client in line)
        assert line.startswith('restrict,from="%s",command="' % _private_address(client)), line
        assert "/usr/local/libexec/crashkit-dump-receiver --root /srv/crash --queue" in line
        assert " ssh-ed25519 " in line


def test_ingest_hook_and_retention_units_are_active(server):
    for unit in ("crashkit-ingest.path", "crashkit-ingest.timer", "crashkit-hook.path", "crashkit-hook.timer",
                 "crashkit-dump-retention.timer"):
        assert server.service(unit).is_enabled, unit
        assert server.service(unit).is_running, unit


def test_the_pipeline_is_the_collections_own(server):
    assert server.file("/usr/local/lib/crashkit/crashkit_pipeline.py").mode == 0o644
    out = server.check_output("/usr/bin/python3 -c %s",
                              "import sys; sys.path.insert(0, '/usr/local/lib/crashkit'); "
                              "import crashkit_pipeline; crashkit_pipeline.install(); "
                              "from ansible_collections.crashkit.kdump.plugins.module_utils import _ingest, _fleetstore; "
                              "print('ok')")
    assert out == "ok"


def test_evidence_service_only_on_the_local_target(host):
    timer = host.service("crashkit-evidence.timer")
    if host.backend.get_hostname() == "kdump-bookworm":
        assert timer.is_enabled and timer.is_running
        with host.sudo():
            assert host.file("/etc/crashkit/evidence.json").mode == 0o600
            assert host.file("/var/lib/crashkit").mode == 0o700
            assert host.file("/var/crash").mode == 0o700
    else:
        # an SSH target sends its dumps itself: no evidence service at all (systemctl is-enabled
        # answers "not-found" with exit status 4, which testinfra's is_enabled does not accept)
        state = host.run("systemctl is-enabled crashkit-evidence.timer")
        assert state.stdout.strip() in ("not-found", "disabled"), (state.rc, state.stdout, state.stderr)
        assert not host.file("/etc/systemd/system/crashkit-evidence.timer").exists
