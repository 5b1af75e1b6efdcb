# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The dump server's forced command (roles/dump_server/files/crashkit-dump-receiver).

* the policy table: every command each family's capture environment sends -> the exact action;
* refusals: shells, reads, other paths, '..', symlink escapes, injection attempts;
* the operations themselves (files 0600, directories 0700, exit codes, log lines);
* the write-only SFTP subset, packet by packet;
* end to end: the families' command sequences replayed with the real OpenSSH ssh/scp (SFTP and
  legacy scp protocol) against a throwaway SSH server on 127.0.0.1 that runs the receiver as
  sshd runs a forced command, with the role's own authorized_keys template.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import importlib.machinery
import importlib.util
import hashlib
import io
import time
import os
import stat
import struct
import subprocess
import sys

import pytest
from hypothesis import given, settings, strategies as st

HERE = os.path.dirname(os.path.abspath(__file__))
ROLE = os.path.join(HERE, "..", "..", "..", "roles", "dump_server")
RECEIVER_PATH = os.path.abspath(os.path.join(ROLE, "files", "crashkit-dump-receiver"))


def _load(name, path):
    loader = importlib.machinery.SourceFileLoader(name, path)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


rx = _load("crashkit_dump_receiver", RECEIVER_PATH)
sys.path.insert(0, HERE)
import _sshd  # noqa: E402  pylint: disable=wrong-import-position


@pytest.fixture(autouse=True)
def keep_umask():
    """main() sets umask 077 for the receiver process; give the test process its own back."""
    old = os.umask(0o022)
    os.umask(old)
    yield
    os.umask(old)


@pytest.fixture
def receiver(tmp_path):
    root = tmp_path / "srv"
    (root / "web1").mkdir(parents=True)
    (root / "db1").mkdir()
    return rx.Receiver(str(root), "web1")


def rel(receiver, path):
    if path is None:
        return None
    if path.endswith("/"):
        return os.path.relpath(path, receiver.host_dir) + "/"
    return os.path.relpath(path, receiver.host_dir)


def summary(receiver, actions):
    return [(a.op, rel(receiver, a.path), rel(receiver, a.target)) for a in actions]


D_DIR = "/var/crash/10.0.2.15-202401011200"
R_DIR = "/var/crash/192.168.122.10-2024-01-01-12:00:00"
S_DIR = "/var/crash/web1-2024-01-01-12-00"
D_REL = "10.0.2.15-202401011200"
R_REL = "192.168.122.10-2024-01-01-12:00:00"
S_REL = "web1-2024-01-01-12-00"

# (where it comes from, SSH_ORIGINAL_COMMAND, expected actions relative to the host directory)
ALLOWED = [
    # Debian kdump-tools 1.8.1 /usr/sbin/kdump-config, kdump_save_core_to_ssh()
    ("debian mkdir", "mkdir -p %s" % D_DIR, [("mkdir", D_REL, None)]),
    ("debian dump", "dd of=%s/dump-incomplete" % D_DIR, [("write", D_REL + "/dump-incomplete", None)]),
    ("debian dump gz", "dd of=%s/dump-incomplete.gz" % D_DIR,
     [("write", D_REL + "/dump-incomplete.gz", None)]),
    ("debian mv", "mv %s/dump-incomplete %s/dump.202401011200" % (D_DIR, D_DIR),
     [("rename", D_REL + "/dump-incomplete", D_REL + "/dump.202401011200")]),
    ("debian mv fallback", "mv %s/vmcore-incomplete %s/vmcore.202401011200" % (D_DIR, D_DIR),
     [("rename", D_REL + "/vmcore-incomplete", D_REL + "/vmcore.202401011200")]),
    ("debian hosttag hostname", "mkdir -p /var/crash/web1-202401011200",
     [("mkdir", "web1-202401011200", None)]),
    # Red Hat kdump-utils 63f248c dracut/99kdumpbase/kdump.sh (capture kernel)
    ("redhat mkdir", "mkdir -p %s" % R_DIR, [("mkdir", R_REL, None)]),
    ("redhat dmesg", "umask 0077 && dd of='%s/vmcore-dmesg-incomplete.txt'" % R_DIR,
     [("write", R_REL + "/vmcore-dmesg-incomplete.txt", None)]),
    ("redhat dmesg mv", "mv %s/vmcore-dmesg-incomplete.txt %s/vmcore-dmesg.txt" % (R_DIR, R_DIR),
     [("rename", R_REL + "/vmcore-dmesg-incomplete.txt", R_REL + "/vmcore-dmesg.txt")]),
    ("redhat vmcore", "umask 0077 && dd bs=512 of='%s/vmcore-incomplete'" % R_DIR,
     [("write", R_REL + "/vmcore-incomplete", None)]),
    ("redhat vmcore mv", "mv '%s/vmcore-incomplete' '%s/vmcore.flat'" % (R_DIR, R_DIR),
     [("rename", R_REL + "/vmcore-incomplete", R_REL + "/vmcore.flat")]),
    ("redhat opalcore mv", "mv %s/opalcore-incomplete %s/opalcore" % (R_DIR, R_DIR),
     [("rename", R_REL + "/opalcore-incomplete", R_REL + "/opalcore")]),
    # Red Hat kexec-tools 9462a7d dracut-kdump.sh (before the umask fix, unquoted)
    ("redhat old dmesg", "dd of=%s/vmcore-dmesg-incomplete.txt" % R_DIR,
     [("write", R_REL + "/vmcore-dmesg-incomplete.txt", None)]),
    ("redhat old vmcore", "dd bs=512 of=%s/vmcore-incomplete" % R_DIR,
     [("write", R_REL + "/vmcore-incomplete", None)]),
    ("redhat old mv", "mv %s/vmcore-incomplete %s/vmcore.flat" % (R_DIR, R_DIR),
     [("rename", R_REL + "/vmcore-incomplete", R_REL + "/vmcore.flat")]),
    # Red Hat first kernel: kdumpctl check_and_wait_network_ready, mkdumprd
    ("redhat kdumpctl mkdir", "mkdir -p /var/crash", [("mkdir", ".", None)]),
    ("redhat mkdumprd mktemp", "mktemp -dqp /var/crash", [("mktemp", ".", None)]),
    ("redhat mkdumprd rmdir", "rmdir /var/crash/tmp.AbCdEf0123", [("rmdir", "tmp.AbCdEf0123", None)]),
    ("redhat mkdumprd df", "df --output=avail /var/crash", [("df_avail", ".", None)]),
    ("redhat old mkdumprd df", "df -P /var/crash", [("df_posix", ".", None)]),
    # SUSE kdump 2.x dracut/kdump-save SAVE_COMMAND for ssh://
    ("suse2 save", "umask 077; mkdir -p %s && cat > %s/README.txt" % (S_DIR, S_DIR),
     [("mkdir", S_REL, None), ("write", S_REL + "/README.txt", None)]),
    ("suse2 vmcore", "umask 077; mkdir -p %s && cat > %s/vmcore" % (S_DIR, S_DIR),
     [("mkdir", S_REL, None), ("write", S_REL + "/vmcore", None)]),
    # SUSE kdump 1.0.2 kdumptool/sshtransfer.cc
    ("suse1 mkdir", "mkdir -p %s" % S_DIR, [("mkdir", S_REL, None)]),
    ("suse1 save", "dd of=%s/vmcore-incomplete && mv %s/vmcore-incomplete %s/vmcore"
     % (S_DIR, S_DIR, S_DIR),
     [("write", S_REL + "/vmcore-incomplete", None),
      ("rename", S_REL + "/vmcore-incomplete", S_REL + "/vmcore")]),
    # relative paths land in the host directory too
    ("relative", "mkdir -p sub/dir", [("mkdir", "sub/dir", None)]),
    ("probe", "crashkit-probe", [("probe", ".", None)]),
    ("sftp subsystem debian", "/usr/lib/openssh/sftp-server", [("sftp", ".", None)]),
    ("sftp subsystem redhat", "/usr/libexec/openssh/sftp-server -f AUTHPRIV -l INFO",
     [("sftp", ".", None)]),
    ("sftp internal", "internal-sftp", [("sftp", ".", None)]),
]


