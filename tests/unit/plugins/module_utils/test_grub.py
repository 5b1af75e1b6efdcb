# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import os
import shutil

import pytest
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _cmdline
from ansible_collections.crashkit.kdump.plugins.module_utils import _grub
from ansible_collections.crashkit.kdump.plugins.module_utils import _shell
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import (
    HostError,
    KdumpError,
    ParseError,
    ValidationError,
)

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "fixtures", "bootloader")
HAS_SH = os.path.exists("/bin/sh")
L, D = _grub.LINUX, _grub.LINUX_DEFAULT


def layout(tmp_path, name):
    """Copy a fixture layout to ``tmp_path`` and return (defaults path, drop-in dir)."""
    target = tmp_path / name
    shutil.copytree(os.path.join(FIXTURES, name), str(target))
    return str(target / "grub"), str(target / "grub.d")


def write_layout(tmp_path, main, dropins=None):
    (tmp_path / "grub.d").mkdir(exist_ok=True)
    (tmp_path / "grub").write_text(main)
    for file_name, text in (dropins or {}).items():
        (tmp_path / "grub.d" / file_name).write_text(text)
    return str(tmp_path / "grub"), str(tmp_path / "grub.d")


def apply(plan):
    for path, text in plan.changes.items():
        with open(path, "w") as handle:
            handle.write(text)


def files_of(defaults, dropin_dir):
    return [defaults] + _grub.dropin_paths(dropin_dir)


def run(defaults, dropin_dir, name, value, state, variable):
    """Plan, write, check with lexer and real shell, re-plan (idempotence)."""
    plan = _grub.plan(_grub.load(defaults, dropin_dir), name, value, state, variable)
    apply(plan)
    _grub.verify_chain(files_of(defaults, dropin_dir), plan.after)
    again = _grub.plan(_grub.load(defaults, dropin_dir), name, value, state, variable)
    assert not again.changed, again.changes
    return plan


# --------------------------------------------------------------------------- fixtures ------
RHEL10_REST = "resume=UUID=8c2f5d4e-5b1a-4f0e-9c53-7a3b2e1d0f9a rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet"
RHEL10_L = "crashkernel=2G-64G:256M,64G-:512M " + RHEL10_REST
SLES15_REST = ("splash=silent resume=/dev/disk/by-uuid/0b0a5d2e-7c1e-4c8b-9f3d-2a6e1f4c8d90 mitigations=auto quiet "
               "security=apparmor")
SLES15_D = SLES15_REST + " crashkernel=242M,high crashkernel=72M,low"


@pytest.mark.parametrize("fixture, values", [
    ("debian12", {L: "", D: "quiet crashkernel=384M-:128M"}),
    ("debian13", {L: "", D: "quiet"}),
    ("ubuntu2404", {L: "", D: "console=tty1 console=ttyS0 crashkernel=2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M"}),
    ("rhel8", {L: "crashkernel=auto resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet", D: ""}),
    ("rhel9", {L: "crashkernel=1G-4G:192M,4G-64G:256M,64G-:512M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet", D: ""}),
    ("ubuntu2204", {L: "", D: "console=tty1 console=ttyS0 crashkernel=512M-:192M"}),
    ("rhel10", {L: RHEL10_L, D: ""}),
    ("sles15", {L: "", D: SLES15_D}),
])
def test_fixture_values(fixture, values):
    defaults = os.path.join(FIXTURES, fixture, "grub")
    dropins = os.path.join(FIXTURES, fixture, "grub.d")
    assert _grub.load(defaults, dropins).values() == values


@pytest.mark.skipif(not HAS_SH, reason="no /bin/sh")
@pytest.mark.parametrize("fixture", ["debian12", "ubuntu2404", "rhel9", "ubuntu2204", "rhel10", "sles15"])
def test_fixture_values_match_real_shell(fixture):
    defaults = os.path.join(FIXTURES, fixture, "grub")
    paths = files_of(defaults, os.path.join(FIXTURES, fixture, "grub.d"))
    assert _grub.shell_values(paths) == _grub.GrubConfig.from_texts(
        [(p, _grub.read_file(p)) for p in paths]).values()


