# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""service_files: its planning (tables), and main() against temporary directories; systemctl is
replaced by a recorder (the real one runs in the Molecule VMs)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils import _servicefiles as sf
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError
from ansible_collections.crashkit.kdump.plugins.modules import service_files as module
from ansible_collections.crashkit.kdump.tests.unit.plugins import module_run

SHOW_NEW = "ActiveState=inactive\nUnitFileState=\n\nActiveState=inactive\nUnitFileState=\n"
SHOW_UP = "ActiveState=active\nUnitFileState=enabled\n\nActiveState=active\nUnitFileState=enabled\n"


class Systemctl(object):
    """Records the systemctl calls and answers ``show`` with ``self.show``."""

    def __init__(self, show):
        self.show = show
        self.calls = []

    def __call__(self, args, **_kwargs):
        assert args[0] == "systemctl"
        self.calls.append(args[1:])
        return 0, (self.show if args[1] == "show" else ""), ""


def run_module(capsys, monkeypatch, args, systemctl, check_mode=False):
    monkeypatch.setattr("ansible.module_utils.basic.AnsibleModule.run_command",
                        lambda self, argv, **kw: systemctl(argv, **kw))
    return module_run.run_module(module, capsys, args, check_mode=check_mode)


def spec(tmp_path, content="one\n", mode="0755"):
    lib = str(tmp_path / "lib" / "app")
    unitdir = str(tmp_path / "units")
    return {
        "directories": [{"path": lib, "mode": "0750"}, {"path": unitdir}],
        "files": [
            {"path": lib + "/prog", "content": content, "mode": mode},
            {"path": unitdir + "/app.timer", "content": "[Timer]\n", "group": "nogroup", "mode": "0640"},
        ],
        "units": ["app.timer", "app.path"],
    }


def test_installs_everything_once_then_reports_no_change(tmp_path, capsys, monkeypatch):
    args = spec(tmp_path)
    systemctl = Systemctl(SHOW_NEW)
    first = run_module(capsys, monkeypatch, args, systemctl)
    assert first["changed"] and first["rc"] == 0
    prog = tmp_path / "lib" / "app" / "prog"
    assert prog.read_text() == "one\n"
    assert stat.S_IMODE(os.stat(str(prog)).st_mode) == 0o755
    assert stat.S_IMODE(os.stat(str(tmp_path / "lib" / "app")).st_mode) == 0o750
    timer = os.stat(str(tmp_path / "units" / "app.timer"))
    assert stat.S_IMODE(timer.st_mode) == 0o640 and timer.st_gid == __import__("grp").getgrnam("nogroup").gr_gid
    assert ["enable", "--", "app.timer", "app.path"] in systemctl.calls
    assert ["start", "--", "app.timer", "app.path"] in systemctl.calls
    assert not [name for name in os.listdir(str(tmp_path / "lib" / "app")) if name.startswith(".")]

    again = Systemctl(SHOW_UP)
    second = run_module(capsys, monkeypatch, args, again)
    assert not second["changed"], second
    assert second["files"] == [] and second["directories"] == []
    assert [call[0] for call in again.calls] == ["show"]


def test_check_mode_writes_nothing_and_touches_no_unit(tmp_path, capsys, monkeypatch):
    args = spec(tmp_path)
    args["files"][0]["owner"] = "crashkit-no-such-user"
    systemctl = Systemctl(SHOW_NEW)
    result = run_module(capsys, monkeypatch, args, systemctl, check_mode=True)
    assert result["changed"] and result["rc"] == 0
    assert not os.path.exists(str(tmp_path / "lib"))
    assert [call[0] for call in systemctl.calls] == ["show"]
    assert result["units"]["start"] == ["app.timer", "app.path"]


def test_unknown_owner_fails_when_not_in_check_mode(tmp_path, capsys, monkeypatch):
    args = spec(tmp_path)
    args["files"][0]["owner"] = "crashkit-no-such-user"
    result = run_module(capsys, monkeypatch, args, Systemctl(SHOW_NEW))
    assert result.get("failed") and "crashkit-no-such-user" in result["msg"]