@pytest.mark.parametrize("label,command,expected", ALLOWED, ids=[a[0] for a in ALLOWED])
def test_allowed_commands_map_to_exact_actions(receiver, label, command, expected):
    assert summary(receiver, rx.plan(command, receiver)) == expected


SCP = [
    # legacy scp protocol: "scp [-v] [-r] [-p] [-d] -t [--] TARGET" (OpenSSH scp.c toremote())
    ("debian dmesg", "scp -t %s/dmesg.202401011200" % D_DIR, [D_REL + "/dmesg.202401011200"]),
    ("debian fallback", "scp -t %s/vmcore-incomplete" % D_DIR, [D_REL + "/vmcore-incomplete"]),
    ("redhat log dir", "scp -t %s/" % R_DIR, [R_REL + "/"]),
    ("redhat opalcore", "scp -t %s/opalcore-incomplete" % R_DIR, [R_REL + "/opalcore-incomplete"]),
    ("several sources", "scp -d -t %s/" % R_DIR, ["-d", R_REL + "/"]),
    ("verbose", "scp -v -t %s/x" % R_DIR, [R_REL + "/x"]),
    ("preserve dropped", "scp -p -t %s/x" % R_DIR, [R_REL + "/x"]),
    ("dash target", "scp -t -- -x", ["-x"]),
]


@pytest.mark.parametrize("label,command,tail", SCP, ids=[s[0] for s in SCP])
def test_scp_sink_is_served_on_the_mapped_path(receiver, label, command, tail):
    (action,) = rx.plan(command, receiver)
    assert action.op == "scp_sink"
    flags = [t for t in tail if t.startswith("-") and t != "-x"]
    target = tail[-1]
    expected = os.path.join(receiver.host_dir, target.rstrip("/"))
    if target.endswith("/"):
        expected += "/"
    assert action.path == expected
    assert action.argv == ["scp", "-t"] + flags + ["--", expected]


DENIED = [
    ("interactive shell", None, "interactive shells are refused"),
    ("empty", "   ", "empty command"),
    ("sh -c", "sh -c id", "not allowed"),
    ("bash", "bash", "not allowed"),
    ("exec shell", "exec /bin/sh", "not allowed"),
    ("ls", "ls /var/crash", "not allowed"),
    ("test", "test -d /var/crash", "not allowed"),
    ("rm", "rm -rf /var/crash/x", "not allowed"),
    ("cat read", "cat /var/crash/x/vmcore", "reading files is refused"),
    ("cat read redirect", "cat < /var/crash/x/vmcore", "refused"),
    ("dd read", "dd if=/var/crash/x/vmcore of=/var/crash/y", "not allowed"),
    ("dd to stdout", "dd bs=512", "needs of=FILE"),
    ("dd bad bs", "dd bs=1x of=/var/crash/y", "not allowed"),
    ("scp source mode", "scp -f /var/crash/x/vmcore", "-f is refused"),
    ("scp no mode", "scp /var/crash/x", "only allowed in sink mode"),
    ("scp recursive", "scp -r -t /var/crash/x", "-r is refused"),
    ("scp two targets", "scp -t /var/crash/a /var/crash/b", "exactly one"),
    ("scp chained", "scp -t /var/crash/a && rm -rf /", "exactly one"),
    ("parent dir", "mkdir -p ../other", "'..'"),
    ("parent inside", "mkdir -p /var/crash/../../etc", "'..'"),
    ("other host via parent", "mkdir -p /var/crash/../db1", "'..'"),
    ("absolute outside", "mkdir -p /etc/cron.d", "outside the dump path"),
    ("prefix trick", "mkdir -p /var/crashX/a", "outside the dump path"),
    ("write outside", "dd of=/etc/passwd", "outside the dump path"),
    ("mv outside", "mv /var/crash/a/vmcore /tmp/vmcore", "outside the dump path"),
    ("mv from outside", "mv /etc/shadow /var/crash/a", "outside the dump path"),
    ("semicolon injection", "mkdir -p /var/crash/x; rm -rf /", "not allowed"),
    ("glued semicolon", "mkdir -p /var/crash/x;id", "not allowed"),
    ("and injection", "mkdir -p /var/crash/x && sh", "not allowed"),
    ("or operator", "mkdir -p /var/crash/x || sh", "'||'"),
    ("pipe", "mkdir -p /var/crash/x | sh", "'|'"),
    ("background", "mkdir -p /var/crash/x & sh", "'&'"),
    ("command substitution", "mkdir -p /var/crash/$(id)", "refused"),
    ("backticks", "mkdir -p /var/crash/`id`", "characters outside"),
    ("dollar variable", "mkdir -p /var/crash/$HOME", "characters outside"),
    ("newline", "mkdir -p /var/crash/x\nid", "control characters"),
    ("carriage return", "mkdir -p /var/crash/x\rid", "control characters"),
    ("tab", "mkdir\t-p /var/crash/x", "control characters"),
    ("glob", "mkdir -p /var/crash/*", "characters outside"),
    ("tilde", "mkdir -p ~/x", "characters outside"),
    ("space in path", "mkdir -p '/var/crash/a b'", "characters outside"),
    ("unbalanced quote", "mkdir -p '/var/crash/a", "cannot parse"),
    ("redirect other than cat", "dd of=/var/crash/a > /etc/passwd", "only allowed as 'cat > FILE'"),
    ("append redirect", "cat >> /var/crash/a", "'>>'"),
    ("umask other", "umask 022 && dd of=/var/crash/a", "umask 077"),
    ("umask later", "mkdir -p /var/crash/a && umask 077", "umask 077"),
    ("umask alone", "umask 077", "nothing to do"),
    ("empty segment", "mkdir -p /var/crash/a && && mkdir -p /var/crash/b", "empty command"),
    ("trailing separator", "mkdir -p /var/crash/a ;", "empty command"),
    ("mkdir without -p", "mkdir /var/crash/a", "only 'mkdir -p DIR'"),
    ("mkdir mode", "mkdir -p -m 777 /var/crash/a", "only 'mkdir -p DIR'"),
    ("mv options", "mv -f /var/crash/a /var/crash/b", "only 'mv FILE TARGET'"),
    ("mv onto the host dir", "mv /var/crash /var/crash/b", "a file is expected"),
    ("write the host dir", "dd of=/var/crash", "a file is expected"),
    ("rmdir host dir", "rmdir /var/crash", "cannot be removed"),
    ("mktemp other form", "mktemp -d /var/crash/XXXX", "only 'mktemp -dqp DIR'"),
    ("df other", "df /", "only 'df --output=avail DIR'"),
    ("probe args", "crashkit-probe /etc", "takes no arguments"),
    ("probe chained", "mkdir -p /var/crash/a && crashkit-probe", "cannot be combined"),
    ("sftp chained", "/usr/lib/openssh/sftp-server; sh", "cannot be combined"),
    ("sftp later", "mkdir -p /var/crash/a && /usr/lib/openssh/sftp-server", "cannot be combined"),
    ("scp later", "mkdir -p /var/crash/a && scp -t /var/crash/a", "cannot be combined"),
    ("rsync", "rsync --server -e.LsfxC . /var/crash/a", "not allowed"),
    ("git", "git-receive-pack /var/crash/a", "not allowed"),
    ("python", "python3 -c 'import os'", "not allowed"),
    ("absolute mkdir program", "/bin/mkdir -p /var/crash/a", "not allowed"),
]