# fixture, name, value, state, variable, expected values after, files changed (relative)
FIXTURE_EDITS = [
    # Debian's kdump-tools drop-in holds the value: it is edited in its own assignment.
    ("debian12", "crashkernel", "256M", "present", D, {L: "", D: "quiet crashkernel=256M"}, ["grub.d/kdump-tools.cfg"]),
    ("debian12", "crashkernel", "384M-:128M", "present", D, {L: "", D: "quiet crashkernel=384M-:128M"}, []),
    ("debian12", "crashkernel", None, "absent", D, {L: "", D: "quiet"}, ["grub.d/kdump-tools.cfg"]),
    # Moving it to GRUB_CMDLINE_LINUX removes the drop-in's occurrence.
    ("debian12", "crashkernel", "1G", "present", L, {L: "crashkernel=1G", D: "quiet"}, ["grub", "grub.d/kdump-tools.cfg"]),
    ("debian12", "nmi_watchdog", "1", "present", D, {L: "", D: "quiet nmi_watchdog=1 crashkernel=384M-:128M"}, ["grub"]),
    # The separating space belongs to the drop-in, which is not touched.
    ("debian12", "quiet", None, "absent", D, {L: "", D: " crashkernel=384M-:128M"}, ["grub"]),
    ("debian13", "crashkernel", "512M", "present", D, {L: "", D: "quiet crashkernel=512M"}, ["grub"]),
    ("debian13", "crashkernel", None, "absent", D, {L: "", D: "quiet"}, []),
    # Ubuntu cloud image: 50-cloudimg-settings.cfg overrides GRUB_CMDLINE_LINUX_DEFAULT, so an
    # argument appended to /etc/default/grub would be lost: it goes to the drop-in instead.
    ("ubuntu2404", "nomodeset", None, "present", D,
     {L: "", D: "console=tty1 console=ttyS0 nomodeset crashkernel=2G-4G:320M,4G-32G:512M,32G-64G:1024M,64G-128G:2048M,128G-:4096M"},
     ["grub.d/50-cloudimg-settings.cfg"]),
    ("ubuntu2404", "crashkernel", None, "absent", D, {L: "", D: "console=tty1 console=ttyS0"}, ["grub.d/kdump-tools.cfg"]),
    ("rhel8", "crashkernel", "256M", "present", L,
     {L: "crashkernel=256M resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet", D: ""}, ["grub"]),
    ("rhel9", "crashkernel", None, "absent", L,
     {L: "resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet", D: ""}, ["grub"]),
    ("rhel9", "crashkernel", "2G", "present", D,
     {L: "resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet", D: "crashkernel=2G"}, ["grub"]),
    # Ubuntu 22.04 cloud image: kdump-tools' 512M-:192M drop-in, and a drop-in that is not about
    # the command line at all (40-force-partuuid.cfg) stays untouched.
    ("ubuntu2204", "crashkernel", "1G-:256M", "present", D,
     {L: "", D: "console=tty1 console=ttyS0 crashkernel=1G-:256M"}, ["grub.d/kdump-tools.cfg"]),
    ("ubuntu2204", "crashkernel", None, "absent", D, {L: "", D: "console=tty1 console=ttyS0"}, ["grub.d/kdump-tools.cfg"]),
    ("rhel10", "crashkernel", "2G-64G:256M,64G-:512M", "present", L, {L: RHEL10_L, D: ""}, []),
    ("rhel10", "crashkernel", "1G-4G:192M,4G-:320M", "present", L,
     {L: "crashkernel=1G-4G:192M,4G-:320M " + RHEL10_REST, D: ""}, ["grub"]),
    # SLES 15: yast2-kdump's pair crashkernel=N,high crashkernel=M,low is one setting; a new value
    # replaces both words, removing it removes both.
    ("sles15", "crashkernel", "256M", "present", D, {L: "", D: SLES15_REST + " crashkernel=256M"}, ["grub"]),
    ("sles15", "crashkernel", None, "absent", D, {L: "", D: SLES15_REST}, ["grub"]),
]