def test_content_and_mode_changes_restart_a_running_unit_after_reload(tmp_path, capsys, monkeypatch):
    args = spec(tmp_path)
    run_module(capsys, monkeypatch, args, Systemctl(SHOW_NEW))
    args["files"][1]["content"] = "[Timer]\nOnBootSec=1s\n"
    args["files"][0]["mode"] = "0700"
    systemctl = Systemctl(SHOW_UP)
    result = run_module(capsys, monkeypatch, args, systemctl)
    assert result["changed"] and result["daemon_reload"] is False  # tmp units dir is not a systemd one
    assert stat.S_IMODE(os.stat(args["files"][0]["path"]).st_mode) == 0o700
    assert (tmp_path / "units" / "app.timer").read_text().endswith("OnBootSec=1s\n")


def test_a_link_at_a_path_is_replaced_never_followed(tmp_path, capsys, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("secret\n")
    os.chmod(str(victim), 0o600)
    args = spec(tmp_path)
    run_module(capsys, monkeypatch, args, Systemctl(SHOW_NEW))
    prog = args["files"][0]["path"]
    os.unlink(prog)
    os.symlink(str(victim), prog)
    result = run_module(capsys, monkeypatch, args, Systemctl(SHOW_UP))
    assert result["changed"] and prog in result["files"]
    assert not os.path.islink(prog) and open(prog).read() == "one\n"
    assert victim.read_text() == "secret\n" and stat.S_IMODE(os.stat(str(victim)).st_mode) == 0o600


def test_a_directory_in_the_way_fails_and_changes_nothing(tmp_path, capsys, monkeypatch):
    args = spec(tmp_path)
    os.makedirs(args["files"][0]["path"])
    result = run_module(capsys, monkeypatch, args, Systemctl(SHOW_NEW))
    assert result.get("failed") and "is a directory" in result["msg"]
    assert not os.path.exists(args["files"][1]["path"])


@pytest.mark.parametrize("directories, files, units, message", [
    ([{"path": "relative"}], [], [], "absolute path"),
    ([{"path": "/a/../etc"}], [], [], "no '..'"),
    ([], [{"path": "/x", "content": "a", "mode": "755x"}], [], "octal"),
    ([], [{"path": "/x", "content": "a", "owner": "a b"}], [], "not a user"),
    ([], [{"path": "/x", "content": "a"}, {"path": "/x", "content": "b"}], [], "twice"),
    ([], [], ["x;reboot.service"], "systemd unit name"),
    ([], [], ["-Hroot.timer"], "systemd unit name"),
])
def test_bad_input_is_refused(directories, files, units, message):
    with pytest.raises(KdumpError, match=message):
        sf.check_spec(directories, files, units)


@pytest.mark.parametrize("show, changed, expect", [
    (SHOW_NEW, [], {"enable": ["a.timer", "b.path"], "start": ["a.timer", "b.path"], "restart": []}),
    (SHOW_UP, [], {"enable": [], "start": [], "restart": []}),
    (SHOW_UP, ["b.path"], {"enable": [], "start": [], "restart": ["b.path"]}),
    ("ActiveState=active\nUnitFileState=static\n\nActiveState=failed\nUnitFileState=disabled\n", [],
     {"enable": ["b.path"], "start": ["b.path"], "restart": []}),
    ("", [], {"enable": ["a.timer", "b.path"], "start": ["a.timer", "b.path"], "restart": []}),
    ("ActiveState=active\nUnitFileState=enabled\n", [],  # one block for two units: trust none
     {"enable": ["a.timer", "b.path"], "start": ["a.timer", "b.path"], "restart": []}),
])
def test_systemctl_plan(show, changed, expect):
    assert sf.systemctl_plan(["a.timer", "b.path"], show, changed) == expect


def test_unit_files_under_systemd_directories_ask_for_a_reload(tmp_path):
    _dirs, files, _units = sf.check_spec([], [
        {"path": "/etc/systemd/system/a.timer", "content": "x"},
        {"path": str(tmp_path / "b.timer"), "content": "y"},
    ], [])
    planned = {"directories": [], "files": [(entry, "create") for entry in files]}
    assert sf.unit_files_changed(planned) == ["a.timer"]


def test_absent_paths_are_removed_once_links_themselves_check_mode_keeps_them(tmp_path, capsys, monkeypatch):
    victim = tmp_path / "victim"
    victim.write_text("secret\n")
    hook, script = tmp_path / "hook", tmp_path / "script"
    hook.write_text("#!/bin/sh\n")
    os.symlink(str(victim), str(script))
    args = {"absent": [str(hook), str(script), str(tmp_path / "never-there")]}
    dry = run_module(capsys, monkeypatch, args, Systemctl(SHOW_UP), check_mode=True)
    assert dry["changed"] and dry["removed"] == [str(hook), str(script)]
    assert hook.exists() and os.path.islink(str(script))
    assert dry["diff"][0]["before"] == "#!/bin/sh\n" and dry["diff"][0]["after"] == ""

    result = run_module(capsys, monkeypatch, args, Systemctl(SHOW_UP))
    assert result["changed"] and result["removed"] == [str(hook), str(script)]
    assert not os.path.lexists(str(hook)) and not os.path.lexists(str(script))
    assert victim.read_text() == "secret\n"
    again = run_module(capsys, monkeypatch, args, Systemctl(SHOW_UP))
    assert not again["changed"] and again["removed"] == []


def test_an_absent_directory_or_a_file_also_installed_is_refused(tmp_path, capsys, monkeypatch):
    (tmp_path / "dir").mkdir()
    result = run_module(capsys, monkeypatch, {"absent": [str(tmp_path / "dir")]}, Systemctl(SHOW_UP))
    assert result.get("failed") and "is a directory" in result["msg"] and (tmp_path / "dir").is_dir()
    path = str(tmp_path / "x")
    with pytest.raises(KdumpError, match="both a file to install and a path to remove"):
        sf.check_absent([path], [{"path": path}])
    with pytest.raises(KdumpError, match="absolute path"):
        sf.check_absent(["relative"], [])


def test_a_removed_unit_file_asks_for_a_reload():
    planned = {"directories": [], "files": [], "removed": ["/etc/systemd/system/a.mount", "/etc/b"]}
    assert sf.unit_files_changed(planned) == ["a.mount"]


def test_directories_left_empty_are_removed_others_stay(tmp_path, capsys, monkeypatch):
    """Switching the lean capture off: its script's directory and the drop-in directory go when
    the removals leave them empty; a directory something else still uses stays, and so does a
    link where a directory was expected (not followed, not removed)."""
    share, dropins, state = tmp_path / "share", tmp_path / "dropins", tmp_path / "state"
    for directory in (share, dropins, state):
        directory.mkdir()
    (share / "script").write_text("#!/bin/sh\n")
    (share / "sub").mkdir()
    (dropins / "note.conf").write_text("[Service]\n")
    (state / "note").write_text("saved_by=kdump-tools\n")
    (state / "dumpdev").mkdir()  # another part's mount point: the directory stays
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.symlink(str(elsewhere), str(tmp_path / "linked"))
    args = {"absent": [str(share / "script"), str(dropins / "note.conf"), str(state / "note")],
            "absent_if_empty": [str(share / "sub"), str(share), str(dropins), str(state), str(tmp_path / "linked"),
                                str(tmp_path / "never-there")]}
    dry = run_module(capsys, monkeypatch, args, Systemctl(SHOW_UP), check_mode=True)
    assert dry["changed"] and dry["removed_dirs"] == [str(share / "sub"), str(share), str(dropins)]
    assert share.is_dir() and (share / "sub").is_dir() and (dropins / "note.conf").exists()

    result = run_module(capsys, monkeypatch, args, Systemctl(SHOW_UP))
    assert result["removed_dirs"] == [str(share / "sub"), str(share), str(dropins)]
    assert not share.exists() and not dropins.exists()
    assert sorted(os.listdir(str(state))) == ["dumpdev"] and os.path.islink(str(tmp_path / "linked"))
    assert elsewhere.is_dir()
    again = run_module(capsys, monkeypatch, args, Systemctl(SHOW_UP))
    assert not again["changed"] and again["removed_dirs"] == []


def test_a_directory_filled_after_the_plan_stays(tmp_path):
    directory = tmp_path / "d"
    directory.mkdir()
    planned = {"directories": [], "files": [], "removed": [], "removed_dirs": [str(directory)]}
    assert sf.plan_empty_dirs([str(directory)], []) == [str(directory)]
    (directory / "new").write_text("x")
    sf.apply(planned, lambda owner, group: (0, 0))
    assert (directory / "new").exists()