@pytest.mark.parametrize("label,command,message", DENIED, ids=[d[0] for d in DENIED])
def test_refused_commands(receiver, label, command, message):
    with pytest.raises(rx.Denied) as info:
        rx.plan(command, receiver)
    assert message in str(info.value)


def test_mapping_and_client_view(receiver):
    assert receiver.local("/var/crash") == receiver.host_dir
    assert receiver.local("/var/crash/") == receiver.host_dir
    assert receiver.local("//var//crash/./a") == os.path.join(receiver.host_dir, "a")
    assert receiver.local(".") == receiver.host_dir
    assert receiver.client_view(os.path.join(receiver.host_dir, "a", "b")) == "/var/crash/a/b"
    assert receiver.client_view(receiver.host_dir) == "/var/crash"


def test_client_path_option(tmp_path):
    (tmp_path / "h").mkdir()
    other = rx.Receiver(str(tmp_path), "h", client_path="/srv/dumps/")
    assert other.local("/srv/dumps/x") == str(tmp_path / "h" / "x")
    with pytest.raises(rx.Denied):
        other.local("/var/crash/x")
    everything = rx.Receiver(str(tmp_path), "h", client_path="/")
    assert everything.local("/var/crash/x") == str(tmp_path / "h" / "var" / "crash" / "x")


@pytest.mark.parametrize("host", ["", "..", ".", "a/b", "-x", "a b", "x" * 129, "a;b"])
def test_bad_host_ids_are_refused(tmp_path, host):
    with pytest.raises(rx.Denied):
        rx.Receiver(str(tmp_path), host)


@pytest.mark.parametrize("client_path", ["", "var/crash", "/var/../etc", "/var/cr ash"])
def test_bad_client_paths_are_refused(tmp_path, client_path):
    with pytest.raises(rx.Denied):
        rx.Receiver(str(tmp_path), "h", client_path=client_path)


# ---------------------------------------------------------------------------------------------
# symbolic links


