"""apply_file: check mode, modes of new and existing files, verification failures."""
import os
import stat

import pytest

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ValidationError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import apply_file


class FakeModule:
    """The two AnsibleModule methods apply_file uses, with atomic_move's real mode rule."""

    def __init__(self, check_mode=False):
        self.check_mode = check_mode

    def atomic_move(self, src, dest):
        existed = os.path.exists(dest)
        os.rename(src, dest)
        if not existed:
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(dest, 0o666 & ~umask)

    def backup_local(self, path):
        backup = path + ".bak"
        with open(path) as src, open(backup, "w") as dst:
            dst.write(src.read())
        return backup


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mode, expected", [(0o600, 0o600), (0o640, 0o640), (None, 0o644)])
def test_new_file_gets_the_requested_mode(tmp_path, mode, expected):
    target = tmp_path / "conf"
    changed, diff, backup = apply_file(FakeModule(), str(target), "A=1\n", mode=mode)
    assert changed and backup is None
    assert target.read_text() == "A=1\n"
    assert _mode(str(target)) == expected
    assert diff["before"] == "" and diff["after"] == "A=1\n"


def test_existing_file_keeps_its_mode_and_second_run_is_unchanged(tmp_path):
    target = tmp_path / "conf"
    target.write_text("A=0\n")
    os.chmod(str(target), 0o600)
    assert apply_file(FakeModule(), str(target), "A=1\n", mode=0o644)[0]
    assert _mode(str(target)) == 0o600
    assert apply_file(FakeModule(), str(target), "A=1\n")[0] is False


def test_check_mode_changes_nothing(tmp_path):
    target = tmp_path / "conf"
    target.write_text("A=0\n")
    changed, diff, _backup = apply_file(FakeModule(check_mode=True), str(target), "A=1\n")
    assert changed and diff["after"] == "A=1\n"
    assert target.read_text() == "A=0\n"
    assert sorted(os.listdir(str(tmp_path))) == ["conf"]


def test_failed_verification_leaves_the_file_and_no_temporary(tmp_path):
    target = tmp_path / "conf"
    target.write_text("A=0\n")

    def refuse(tmp):
        assert open(tmp).read() == "A=1\n"
        raise ValidationError("no")

    with pytest.raises(KdumpError):
        apply_file(FakeModule(), str(target), "A=1\n", verify=refuse)
    assert target.read_text() == "A=0\n"
    assert sorted(os.listdir(str(tmp_path))) == ["conf"]


def test_backup_of_the_previous_content(tmp_path):
    target = tmp_path / "conf"
    target.write_text("A=0\n")
    backup = apply_file(FakeModule(), str(target), "A=1\n", backup=True)[2]
    assert open(backup).read() == "A=0\n"
    assert target.read_text() == "A=1\n"


def test_missing_directory_is_a_domain_error(tmp_path):
    with pytest.raises(KdumpError, match="does not exist"):
        apply_file(FakeModule(), str(tmp_path / "nope" / "conf"), "A=1\n")