@pytest.mark.parametrize("fixture, name, value, state, variable, after, changed", FIXTURE_EDITS)
def test_fixture_edits(tmp_path, fixture, name, value, state, variable, after, changed):
    defaults, dropins = layout(tmp_path, fixture)
    root = os.path.dirname(defaults)
    originals = dict((p, _grub.read_file(p)) for p in files_of(defaults, dropins))
    plan = run(defaults, dropins, name, value, state, variable)
    assert plan.after == after
    assert sorted(os.path.relpath(p, root) for p in plan.changes) == sorted(changed)
    # Comments and unrelated lines are untouched: only lines holding the variables change.
    for path, before in originals.items():
        now = _grub.read_file(path)
        touched = [line[2:] for line in difflib.ndiff(before.splitlines(), now.splitlines())
                   if line.startswith(("- ", "+ "))]
        assert all(line.startswith("GRUB_CMDLINE_LINUX") for line in touched), touched


def test_debian_dropin_edit_keeps_the_rest_of_the_assignment(tmp_path):
    defaults, dropins = layout(tmp_path, "debian12")
    run(defaults, dropins, "crashkernel", None, "absent", D)
    assert _grub.read_file(os.path.join(dropins, "kdump-tools.cfg")) == (
        'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT"\n'
    )


def test_debian_value_in_main_and_dropin_keeps_one(tmp_path):
    """The operator's own crashkernel in /etc/default/grub plus the drop-in's: the cheapest
    plan keeps the one that already has the value."""
    main = _grub.read_file(os.path.join(FIXTURES, "debian12", "grub")).replace(
        'GRUB_CMDLINE_LINUX_DEFAULT="quiet"', 'GRUB_CMDLINE_LINUX_DEFAULT="quiet crashkernel=256M"')
    defaults, dropins = write_layout(tmp_path, main, {
        "kdump-tools.cfg": _grub.read_file(os.path.join(FIXTURES, "debian12", "grub.d", "kdump-tools.cfg"))})
    assert _grub.load(defaults, dropins).values()[D] == "quiet crashkernel=256M crashkernel=384M-:128M"
    plan = run(defaults, dropins, "crashkernel", "256M", "present", D)
    assert plan.after[D] == "quiet crashkernel=256M"
    assert list(plan.changes) == [os.path.join(dropins, "kdump-tools.cfg")]


# ------------------------------------------------------------------- quoting variants ------
QUOTING = [
    # main file text, name, value, state, expected GRUB_CMDLINE_LINUX, expected text
    ("GRUB_CMDLINE_LINUX='ro quiet'\n", "crashkernel", "1G", "present", "ro quiet crashkernel=1G",
     "GRUB_CMDLINE_LINUX='ro quiet crashkernel=1G'\n"),
    ("GRUB_CMDLINE_LINUX='ro crashkernel=2G quiet'\n", "crashkernel", "1G", "present", "ro crashkernel=1G quiet",
     "GRUB_CMDLINE_LINUX='ro crashkernel=1G quiet'\n"),
    ('GRUB_CMDLINE_LINUX="ro \\"x\\" crashkernel=2G \\$y"\n', "crashkernel", None, "absent", 'ro "x" $y',
     'GRUB_CMDLINE_LINUX="ro \\"x\\" \\$y"\n'),
    ('GRUB_CMDLINE_LINUX="ro"\n', "foo", "a b", "present", 'ro foo="a b"',
     'GRUB_CMDLINE_LINUX="ro foo=\\"a b\\""\n'),
    ("GRUB_CMDLINE_LINUX=ro\n", "crashkernel", "1G", "present", "ro crashkernel=1G",
     'GRUB_CMDLINE_LINUX="ro crashkernel=1G"\n'),
    ("GRUB_CMDLINE_LINUX=crashkernel=1G\n", "crashkernel", None, "absent", "", "GRUB_CMDLINE_LINUX=\n"),
    ("GRUB_CMDLINE_LINUX=\n", "crashkernel", "1G", "present", "crashkernel=1G", 'GRUB_CMDLINE_LINUX="crashkernel=1G"\n'),
    ("GRUB_CMDLINE_LINUX=ro\\ crashkernel=1G\\ quiet\n", "crashkernel", None, "absent", "ro quiet",
     "GRUB_CMDLINE_LINUX=ro\\ quiet\n"),
    ('GRUB_CMDLINE_LINUX="ro \\\n  crashkernel=1G \\\n  quiet"\n', "crashkernel", "2G", "present", "ro   crashkernel=2G   quiet",
     'GRUB_CMDLINE_LINUX="ro \\\n  crashkernel=2G \\\n  quiet"\n'),
    ('EXTRA="crashkernel=1G"\nGRUB_CMDLINE_LINUX="ro $EXTRA quiet"\n', "crashkernel", None, "absent", "ro  quiet",
     'EXTRA=""\nGRUB_CMDLINE_LINUX="ro $EXTRA quiet"\n'),
    ('GRUB_CMDLINE_LINUX="ro"\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=1G"\n', "crashkernel", "2G", "present",
     "ro crashkernel=2G", 'GRUB_CMDLINE_LINUX="ro"\nGRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX crashkernel=2G"\n'),
    ('GRUB_CMDLINE_LINUX="ro"\'crashkernel=1G\'" quiet"\n', "crashkernel", None, "absent", "rocrashkernel=1G quiet", None),
    ('# no assignment at all\nGRUB_TIMEOUT=5', "crashkernel", "1G", "present", "crashkernel=1G",
     '# no assignment at all\nGRUB_TIMEOUT=5\nGRUB_CMDLINE_LINUX="crashkernel=1G"\n'),
    # names compare with - and _ folded together, as the kernel does
    ('export GRUB_CMDLINE_LINUX="ro x-y=1G"\n', "x_y", "1G", "present", "ro x-y=1G", 'export GRUB_CMDLINE_LINUX="ro x-y=1G"\n'),
]