@pytest.fixture
def linked(receiver, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    host = receiver.host_dir
    os.symlink(str(outside), os.path.join(host, "escape"))
    os.symlink(os.path.join(receiver.root, "db1"), os.path.join(host, "neighbour"))
    os.mkdir(os.path.join(host, "real"))
    os.symlink("real", os.path.join(host, "inside"))
    (outside / "secret").write_text("secret")
    os.symlink(str(outside / "secret"), os.path.join(host, "file-link"))
    return receiver


@pytest.mark.parametrize("command", [
    "mkdir -p /var/crash/escape/x",
    "mkdir -p /var/crash/escape",
    "dd of=/var/crash/escape/vmcore",
    "cat > /var/crash/neighbour/vmcore",
    "mv /var/crash/real/a /var/crash/escape/a",
    "mv /var/crash/escape/secret /var/crash/real/a",
    "mktemp -dqp /var/crash/escape",
    "df --output=avail /var/crash/escape",
    "rmdir /var/crash/escape",
    "scp -t /var/crash/escape/",
    "dd of=/var/crash/file-link",
])
def test_symlinks_out_of_the_host_directory_are_refused(linked, command):
    with pytest.raises(rx.Denied) as info:
        rx.plan(command, linked)
    assert "resolves outside" in str(info.value)


def test_symlink_inside_the_host_directory_is_followed(linked):
    (action,) = rx.plan("mkdir -p /var/crash/inside/x", linked)
    assert action.path == os.path.join(linked.host_dir, "inside", "x")


def test_a_symlinked_host_directory_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    os.symlink(str(tmp_path / "elsewhere"), str(tmp_path / "web1"))
    with pytest.raises(rx.Denied) as info:
        rx.plan("mkdir -p /var/crash/x", rx.Receiver(str(tmp_path), "web1"))
    assert "not a plain directory" in str(info.value)


def test_writing_through_a_final_symlink_inside_fails(receiver):
    os.mkdir(os.path.join(receiver.host_dir, "d"))
    with open(os.path.join(receiver.host_dir, "d", "real"), "w") as handle:
        handle.write("keep")
    os.symlink("real", os.path.join(receiver.host_dir, "d", "vmcore"))
    rc, _out, err = run_main(receiver, "dd of=/var/crash/d/vmcore", b"data")
    assert rc == rx.EXIT_FAILED
    assert "not a regular file" in err
    with open(os.path.join(receiver.host_dir, "d", "real")) as handle:
        assert handle.read() == "keep"


# ---------------------------------------------------------------------------------------------
# running the operations (main() in process)


def run_main(receiver, command, data=b"", extra_env=None, execv=None, log_file=None):
    stdout = io.BytesIO()
    stderr = io.StringIO()
    env = {"SSH_CLIENT": "10.0.0.5 40000 22"}
    if command is not None:
        env["SSH_ORIGINAL_COMMAND"] = command
    env.update(extra_env or {})
    argv = ["--root", receiver.root, "--host", receiver.host, "--client-path", receiver.client_path]
    if log_file:
        argv += ["--log-file", log_file]
    rc = rx.main(argv, environ=env, stdin=io.BytesIO(data), stdout=stdout, stderr=stderr,
                 execv=execv)
    return rc, stdout.getvalue().decode(), stderr.getvalue()


def mode(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_a_debian_sequence_writes_private_files(receiver, tmp_path):
    log = str(tmp_path / "receiver.log")
    assert run_main(receiver, "mkdir -p %s" % D_DIR, log_file=log)[0] == 0
    assert run_main(receiver, "dd of=%s/dump-incomplete" % D_DIR, b"\x00vmcore" * 1000,
                    log_file=log)[0] == 0
    assert run_main(receiver, "mv %s/dump-incomplete %s/dump.202401011200" % (D_DIR, D_DIR),
                    log_file=log)[0] == 0
    directory = os.path.join(receiver.host_dir, D_REL)
    assert sorted(os.listdir(directory)) == ["dump.202401011200"]
    with open(os.path.join(directory, "dump.202401011200"), "rb") as handle:
        assert handle.read() == b"\x00vmcore" * 1000
    assert mode(directory) == 0o700
    assert mode(os.path.join(directory, "dump.202401011200")) == 0o600
    with open(log) as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 3
    assert "host=web1 client=10.0.0.5 allow 'mkdir -p %s'" % D_DIR in lines[0]


def test_an_existing_file_is_truncated_and_made_private(receiver):
    path = os.path.join(receiver.host_dir, "old")
    with open(path, "w") as handle:
        handle.write("a much longer previous content")
    os.chmod(path, 0o644)
    assert run_main(receiver, "cat > /var/crash/old", b"new")[0] == 0
    with open(path, "rb") as handle:
        assert handle.read() == b"new"
    assert mode(path) == 0o600


def test_a_suse_compound_command(receiver):
    command = "umask 077; mkdir -p %s && cat > %s/README.txt" % (S_DIR, S_DIR)
    assert run_main(receiver, command, b"readme")[0] == 0
    with open(os.path.join(receiver.host_dir, S_REL, "README.txt"), "rb") as handle:
        assert handle.read() == b"readme"


def test_a_chain_stops_at_the_first_failure(receiver):
    command = "dd of=/var/crash/missing/vmcore-incomplete && mv /var/crash/missing/vmcore-incomplete " \
              "/var/crash/missing/vmcore"
    rc, _out, err = run_main(receiver, command, b"x")
    assert rc == rx.EXIT_FAILED
    assert "No such file or directory" in err
    assert os.listdir(receiver.host_dir) == []


def test_mv_into_an_existing_directory(receiver):
    os.mkdir(os.path.join(receiver.host_dir, "d"))
    with open(os.path.join(receiver.host_dir, "f"), "w") as handle:
        handle.write("x")
    assert run_main(receiver, "mv /var/crash/f /var/crash/d")[0] == 0
    assert os.listdir(os.path.join(receiver.host_dir, "d")) == ["f"]


def test_mv_of_a_directory_fails(receiver):
    os.mkdir(os.path.join(receiver.host_dir, "d"))
    rc, _out, err = run_main(receiver, "mv /var/crash/d /var/crash/e")
    assert rc == rx.EXIT_FAILED and "not a regular file" in err


def test_mkdir_over_a_file_fails(receiver):
    with open(os.path.join(receiver.host_dir, "f"), "w") as handle:
        handle.write("x")
    rc, _out, err = run_main(receiver, "mkdir -p /var/crash/f/g")
    assert rc == rx.EXIT_FAILED and "not a directory" in err.lower()


def test_redhat_first_kernel_checks(receiver):
    rc, out, _err = run_main(receiver, "mktemp -dqp /var/crash")
    assert rc == 0
    made = out.strip()
    assert made.startswith("/var/crash/tmp.")
    local = receiver.local(made)
    assert os.path.isdir(local) and mode(local) == 0o700
    assert run_main(receiver, "rmdir %s" % made)[0] == 0
    assert not os.path.exists(local)
    rc, out, _err = run_main(receiver, "df --output=avail /var/crash")
    assert rc == 0 and out.splitlines()[0] == "Avail" and int(out.splitlines()[-1]) > 0
    rc, out, _err = run_main(receiver, "df -P /var/crash")
    fields = out.splitlines()[-1].split()
    assert rc == 0 and int(fields[3]) > 0 and fields[-1] == "/var/crash"


def test_rmdir_of_a_non_empty_directory_fails(receiver):
    os.makedirs(os.path.join(receiver.host_dir, "d", "e"))
    rc, _out, err = run_main(receiver, "rmdir /var/crash/d")
    assert rc == rx.EXIT_FAILED and "not empty" in err.lower()


def test_probe_writes_and_removes_a_file(receiver):
    rc, out, _err = run_main(receiver, "crashkit-probe")
    assert rc == 0
    assert out.startswith("crashkit-probe ok host=web1 path=/var/crash avail_kib=")
    assert os.listdir(receiver.host_dir) == []


def test_the_host_directory_is_created_when_missing(tmp_path):
    receiver = rx.Receiver(str(tmp_path), "new-host")
    assert run_main(receiver, "crashkit-probe")[0] == 0
    assert mode(str(tmp_path / "new-host")) == 0o700


def test_a_missing_root_fails(tmp_path):
    receiver = rx.Receiver(str(tmp_path / "nope"), "web1")
    rc, _out, err = run_main(receiver, "crashkit-probe")
    assert rc == rx.EXIT_FAILED and "does not exist" in err


def test_refusals_exit_2_with_a_message_and_a_log_line(receiver, tmp_path):
    log = str(tmp_path / "receiver.log")
    rc, out, err = run_main(receiver, "sh -c id", log_file=log)
    assert (rc, out) == (rx.EXIT_DENIED, "")
    assert err.startswith("crashkit-dump-receiver: refused: command 'sh' is not allowed")
    rc, _out, err = run_main(receiver, None, log_file=log)
    assert rc == rx.EXIT_DENIED and "interactive shells are refused" in err
    with open(log) as handle:
        lines = handle.read().splitlines()
    assert len(lines) == 2
    assert "host=web1 client=10.0.0.5 deny 'sh -c id'" in lines[0]
    assert "deny None" in lines[1]


def _scp_session(receiver, command, payload):
    stdin, stdout, stderr = io.BytesIO(payload), io.BytesIO(), io.StringIO()
    log = os.path.join(os.path.dirname(receiver.root), "receiver.log")
    argv = ["--root", receiver.root, "--host", receiver.host, "--log-file", log]
    rc = rx.main(argv, environ={"SSH_ORIGINAL_COMMAND": command, "SSH_CLIENT": "10.0.0.5 1 22"},
                 stdin=stdin, stdout=stdout, stderr=stderr)
    return rc, stdout.getvalue(), stderr.getvalue()


def test_scp_sink_receives_files_0600_whatever_mode_is_sent(receiver):
    """Hardening finding 14: the sink accepted modes like 4777; now every file is 0600."""
    os.mkdir(os.path.join(receiver.host_dir, "d"))
    data = b"kernel log\n"
    payload = b"T1700000000 0 1700000000 0\n" + b"C4777 %d dmesg.txt\n" % len(data) + data + b"\0"
    rc, out, err = _scp_session(receiver, "scp -p -t /var/crash/d/", payload)
    assert rc == 0, err
    assert out == b"\0" * 4
    path = os.path.join(receiver.host_dir, "d", "dmesg.txt")
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert int(st.st_mtime) == 1700000000
    with open(path, "rb") as handle:
        assert handle.read() == data


@pytest.mark.parametrize("name", ["$(id)", "a b", "..", "x;y", "back`tick`"])
def test_scp_sink_refuses_names_outside_the_path_characters(receiver, name):
    """Hardening finding 14: the sink accepted names like $(id)."""
    os.mkdir(os.path.join(receiver.host_dir, "d"))
    payload = b"C0644 3 " + name.encode() + b"\nabc\0"
    rc, out, _err = _scp_session(receiver, "scp -t /var/crash/d/", payload)
    assert rc == rx.EXIT_DENIED
    assert out.startswith(b"\0\x02scp: ")
    assert os.listdir(os.path.join(receiver.host_dir, "d")) == []


def test_scp_sink_clamps_future_times_and_refuses_directories(receiver):
    os.mkdir(os.path.join(receiver.host_dir, "d"))
    payload = b"T99999999999 0 99999999999 0\nC0600 1 f\nx\0"
    rc, _out, err = _scp_session(receiver, "scp -p -t /var/crash/d/", payload)
    assert rc == 0, err
    assert os.stat(os.path.join(receiver.host_dir, "d", "f")).st_mtime <= time.time() + 1
    rc, out, _err = _scp_session(receiver, "scp -t /var/crash/d/", b"D0755 0 sub\n")
    assert rc == rx.EXIT_DENIED and b"recursive" in out
    assert not os.path.exists(os.path.join(receiver.host_dir, "d", "sub"))


def test_scp_sink_size_limit(receiver):
    os.mkdir(os.path.join(receiver.host_dir, "d"))
    log = os.path.join(os.path.dirname(receiver.root), "receiver.log")
    stdin, stdout, stderr = io.BytesIO(b"C0600 2000000 big\n" + b"x" * 2000000 + b"\0"), io.BytesIO(), io.StringIO()
    rc = rx.main(["--root", receiver.root, "--host", receiver.host, "--log-file", log, "--max-file-mib", "1"],
                 environ={"SSH_ORIGINAL_COMMAND": "scp -t /var/crash/d/"}, stdin=stdin, stdout=stdout, stderr=stderr)
    assert rc == rx.EXIT_DENIED and b"over the limit" in stdout.getvalue()
    assert not os.path.exists(os.path.join(receiver.host_dir, "d", "big"))


def s(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">I", len(data)) + data


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=0x2FF), max_size=80))
def test_any_command_is_planned_or_refused(tmp_path_factory, command):
    root = tmp_path_factory.getbasetemp() / "hypothesis-root"
    (root / "web1").mkdir(parents=True, exist_ok=True)
    receiver = rx.Receiver(str(root), "web1")
    try:
        actions = rx.plan(command, receiver)
    except rx.Denied:
        return
    for action in actions:
        assert action.path == receiver.host_dir or action.path.startswith(receiver.host_dir + "/")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["mkdir", "-p", "dd", "of=", "mv", "cat", ">", "&&", ";", "umask",
                                 "077", "/var/crash", "/var/crash/a", "..", "/", "a", "scp", "-t",
                                 "crashkit-probe", "rmdir", "df", "-P", "'", "$", "|"]),
                max_size=8))
def test_command_shaped_input_is_planned_or_refused(tmp_path_factory, words):
    root = tmp_path_factory.getbasetemp() / "hypothesis-root2"
    (root / "web1").mkdir(parents=True, exist_ok=True)
    receiver = rx.Receiver(str(root), "web1")
    try:
        actions = rx.plan(" ".join(words), receiver)
    except rx.Denied:
        return
    for action in actions:
        assert action.path == receiver.host_dir or action.path.startswith(receiver.host_dir + "/")


# ---------------------------------------------------------------------------------------------
# the SFTP subset, packet by packet


class SftpClient(object):
    def __init__(self, receiver):
        self.receiver = receiver
        self.requests = io.BytesIO()
        self.next_id = 0

    def send(self, kind, payload=b"", with_id=True):
        if with_id:
            self.next_id += 1
            payload = struct.pack(">I", self.next_id) + payload
        self.requests.write(struct.pack(">IB", len(payload) + 1, kind) + payload)
        return self

    def run(self):
        out = io.BytesIO()
        server = rx.SftpSubset(self.receiver, io.BytesIO(self.requests.getvalue()), out)
        assert server.serve() == 0
        data = out.getvalue()
        replies = []
        while data:
            length, kind = struct.unpack(">IB", data[:5])
            replies.append((kind, data[5:4 + length]))
            data = data[4 + length:]
        return replies


def s(text):
    data = text.encode() if isinstance(text, str) else text
    return struct.pack(">I", len(data)) + data


def status(reply):
    kind, body = reply
    assert kind == rx.FXP_STATUS
    return struct.unpack(">I", body[4:8])[0]


def test_sftp_upload_like_openssh_scp(receiver):
    os.mkdir(os.path.join(receiver.host_dir, D_REL))
    client = SftpClient(receiver)
    client.send(rx.FXP_INIT, struct.pack(">I", 3), with_id=False)
    client.send(rx.FXP_STAT, s(D_DIR + "/"))
    client.send(rx.FXP_OPEN, s(D_DIR + "/dmesg") + struct.pack(">II", 0x0a, 0))  # WRITE|CREAT
    client.send(rx.FXP_WRITE, s("h1") + struct.pack(">Q", 0) + s("hello "))
    client.send(rx.FXP_WRITE, s("h1") + struct.pack(">Q", 6) + s("world"))
    client.send(rx.FXP_FSETSTAT, s("h1") + struct.pack(">IQ", rx.ATTR_SIZE, 11))
    client.send(rx.FXP_CLOSE, s("h1"))
    client.send(rx.FXP_REALPATH, s("."))
    replies = client.run()
    assert replies[0] == (rx.FXP_VERSION, struct.pack(">I", 3))
    kind, body = replies[1]
    assert kind == rx.FXP_ATTRS and stat.S_ISDIR(struct.unpack(">IQIII", body[4:28])[4])
    assert replies[2] == (rx.FXP_HANDLE, struct.pack(">I", 2) + s("h1"))
    assert [status(r) for r in replies[3:7]] == [rx.FX_OK] * 4
    assert replies[7][0] == rx.FXP_NAME and s("/var/crash") in replies[7][1]
    path = os.path.join(receiver.host_dir, D_REL, "dmesg")
    with open(path) as handle:
        assert handle.read() == "hello world"
    assert mode(path) == 0o600


@pytest.mark.parametrize("kind,payload,code", [
    (rx.FXP_OPEN, s("/var/crash/x") + struct.pack(">II", 0x01, 0), rx.FX_PERMISSION_DENIED),
    (rx.FXP_OPEN, s("/var/crash/x") + struct.pack(">II", 0x0b, 0), rx.FX_PERMISSION_DENIED),
    (rx.FXP_OPEN, s("/var/crash/x") + struct.pack(">II", 0x0e, 0), rx.FX_PERMISSION_DENIED),
    (rx.FXP_OPEN, s("/etc/passwd") + struct.pack(">II", 0x1a, 0), rx.FX_PERMISSION_DENIED),
    (rx.FXP_OPEN, s("/var/crash/../db1/x") + struct.pack(">II", 0x1a, 0), rx.FX_PERMISSION_DENIED),
    (rx.FXP_STAT, s("/etc"), rx.FX_PERMISSION_DENIED),
    (rx.FXP_STAT, s("/var/crash/nothing"), rx.FX_NO_SUCH_FILE),
    (rx.FXP_MKDIR, s("/var/crash/../db1/x") + struct.pack(">I", 0), rx.FX_PERMISSION_DENIED),
    (rx.FXP_READ, s("h1") + struct.pack(">QI", 0, 100), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_OPENDIR, s("/var/crash"), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_READDIR, s("h1"), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_REMOVE, s("/var/crash/x"), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_RMDIR, s("/var/crash/x"), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_RENAME, s("/var/crash/x") + s("/var/crash/y"), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_SYMLINK, s("/var/crash/x") + s("/etc"), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_READLINK, s("/var/crash/x"), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_SETSTAT, s("/var/crash/x") + struct.pack(">I", 0), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_EXTENDED, s("posix-rename@openssh.com") + s("/a") + s("/b"), rx.FX_OP_UNSUPPORTED),
    (rx.FXP_WRITE, s("nope") + struct.pack(">Q", 0) + s("x"), rx.FX_FAILURE),
    (rx.FXP_CLOSE, s("nope"), rx.FX_FAILURE),
    (rx.FXP_OPEN, s(b"/var/crash/\xff") + struct.pack(">II", 0x1a, 0), rx.FX_BAD_MESSAGE),
])
def test_sftp_refuses_reads_listing_removal_and_other_paths(receiver, kind, payload, code):
    with open(os.path.join(receiver.host_dir, "x"), "w") as handle:
        handle.write("dump")
    with open(os.path.join(receiver.root, "db1", "x"), "w") as handle:
        handle.write("other host")
    replies = SftpClient(receiver).send(kind, payload).run()
    assert len(replies) == 1 and status(replies[0]) == code
    with open(os.path.join(receiver.host_dir, "x")) as handle:
        assert handle.read() == "dump"


@pytest.mark.parametrize("request_kind, payload, accepted", [
    (rx.FXP_WRITE, s("h1") + struct.pack(">Q", (1 << 64) - 2) + s("xyz"), False),
    (rx.FXP_FSETSTAT, s("h1") + struct.pack(">IQ", rx.ATTR_SIZE, (1 << 64) - 1), False),
    (rx.FXP_FSETSTAT, s("h1") + struct.pack(">III", rx.ATTR_ACMODTIME, 0xFFFFFFFF, 0xFFFFFFFF), True),
])
def test_sftp_offsets_sizes_and_times_near_the_limits_are_answered(receiver, request_kind, payload, accepted):
    """Hardening finding 13: offsets near 2^64 raised an uncaught OverflowError; a far-future
    time was kept (retention ages by it)."""
    client = SftpClient(receiver)
    client.send(rx.FXP_OPEN, s("/var/crash/f") + struct.pack(">II", 0x1a, 0))
    client.send(request_kind, payload)
    client.send(rx.FXP_CLOSE, s("h1"))
    replies = client.run()
    assert replies[0][0] == rx.FXP_HANDLE
    code = status(replies[1])
    path = os.path.join(receiver.host_dir, "f")
    if accepted:
        assert code == rx.FX_OK
        assert os.stat(path).st_mtime <= time.time() + 1
    else:
        assert code in (rx.FX_FAILURE, rx.FX_BAD_MESSAGE)
        assert os.path.getsize(path) == 0
    assert status(replies[2]) == rx.FX_OK