@pytest.mark.parametrize("text, name, value, state, linux, new_text", QUOTING)
def test_quoting_variants(tmp_path, text, name, value, state, linux, new_text):
    defaults, dropins = write_layout(tmp_path, text)
    plan = run(defaults, dropins, name, value, state, L)
    assert plan.after[L] == linux
    if new_text is not None:
        assert _grub.read_file(defaults) == new_text


# ------------------------------------------------------------------------- refusals --------
@pytest.mark.parametrize("text, message", [
    ('GRUB_CMDLINE_LINUX="$(cat /etc/cmdline)"\n', "grub:1: GRUB_CMDLINE_LINUX depends on command substitution"),
    ('X=`hostname`\nGRUB_CMDLINE_LINUX="ro $X"\n', "grub:1: GRUB_CMDLINE_LINUX depends on command substitution"),
    ('GRUB_CMDLINE_LINUX="ro $HOME"\n', "$HOME"),
    ('if [ -e /x ]; then\nGRUB_CMDLINE_LINUX="ro"\nfi\n', "grub:1: unsupported shell command"),
    ('GRUB_CMDLINE_LINUX="ro\n', "unterminated double quote"),
])
def test_unevaluable_files_are_refused(tmp_path, text, message):
    defaults, dropins = write_layout(tmp_path, text)
    with pytest.raises(ParseError) as err:
        _grub.plan(_grub.load(defaults, dropins), "crashkernel", "1G", "present", L)
    assert message in str(err.value)


def test_value_shared_by_both_variables_is_not_edited_blindly(tmp_path):
    text = 'X="crashkernel=1G"\nGRUB_CMDLINE_LINUX="$X"\nGRUB_CMDLINE_LINUX_DEFAULT="quiet $X"\n'
    defaults, dropins = write_layout(tmp_path, text)
    plan = run(defaults, dropins, "crashkernel", None, "absent", L)
    assert plan.after == {L: "", D: "quiet "}
    # present with the occurrence duplicated through one source: no candidate gives exactly one
    # crashkernel without touching other arguments, except appending after removing both.
    write_layout(tmp_path, text)
    plan = run(defaults, dropins, "crashkernel", "1G", "present", L)
    assert _cmdline.find(_cmdline.split(plan.effective_after), "crashkernel") == [0]