def test_sftp_oversized_packet_ends_the_session(receiver):
    server = rx.SftpSubset(receiver, io.BytesIO(struct.pack(">I", 10 << 20) + b"\x03"), io.BytesIO())
    with pytest.raises(rx.Failed):
        server.serve()


def test_sftp_open_handles_are_limited(receiver):
    client = SftpClient(receiver)
    for index in range(rx.SFTP_MAX_HANDLES + 1):
        client.send(rx.FXP_OPEN, s("/var/crash/f%d" % index) + struct.pack(">II", 0x1a, 0))
    replies = client.run()
    assert [r[0] for r in replies[:-1]] == [rx.FXP_HANDLE] * rx.SFTP_MAX_HANDLES
    assert status(replies[-1]) == rx.FX_FAILURE


# ---------------------------------------------------------------------------------------------
# end to end: real OpenSSH clients, the role's authorized_keys, the receiver as forced command


def keygen(path, kind="ed25519"):
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "test", "-f", str(path)],
                   check=True)
    with open(str(path) + ".pub") as handle:
        return handle.read().strip()


def render_authorized_keys(clients, root, python="/usr/bin/python3"):
    return _sshd.render_authorized_keys(clients, root, python)


def test_authorized_keys_template(tmp_path):
    text = render_authorized_keys([
        {"host_id": "web1", "public_key": "ssh-ed25519 AAAAC3Nza web1 key\n", "from": "10.0.0.5"},
        {"host_id": "db1", "public_key": "ssh-rsa AAAAB3Nza", "client_path": "/srv/dumps"},
    ], "/srv/crash")
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        'restrict,from="10.0.0.5",command="/usr/bin/python3 %s --root /srv/crash --queue --host web1 '
        '--client-path /var/crash" ssh-ed25519 AAAAC3Nza web1 key' % RECEIVER_PATH,
        'restrict,command="/usr/bin/python3 %s --root /srv/crash --queue --host db1 '
        '--client-path /srv/dumps" ssh-rsa AAAAB3Nza' % RECEIVER_PATH,
    ]
    (options, key_type, blob), _second = _sshd.parse_authorized_keys(text)
    assert options["restrict"] is True and options["from"] == "10.0.0.5"
    assert (key_type, blob) == ("ssh-ed25519", "AAAAC3Nza")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """The receiver behind an SSH server on 127.0.0.1, and an ssh config pointing at it."""
    import paramiko

    base = tmp_path_factory.mktemp("sshlab")
    root = base / "srv"
    root.mkdir()
    (root / "db1").mkdir()  # the role creates every client's directory
    keygen(base / "hostkey")
    client_pub = keygen(base / "client")
    other_pub = keygen(base / "other")
    text = render_authorized_keys([
        {"host_id": "web1", "public_key": client_pub, "from": "127.0.0.1"},
        {"host_id": "db1", "public_key": other_pub},
    ], str(root))
    log = base / "receiver.log"
    server = _sshd.ForcedCommandServer(
        text, paramiko.Ed25519Key.from_private_key_file(str(base / "hostkey")),
        command_suffix=" --log-file %s" % log)
    with open(str(base / "hostkey.pub")) as handle:
        host_pub = " ".join(handle.read().split()[:2])
    (base / "known_hosts").write_text("[127.0.0.1]:%d %s\n" % (server.port, host_pub))
    (base / "ssh_config").write_text(
        "Host dumpsrv\n  HostName 127.0.0.1\n  Port %d\n  IdentityFile %s\n  IdentitiesOnly yes\n"
        "  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n  StrictHostKeyChecking yes\n"
        "  BatchMode yes\n  LogLevel ERROR\n"
        % (server.port, base / "client", base / "known_hosts"))
    work = base / "work"
    work.mkdir()
    (work / "vmcore").write_bytes(os.urandom(300000))
    (work / "dmesg").write_text("[    0.000000] Linux version 6.1.0\n[  100.1] sysrq: Trigger a crash\n")
    (work / "kexec-dmesg.log").write_text("kdump log\n")
    for name in ("README.txt",):
        (work / name).write_text("dump info\n")
    yield {"base": base, "root": root, "server": server, "work": work, "log": log,
           "key": str(base / "client"), "host": root / "web1"}
    server.stop()


SHELL_PRELUDE = """
ssh() { /usr/bin/ssh -F "$CFG" "$@"; }
scp() { /usr/bin/scp $SCP_MODE -F "$CFG" "$@"; }
"""


def run_family(lab, script, scp_mode="", **env):
    environment = {"PATH": "/usr/bin:/bin", "CFG": str(lab["base"] / "ssh_config"),
                   "SCP_MODE": scp_mode, "KEY": lab["key"], "WORK": str(lab["work"]),
                   "HOME": str(lab["base"])}
    environment.update(env)
    return subprocess.run(["/bin/sh", "-c", SHELL_PRELUDE + script], env=environment,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=120, universal_newlines=True,
                          check=False)


def read_bytes(path):
    with open(str(path), "rb") as handle:
        return handle.read()


# Debian kdump-tools 1.8.1, /usr/sbin/kdump-config, kdump_save_core_to_ssh(): the ssh and scp
# lines are verbatim; makedumpfile and compress are replaced by cat.
DEBIAN = r"""
SSH_KEY=$KEY
SSH_REMOTE_HOST=kdumprecv@dumpsrv
SSH_STAMPDIR="/var/crash/10.0.2.15-$SSH_STAMP"
SSH_CORETEMP="$SSH_STAMPDIR/dump-incomplete"
SSH_COREFILE="$SSH_STAMPDIR/dump.$SSH_STAMP"
SSH_TMPDMESG="$WORK/dmesg"
SSH_DMESGFILE="$SSH_STAMPDIR/dmesg.$SSH_STAMP"
vmcore_file=$WORK/vmcore
ssh -i "$SSH_KEY" "$SSH_REMOTE_HOST" mkdir -p "$SSH_STAMPDIR" || exit 11
scp -i "$SSH_KEY" "$SSH_TMPDMESG" "$SSH_REMOTE_HOST:$SSH_DMESGFILE" || exit 12
cat $vmcore_file | cat | ssh -i $SSH_KEY "$SSH_REMOTE_HOST" dd "of=$SSH_CORETEMP" || exit 13
ssh -i "$SSH_KEY" "$SSH_REMOTE_HOST" mv "$SSH_CORETEMP" "$SSH_COREFILE" || exit 14
SSH_CORETEMP="$SSH_STAMPDIR/vmcore-incomplete"
SSH_COREFILE="$SSH_STAMPDIR/vmcore.$SSH_STAMP"
scp -i "$SSH_KEY" $vmcore_file "$SSH_REMOTE_HOST:$SSH_CORETEMP" || exit 15
ssh -i "$SSH_KEY" "$SSH_REMOTE_HOST" mv "$SSH_CORETEMP" "$SSH_COREFILE" || exit 16
"""


@pytest.mark.parametrize("scp_mode,stamp", [("", "202401011200"), ("-O", "202401011201")],
                         ids=["scp-sftp-protocol", "scp-legacy-protocol"])
def test_debian_kdump_tools_sequence(lab, scp_mode, stamp):
    result = run_family(lab, DEBIAN, scp_mode, SSH_STAMP=stamp)
    assert result.returncode == 0, result.stderr
    directory = lab["host"] / ("10.0.2.15-" + stamp)
    assert sorted(os.listdir(str(directory))) == ["dmesg." + stamp, "dump." + stamp, "vmcore." + stamp]
    vmcore = read_bytes(lab["work"] / "vmcore")
    assert read_bytes(directory / ("dump." + stamp)) == vmcore
    assert read_bytes(directory / ("vmcore." + stamp)) == vmcore
    assert read_bytes(directory / ("dmesg." + stamp)) == read_bytes(lab["work"] / "dmesg")
    assert mode(str(directory)) == 0o700
    assert {mode(str(directory / n)) for n in os.listdir(str(directory))} == {0o600}


# Red Hat kdump-utils 63f248c dracut/99kdumpbase/kdump.sh: dump_ssh(), save_vmcore_dmesg_ssh(),
# save_opalcore_ssh() and save_log(); ssh/scp lines verbatim, collectors replaced by cat.
REDHAT = r"""
KDUMP_PATH=/var/crash
HOST_IP=192.168.122.10
_ssh_opts="-i $KEY -o BatchMode=yes -o StrictHostKeyChecking=yes"
_ssh_dir="$KDUMP_PATH/$HOST_IP-$DATEDIR"
set -- "$KEY" kdumprecv@dumpsrv
_scp_address=$2
ssh -q $_ssh_opts "$2" mkdir -p "$_ssh_dir" || exit 21
if cat "$WORK/dmesg" | ssh $_ssh_opts "$2" "umask 0077 && dd of='$_ssh_dir/vmcore-dmesg-incomplete.txt'"; then
    ssh -q $_ssh_opts "$2" mv "$_ssh_dir/vmcore-dmesg-incomplete.txt" "$_ssh_dir/vmcore-dmesg.txt" || exit 23
else
    exit 22
fi
scp $_ssh_opts "$WORK/dmesg" "$_scp_address:$_ssh_dir/opalcore-incomplete" || exit 24
ssh $_ssh_opts "$2" mv "$_ssh_dir/opalcore-incomplete" "$_ssh_dir/opalcore" || exit 25
cat "$WORK/vmcore" | ssh $_ssh_opts "$2" "umask 0077 && dd bs=512 of='$_ssh_dir/vmcore-incomplete'" || exit 26
ssh $_ssh_opts "$2" "mv '$_ssh_dir/vmcore-incomplete' '$_ssh_dir/vmcore.flat'" || exit 27
KDUMP_LOG_FILE="$WORK/kexec-dmesg.log"
KDUMP_LOG_OP="scp -q $_ssh_opts '$KDUMP_LOG_FILE' '$_scp_address:$_ssh_dir/'"
eval "$KDUMP_LOG_OP" || exit 28
scp -q $_ssh_opts "$WORK/vmcore" "$_scp_address:$_ssh_dir/vmcore-incomplete" || exit 29
"""


@pytest.mark.parametrize("scp_mode,datedir", [("", "2024-01-01-12:00:00"), ("-O", "2024-01-01-12:00:01")],
                         ids=["scp-sftp-protocol", "scp-legacy-protocol"])
def test_redhat_capture_sequence(lab, scp_mode, datedir):
    result = run_family(lab, REDHAT, scp_mode, DATEDIR=datedir)
    assert result.returncode == 0, result.stderr
    directory = lab["host"] / ("192.168.122.10-" + datedir)
    assert sorted(os.listdir(str(directory))) == [
        "kexec-dmesg.log", "opalcore", "vmcore-dmesg.txt", "vmcore-incomplete", "vmcore.flat"]
    assert read_bytes(directory / "vmcore.flat") == read_bytes(lab["work"] / "vmcore")
    assert read_bytes(directory / "vmcore-dmesg.txt") == read_bytes(lab["work"] / "dmesg")
    assert read_bytes(directory / "kexec-dmesg.log") == b"kdump log\n"
    assert {mode(str(directory / n)) for n in os.listdir(str(directory))} == {0o600}


# Red Hat first kernel: kdumpctl check_and_wait_network_ready() and mkdumprd
# mkdir_save_path_ssh() / get_ssh_size() at kdump-utils 63f248c; old get_ssh_size (df -P) before
# d6449e7.
REDHAT_FIRST_KERNEL = r"""
SAVE_PATH=/var/crash
_opt="-i $KEY -o BatchMode=yes -o StrictHostKeyChecking=yes"
ssh -i "$KEY" -o BatchMode=yes kdumprecv@dumpsrv mkdir -p "$SAVE_PATH" || exit 31
ssh -qn $_opt kdumprecv@dumpsrv mkdir -p "$SAVE_PATH" || exit 32
_dir=$(ssh -qn $_opt kdumprecv@dumpsrv mktemp -dqp "$SAVE_PATH" 2> /dev/null) || exit 33
ssh -qn $_opt kdumprecv@dumpsrv rmdir "$_dir" || exit 34
_out=$(ssh -q -n $_opt kdumprecv@dumpsrv "df" "--output=avail" "$SAVE_PATH") || exit 35
echo "avail=$(echo -n "$_out" | tail -1)"
_out=$(ssh -q -n $_opt kdumprecv@dumpsrv "df -P $SAVE_PATH") || exit 36
echo "posix=$(echo "$_out" | tail -1 | awk '{print $4}')"
"""


def test_redhat_first_kernel_checks_end_to_end(lab):
    result = run_family(lab, REDHAT_FIRST_KERNEL)
    assert result.returncode == 0, result.stderr
    values = dict(line.split("=", 1) for line in result.stdout.split())
    assert int(values["avail"]) > 0 and int(values["posix"]) > 0
    assert not [n for n in os.listdir(str(lab["host"])) if n.startswith("tmp.")]


# SUSE kdump 2.x dracut/kdump-save: SAVE_COMMAND for ssh:// (verbatim), evaluated per file.
SUSE2 = r"""
URL="ssh://kdumprecv@dumpsrv"
DIR="/var/crash/web1-2024-01-01-12-00"
SSH_DEBUG=""
SAVE_COMMAND='ssh ${SSH_DEBUG} "${URL}" "umask 077; mkdir -p ${DIR} && cat > ${DIR}/${FILENAME}" < ${SOURCE}'
for FILENAME in README.txt dmesg vmcore; do
    SOURCE="$WORK/$FILENAME"
    eval ${SAVE_COMMAND} || exit 41
done
"""

# SUSE kdump 1.0.2 kdumptool/sshtransfer.cc: the two remote commands it builds.
SUSE1 = r"""
DIR=/var/crash/web1-2024-01-01-12-01
ssh -F "$CFG" -l kdumprecv dumpsrv "mkdir -p $DIR" || exit 51
ssh -F "$CFG" -l kdumprecv dumpsrv "dd of=$DIR/vmcore-incomplete && mv $DIR/vmcore-incomplete $DIR/vmcore" < "$WORK/vmcore" || exit 52
"""


@pytest.mark.parametrize("script,directory", [(SUSE2, "web1-2024-01-01-12-00"),
                                              (SUSE1, "web1-2024-01-01-12-01")],
                         ids=["kdump-2.x", "kdump-1.0.2"])
def test_suse_sequences(lab, script, directory):
    result = run_family(lab, script)
    assert result.returncode == 0, result.stderr
    assert read_bytes(lab["host"] / directory / "vmcore") == read_bytes(lab["work"] / "vmcore")


@pytest.mark.parametrize("remote", [
    "sh -c id", "id", "cat /etc/passwd", "mkdir -p /var/crash/../db1/x", "bash -i",
])
def test_real_ssh_commands_are_refused(lab, remote):
    result = run_family(lab, 'ssh kdumprecv@dumpsrv "$REMOTE"', REMOTE=remote)
    assert result.returncode == rx.EXIT_DENIED
    assert "crashkit-dump-receiver: refused:" in result.stderr
    assert "uid=" not in result.stdout