def test_no_safe_candidate_raises_validation_error(tmp_path):
    # GRUB_CMDLINE_LINUX_DEFAULT is overwritten from GRUB_CMDLINE_LINUX in a drop-in that cannot
    # receive the argument alone: every candidate also changes the other variable.
    defaults, dropins = write_layout(
        tmp_path, 'GRUB_CMDLINE_LINUX="ro"\n',
        {"x.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX"\n'})
    with pytest.raises(ValidationError):
        _grub.plan(_grub.load(defaults, dropins), "crashkernel", "1G", "present", L)


def test_missing_defaults_file(tmp_path):
    with pytest.raises(HostError):
        _grub.load(str(tmp_path / "nope"), str(tmp_path))


def test_dropins_are_sorted_and_only_cfg(tmp_path):
    defaults, dropins = write_layout(tmp_path, 'GRUB_CMDLINE_LINUX_DEFAULT="a"\n', {
        "b.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT b"\n',
        "A.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT A"\n',
        "c.cfg.dpkg-old": 'GRUB_CMDLINE_LINUX_DEFAULT="broken\n',
        ".hidden.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="broken\n',
    })
    assert _grub.load(defaults, dropins).values()[D] == "a A b"
    if HAS_SH:
        assert _grub.shell_values(files_of(defaults, dropins))[D] == "a A b"


@pytest.mark.skipif(not HAS_SH, reason="no /bin/sh")
def test_verify_chain_detects_a_mismatch(tmp_path):
    defaults, dropins = write_layout(tmp_path, 'GRUB_CMDLINE_LINUX="ro"\n')
    with pytest.raises(ParseError):
        _grub.verify_chain([defaults], {L: "ro quiet", D: ""})
    _grub.verify_chain([defaults], {L: "ro", D: ""})


# ------------------------------------------------------------- family and commands --------
@pytest.mark.parametrize("text, family", [
    ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n', "Debian"),
    ('ID=ubuntu\nID_LIKE=debian\n', "Debian"),
    ('ID="rhel"\nID_LIKE="fedora"\n', "RedHat"),
    ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "RedHat"),
    ('ID=fedora\n', "RedHat"),
    ('ID="sles"\nID_LIKE="suse"\n', "Suse"),
    ('ID="opensuse-leap"\nID_LIKE="suse opensuse"\n', "Suse"),
    ('ID=arch\n', None),
    ('', None),
])
def test_family_from_os_release(text, family):
    assert _grub.family_from_os_release(text) == family


STUB = "search --no-floppy --fs-uuid --set=dev abcd\nset prefix=($dev)/grub2\nexport $prefix\nconfigfile $prefix/grub.cfg\n"
FULL = "### BEGIN /etc/grub.d/10_linux ###\ninsmod blscfg\nblscfg\n"


@pytest.mark.parametrize("family, efi, configs, command", [
    ("Debian", False, {}, ["/usr/sbin/update-grub"]),
    ("RedHat", False, {}, ["/usr/sbin/grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    ("RedHat", True, {"/boot/efi/EFI/redhat/grub.cfg": STUB}, ["/usr/sbin/grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    ("RedHat", True, {"/boot/efi/EFI/redhat/grub.cfg": FULL}, ["/usr/sbin/grub2-mkconfig", "-o", "/boot/efi/EFI/redhat/grub.cfg"]),
    ("RedHat", True, {"/boot/efi/EFI/BOOT/grub.cfg": FULL}, ["/usr/sbin/grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    ("Suse", True, {"/boot/efi/EFI/opensuse/grub.cfg": STUB}, ["/usr/sbin/grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
])
def test_mkconfig_command(family, efi, configs, command):
    assert _grub.mkconfig_command(
        family, grub_mkconfig="/usr/sbin/grub2-mkconfig", update_grub="/usr/sbin/update-grub",
        efi=efi, efi_configs=configs) == command


def test_mkconfig_command_debian_without_update_grub():
    assert _grub.mkconfig_command("Debian", grub_mkconfig="/usr/sbin/grub-mkconfig") == [
        "/usr/sbin/grub-mkconfig", "-o", "/boot/grub/grub.cfg"]
    assert _grub.mkconfig_command("RedHat") is None
    assert _grub.mkconfig_command(None, grub_mkconfig="/usr/bin/grub-mkconfig") == [
        "/usr/bin/grub-mkconfig", "-o", "/boot/grub/grub.cfg"]


@pytest.mark.parametrize("family, requested, fallback, variable", [
    ("Debian", None, None, D),
    ("RedHat", None, None, L),
    ("Suse", None, None, L),
    ("Debian", L, None, L),
    (None, D, None, D),
    (None, None, L, L),
    ("Debian", None, L, D),
    ("Arch", None, D, D),
])
def test_variable_for(family, requested, fallback, variable):
    assert _grub.variable_for(family, requested, fallback) == variable


@pytest.mark.parametrize("family", [None, "Arch"])
def test_variable_for_unknown_family_without_fallback(family):
    with pytest.raises(ValidationError, match="set family or grub_variable"):
        _grub.variable_for(family)


@pytest.mark.parametrize("name, content, expected", [
    ("text", b"ID=debian\n", "ID=debian\n"),
    ("empty", b"", ""),
    ("missing", None, None),
    ("directory", "dir", None),
])
def test_read_optional(tmp_path, name, content, expected):
    path = tmp_path / name
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    assert _grub.read_optional(str(path)) == expected


def test_read_optional_still_refuses_non_utf8(tmp_path):
    (tmp_path / "latin1").write_bytes(b"ID=d\xe9bian\n")
    with pytest.raises(ParseError, match="not valid UTF-8"):
        _grub.read_optional(str(tmp_path / "latin1"))


def test_efi_configs_skips_what_cannot_be_read(tmp_path):
    for vendor, text in (("redhat", FULL), ("BOOT", STUB)):
        (tmp_path / vendor).mkdir()
        (tmp_path / vendor / "grub.cfg").write_text(text)
    (tmp_path / "broken" / "grub.cfg").mkdir(parents=True)
    assert _grub.efi_configs(str(tmp_path / "*" / "grub.cfg")) == {
        str(tmp_path / "redhat" / "grub.cfg"): FULL,
        str(tmp_path / "BOOT" / "grub.cfg"): STUB,
    }


def program(directory, name, executable=True):
    path = directory / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755 if executable else 0o644)
    return str(path)


# family, programs found by which (name -> file name under tmp_path), override, EFI system,
# ESP grub.cfg text (None: no ESP file), expected command with "@" for tmp_path
UPDATE_COMMANDS = [
    ("Debian", {"update-grub": "update-grub", "grub-mkconfig": "grub-mkconfig"}, None, False, None,
     ["@/update-grub"]),
    ("Debian", {"grub-mkconfig": "grub-mkconfig"}, None, False, None,
     ["@/grub-mkconfig", "-o", "/boot/grub/grub.cfg"]),
    ("RedHat", {"update-grub": "update-grub", "grub2-mkconfig": "grub2-mkconfig"}, None, False, None,
     ["@/grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    ("RedHat", {"grub2-mkconfig": "grub2-mkconfig"}, None, True, FULL,
     ["@/grub2-mkconfig", "-o", "@/esp/redhat/grub.cfg"]),
    ("RedHat", {"grub2-mkconfig": "grub2-mkconfig"}, None, False, FULL,
     ["@/grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    ("Suse", {"grub2-mkconfig": "grub2-mkconfig"}, None, True, STUB,
     ["@/grub2-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    ("RedHat", {"grub-mkconfig": "grub-mkconfig"}, None, False, None,
     ["@/grub-mkconfig", "-o", "/boot/grub2/grub.cfg"]),
    # An override wins over the detected command; a bare name is looked up with which.
    ("Debian", {"update-grub": "update-grub", "mine": "mine"}, ["mine", "--all"], False, None,
     ["@/mine", "--all"]),
    ("RedHat", {}, ["@/mine"], False, None, ["@/mine"]),
]


@pytest.mark.parametrize("family, found, override, efi, esp, command", UPDATE_COMMANDS)
def test_update_command(tmp_path, family, found, override, efi, esp, command):
    for file_name in set(found.values()) | {"mine"}:
        program(tmp_path, file_name)
    if efi:
        (tmp_path / "efi").mkdir()
    if esp is not None:
        (tmp_path / "esp" / "redhat").mkdir(parents=True)
        (tmp_path / "esp" / "redhat" / "grub.cfg").write_text(esp)
    here = str(tmp_path)
    paths = dict((name, os.path.join(here, file_name)) for name, file_name in found.items())
    if override:
        override = [arg.replace("@", here) for arg in override]
    assert _grub.update_command(
        family, paths.get, override, efi_dir=str(tmp_path / "efi"), esp_configs=str(tmp_path / "esp" / "*" / "grub.cfg"),
    ) == [arg.replace("@", here) for arg in command]


@pytest.mark.parametrize("family, found, override, executable, message", [
    ("Debian", {}, None, True, "no update-grub or grub(2)-mkconfig command was found"),
    ("RedHat", {"update-grub": "update-grub"}, None, True, "no update-grub or grub(2)-mkconfig command was found"),
    ("Debian", {"update-grub": "update-grub"}, ["mine"], True, "the bootloader update command mine was not found"),
    ("Debian", {}, ["@/mine"], False, "the bootloader update command @/mine was not found"),
    ("Debian", {}, ["@/nothing"], True, "the bootloader update command @/nothing was not found"),
])
def test_update_command_missing(tmp_path, family, found, override, executable, message):
    here = str(tmp_path)
    program(tmp_path, "update-grub")
    program(tmp_path, "mine", executable)
    paths = dict((name, os.path.join(here, file_name)) for name, file_name in found.items())
    override = [arg.replace("@", here) for arg in override] if override else None
    with pytest.raises(HostError) as raised:
        _grub.update_command(family, paths.get, override, efi_dir=str(tmp_path / "efi"),
                             esp_configs=str(tmp_path / "esp" / "*" / "grub.cfg"))
    assert str(raised.value) == message.replace("@", here) + (
        "; nothing was changed (set update_bootloader=false to only edit the files)")


def test_verifier_sees_the_other_planned_files(tmp_path):
    """Two files change: the copy of the first is checked with the planned text of the second,
    which is not written yet."""
    defaults, dropins = write_layout(tmp_path, 'GRUB_CMDLINE_LINUX="ro crashkernel=1G"\n', {
        "kdump-tools.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=2G"\n'})
    plan = _grub.plan(_grub.load(defaults, dropins), "crashkernel", None, "absent", D)
    assert sorted(plan.changes) == sorted([defaults, os.path.join(dropins, "kdump-tools.cfg")])
    tmp = tmp_path / "tmp.cfg"
    tmp.write_text(plan.changes[defaults])
    _grub.verifier(plan, defaults)(str(tmp))
    tmp.write_text('GRUB_CMDLINE_LINUX="ro"\nGRUB_CMDLINE_LINUX_DEFAULT=quiet\n')
    with pytest.raises(ParseError, match="verification failed"):
        _grub.verifier(plan, defaults)(str(tmp))


def test_verifier_uses_a_file_already_written(tmp_path):
    """The second file already holds its planned text: it is read in place."""
    defaults, dropins = write_layout(tmp_path, 'GRUB_CMDLINE_LINUX="ro crashkernel=1G"\n', {
        "kdump-tools.cfg": 'GRUB_CMDLINE_LINUX_DEFAULT="$GRUB_CMDLINE_LINUX_DEFAULT crashkernel=2G"\n'})
    plan = _grub.plan(_grub.load(defaults, dropins), "crashkernel", None, "absent", D)
    dropin = os.path.join(dropins, "kdump-tools.cfg")
    with open(dropin, "w") as handle:
        handle.write(plan.changes[dropin])
    tmp = tmp_path / "tmp.cfg"
    tmp.write_text(plan.changes[defaults])
    _grub.verifier(plan, defaults)(str(tmp))


# ------------------------------------------------------------------- property tests --------
WORD = st.text(alphabet="abcxyz019=_-.,:/", min_size=1, max_size=8).filter(lambda w: w != "--")
KERNEL_WORD = st.one_of(WORD, st.builds(lambda a, b: '%s="%s %s"' % (a, a, b), WORD.filter(lambda w: "=" not in w), WORD))
STYLE = st.sampled_from(["dq", "sq", "bare", "dq_continued", "ref"])
TARGET_NAME = st.sampled_from(["crashkernel", "quiet", "a", "x_y"])


def render(words, style, prefix=""):
    """Shell text for a variable value made of ``words``."""
    value = " ".join(words)
    if prefix:
        value = prefix + (" " + value if value else "")
    if style == "sq":
        return "'%s'" % _shell.quote_for("sq", value)
    if style == "bare":
        return _shell.quote_for("bare", value) if value else "''"
    body = _shell.quote_for("dq", value)
    if style == "dq_continued":
        body = body.replace(" ", " \\\n", 1)
    return '"%s"' % body


def assignment(variable, words, style):
    """``variable=...``; the ``ref`` style moves the first half of the words into a helper
    variable referenced as ``$HELPER`` (so an edit may have to change the helper)."""
    if style != "ref":
        return "%s=%s\n" % (variable, render(words, style))
    half = len(words) // 2
    helper = "H_" + variable
    return "%s=%s\n%s=%s\n" % (
        helper, render(words[:half], "dq"), variable, render(words[half:], "dq", prefix="$" + helper))


def build_layout(draw_linux, draw_default, draw_dropin, styles):
    main = "# generated\nGRUB_TIMEOUT=5\n"
    main += assignment("GRUB_CMDLINE_LINUX", draw_linux, styles[0])
    main += assignment("GRUB_CMDLINE_LINUX_DEFAULT", draw_default, styles[1])
    dropins = {}
    if draw_dropin is not None:
        dropins["kdump-tools.cfg"] = "GRUB_CMDLINE_LINUX_DEFAULT=%s\n" % render(
            draw_dropin, styles[2] if styles[2] not in ("sq", "ref") else "dq", prefix="$GRUB_CMDLINE_LINUX_DEFAULT")
    return main, dropins


@pytest.mark.skipif(not HAS_SH, reason="no /bin/sh")
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    linux=st.lists(KERNEL_WORD, max_size=4),
    default=st.lists(KERNEL_WORD, max_size=4),
    dropin=st.one_of(st.none(), st.lists(KERNEL_WORD, min_size=1, max_size=3)),
    styles=st.tuples(STYLE, STYLE, STYLE),
    name=TARGET_NAME,
    value=st.one_of(st.none(), st.sampled_from(["1G", "256M", "384M-:128M", "a b", ""])),
    state=st.sampled_from(["present", "absent"]),
    variable=st.sampled_from([L, D]),
)
def test_edit_result_sourced_by_real_shell(tmp_path, linux, default, dropin, styles, name, value, state, variable):
    shutil.rmtree(str(tmp_path / "grub.d"), ignore_errors=True)
    main, dropins = build_layout(linux, default, dropin, styles)
    defaults, dropin_dir = write_layout(tmp_path, main, dropins)
    paths = files_of(defaults, dropin_dir)
    before = _grub.shell_values(paths)
    config = _grub.load(defaults, dropin_dir)
    assert config.values() == before
    try:
        plan = _grub.plan(config, name, value, state, variable)
    except ValidationError:
        # Only acceptable when no edit can keep every other argument in place.
        assume(False)
        return
    apply(plan)
    real = _grub.shell_values(paths)
    assert real == plan.after
    args = {var: _cmdline.split(real[var]) for var in (L, D)}
    combined = args[L] + args[D]
    assert _cmdline.is_satisfied(combined, name, value, state)
    if state == "present":
        assert _cmdline.find(args[variable], name)

    def others(var, items):
        return [a for a in items if not _cmdline.matches(a, name)]

    if state == "present" or value is None:
        for var in (L, D):
            assert others(var, args[var]) == others(var, _cmdline.split(before[var]))
    again = _grub.plan(_grub.load(defaults, dropin_dir), name, value, state, variable)
    assert not again.changed


@settings(max_examples=200, deadline=None)
@given(
    main=st.text(alphabet='GRUB_CMDLINE_LINUX_DEFAULT="$\'\\ \n;#`{}x=ck:', max_size=60),
    name=TARGET_NAME,
    state=st.sampled_from(["present", "absent"]),
)
def test_any_file_gives_a_plan_or_a_domain_error(main, name, state):
    try:
        config = _grub.GrubConfig.from_texts([("/etc/default/grub", main)])
        plan = _grub.plan(config, name, "1G" if state == "present" else None, state, L)
    except KdumpError:
        return
    for text in plan.changes.values():
        _grub.GrubConfig.from_texts([("/etc/default/grub", text)]).values()