def test_real_interactive_shell_is_refused(lab):
    result = run_family(lab, "ssh -T kdumprecv@dumpsrv </dev/null")
    assert result.returncode == rx.EXIT_DENIED
    assert "interactive shells are refused" in result.stderr


@pytest.mark.parametrize("scp_mode", ["", "-O"], ids=["scp-sftp-protocol", "scp-legacy-protocol"])
def test_reading_a_dump_back_is_refused(lab, scp_mode):
    directory = lab["host"] / "readback"
    directory.mkdir(exist_ok=True)
    (directory / "vmcore").write_bytes(b"secret dump")
    out = lab["base"] / ("copy" + scp_mode)
    result = run_family(lab, 'scp kdumprecv@dumpsrv:/var/crash/readback/vmcore "$OUT"', scp_mode,
                        OUT=str(out))
    assert result.returncode != 0
    assert not out.exists() or read_bytes(out) != b"secret dump"


def test_sftp_listing_and_get_are_refused(lab):
    batch = lab["base"] / "batch"
    batch.write_text("ls /var/crash\n")
    listing = run_family(lab, 'sftp -F "$CFG" -b "$BATCH" kdumprecv@dumpsrv', BATCH=str(batch))
    batch.write_text("get /var/crash/readback/vmcore %s\n" % (lab["base"] / "got"))
    get = run_family(lab, 'sftp -F "$CFG" -b "$BATCH" kdumprecv@dumpsrv', BATCH=str(batch))
    assert listing.returncode != 0 and get.returncode != 0
    assert not (lab["base"] / "got").exists()


def test_the_other_hosts_directory_is_untouched_and_all_is_logged(lab):
    assert run_family(lab, "ssh kdumprecv@dumpsrv mkdir -p /var/crash/10.0.2.15-log").returncode == 0
    assert run_family(lab, "ssh kdumprecv@dumpsrv sh -c id").returncode == rx.EXIT_DENIED
    assert os.listdir(str(lab["root"] / "db1")) == []
    with open(str(lab["log"])) as handle:
        log = handle.read()
    assert "host=web1 client=127.0.0.1 allow 'mkdir -p /var/crash/10.0.2.15-" in log
    assert "deny 'sh -c id'" in log


# ---------------------------------------------------------------------------------------------
# crashkit-push: the evidence service's one operation


def _push(receiver, command, data, queue=True):
    os.makedirs(os.path.join(receiver.root, rx.QUEUE_DIR), exist_ok=True)
    stdin, stdout, stderr = io.BytesIO(data), io.BytesIO(), io.StringIO()
    log = os.path.join(os.path.dirname(receiver.root), "receiver.log")
    argv = ["--root", receiver.root, "--host", receiver.host, "--log-file", log] + (["--queue"] if queue else [])
    rc = rx.main(argv, environ={"SSH_ORIGINAL_COMMAND": command}, stdin=stdin, stdout=stdout, stderr=stderr)
    return rc, stdout.getvalue().decode(), stderr.getvalue()


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def test_push_stores_a_verified_file_and_queues_the_host(receiver):
    data = b"kernel log of the crash\n" * 100
    rc, out, err = _push(receiver, "crashkit-push 202405181200 dmesg.202405181200 %d %s" % (len(data), _sha(data)), data)
    assert rc == 0, err
    assert out == "crashkit-push ok %s %d\n" % (_sha(data), len(data))
    path = os.path.join(receiver.host_dir, "202405181200", "dmesg.202405181200")
    with open(path, "rb") as handle:
        assert handle.read() == data
    assert mode(path) == 0o600
    assert os.listdir(os.path.join(receiver.host_dir, "202405181200")) == ["dmesg.202405181200"]
    assert os.path.isfile(os.path.join(receiver.root, rx.QUEUE_DIR, receiver.host))
    # the same push again (a retry after a lost answer) gives the same result
    rc, out, _err = _push(receiver, "crashkit-push 202405181200 dmesg.202405181200 %d %s" % (len(data), _sha(data)), data)
    assert rc == 0 and out.startswith("crashkit-push ok")


@pytest.mark.parametrize("label, sent, announced_size, announced_sha", [
    ("wrong digest", b"abc", 3, "0" * 64),
    ("short", b"ab", 3, None),
    ("long", b"abcd", 3, None),
])
def test_push_of_wrong_content_leaves_nothing(receiver, label, sent, announced_size, announced_sha):
    digest = announced_sha or _sha(b"abc")
    rc, _out, err = _push(receiver, "crashkit-push c1 f %d %s" % (announced_size, digest), sent)
    assert rc == rx.EXIT_FAILED, (label, err)
    assert os.listdir(os.path.join(receiver.host_dir, "c1")) == []


@pytest.mark.parametrize("command, message", [
    ("crashkit-push c1 f 3", "takes CRASH NAME SIZE SHA256"),
    ("crashkit-push ../other f 3 " + "0" * 64, "refused"),
    ("crashkit-push c1 ../../etc/x 3 " + "0" * 64, "refused"),
    ("crashkit-push c1 .hidden 3 " + "0" * 64, "refused"),
    ("crashkit-push c1 'a b' 3 " + "0" * 64, "refused"),
    ("crashkit-push c1 f -3 " + "0" * 64, "not a number"),
    ("crashkit-push c1 f 3 " + "A" * 64, "SHA-256"),
    ("crashkit-push c1 f 99999999999999999999 " + "0" * 64, "not a number"),
    ("crashkit-push c1 f 3 " + "0" * 64 + " && id", "takes CRASH NAME"),
    ("mkdir -p /var/crash/x && crashkit-push c1 f 3 " + "0" * 64, "cannot be combined"),
])
def test_push_refusals(receiver, command, message):
    rc, _out, err = _push(receiver, command, b"abc")
    assert rc == rx.EXIT_DENIED, err
    assert message in err
    assert not os.path.exists(os.path.join(receiver.host_dir, "c1"))


def test_push_size_limit_and_no_directory_replaced(receiver):
    os.makedirs(os.path.join(receiver.root, rx.QUEUE_DIR), exist_ok=True)
    stdin, stdout, stderr = io.BytesIO(b"x" * 10), io.BytesIO(), io.StringIO()
    rc = rx.main(["--root", receiver.root, "--host", receiver.host, "--max-file-mib", "1"],
                 environ={"SSH_ORIGINAL_COMMAND": "crashkit-push c1 f 2000000 " + "0" * 64},
                 stdin=stdin, stdout=stdout, stderr=stderr)
    assert rc == rx.EXIT_DENIED and "over the limit" in stderr.getvalue()
    os.makedirs(os.path.join(receiver.host_dir, "c2", "dmesg"))
    rc, _out, err = _push(receiver, "crashkit-push c2 dmesg 3 %s" % _sha(b"abc"), b"abc")
    assert rc == rx.EXIT_FAILED and "not a regular file" in err
    assert os.path.isdir(os.path.join(receiver.host_dir, "c2", "dmesg"))
    assert [n for n in os.listdir(os.path.join(receiver.host_dir, "c2")) if n.startswith(".push-")] == []


def test_capture_sessions_queue_the_host_too(receiver):
    os.makedirs(os.path.join(receiver.root, rx.QUEUE_DIR))
    rc, _out, _err = _push(receiver, "mkdir -p /var/crash/10.0.0.5-202405181200", b"")
    assert rc == 0
    assert os.path.isfile(os.path.join(receiver.root, rx.QUEUE_DIR, receiver.host))
    os.unlink(os.path.join(receiver.root, rx.QUEUE_DIR, receiver.host))
    rc, _out, _err = _push(receiver, "df -P /var/crash", b"")
    assert rc == 0
    assert os.listdir(os.path.join(receiver.root, rx.QUEUE_DIR)) == []
