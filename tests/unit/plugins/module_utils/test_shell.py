# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.crashkit.kdump.plugins.module_utils import _shell
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import KdumpError, ParseError

HAS_SH = os.path.exists("/bin/sh")
NAMES = ("A", "B", "C")


def lexer_values(text):
    values = _shell.evaluate([_shell.parse(text, "t")], assume_unset=NAMES + ("Ax",))
    return dict(
        (n, values[n] if isinstance(values[n], _shell.Unknown) else _shell.value_text(values[n]))
        for n in NAMES if n in values
    )


def sh_value(tmp_path, text, name):
    path = tmp_path / "f.sh"
    path.write_text(text)
    out = subprocess.run(
        ["/bin/sh", "-c", '. "$1"; printf %s "$' + name + '"', "sh", str(path)],
        env={}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True,
    ).stdout
    return out.decode("utf-8")


CASES = [
    # (file text, expected values)
    ('A="quiet splash"\n', {"A": "quiet splash"}),
    ("A='single quoted $B'\n", {"A": "single quoted $B"}),
    ("A=no_quotes\n", {"A": "no_quotes"}),
    ("A='it'\\''s'\n", {"A": "it's"}),
    ('A="esc \\" \\$ \\\\ \\` \\q"\n', {"A": 'esc " $ \\ ` \\q'}),
    ("A=a\\ b\\\"c\n", {"A": 'a b"c'}),
    ('A=1\nB="$A ${A}x $Ax"\n', {"A": "1", "B": "1 1x "}),
    ('A="first \\\nsecond"\n', {"A": "first second"}),
    ("A=fir\\\nst\n", {"A": "first"}),
    ("B=q\nA=$\\\nB\n", {"A": "q", "B": "q"}),
    ('A="x"; B=y C=$A$B\n', {"A": "x", "B": "y", "C": "xy"}),
    ("export A=1 B\n", {"A": "1"}),
    ("A=a#b # a comment\n#B=2\n", {"A": "a#b"}),
    ('A=$\nB="$"\n', {"A": "$", "B": "$"}),
    ('A="x"\\\nB=1\n', {"A": "xB=1"}),
    ("A=\n", {"A": ""}),
    ("A=*\n", {"A": "*"}),
    ("  A=1  \n\n\tB=2\n", {"A": "1", "B": "2"}),
    ('A="a\nb"\n', {"A": "a\nb"}),
]


@pytest.mark.parametrize("text, expected", CASES)
def test_values(text, expected):
    assert lexer_values(text) == expected


@pytest.mark.skipif(not HAS_SH, reason="no /bin/sh")
@pytest.mark.parametrize("text, expected", CASES)
def test_values_match_real_shell(tmp_path, text, expected):
    for name, value in expected.items():
        assert sh_value(tmp_path, text, name) == value


@pytest.mark.parametrize("text, line", [
    ("A=1\nif true; then A=2; fi\n", 2),
    ("echo hi\n", 1),
    ("A=1 command\n", 1),
    ("A=1 | cat\n", 1),
    ("A=1 && B=2\n", 1),
    ("A=1 > /tmp/x\n", 1),
    ("f() { A=1; }\n", 1),
    (". /etc/other\n", 1),
    ("A+=x\n", 1),
    ('A="unterminated\n\n', 1),
    ("A='unterminated\n", 1),
    ("A=`unterminated\n", 1),
    ("A=$(unterminated\n", 1),
    ("A=$'ansi'\n", 1),
    ('A=$"locale"\n', 1),
    ("\n\n;\n", 3),
    ("A=1;;\n", 1),
    ("A=1\x00\n", 1),
    ("A=\\", 1),
    ("readonly A=1\n", 1),
    ("unset A\n", 1),
])
def test_refused_constructs_name_the_line(text, line):
    with pytest.raises(ParseError) as err:
        _shell.parse(text, "/etc/default/grub")
    assert "/etc/default/grub:%d:" % line in str(err.value)


@pytest.mark.parametrize("text, reason", [
    ("A=`uname -r`\n", "command substitution"),
    ("A=\"$(uname -r) x\"\n", "command substitution"),
    ("A=$((1+2))\n", "arithmetic"),
    ("A=${B:-x}\n", "parameter expansion"),
    ("A=$1\n", "special parameter"),
    ("A=~/x\n", "tilde"),
    ("A=x:~/y\n", "tilde"),
    ("A=$HOME\n", "$HOME"),
])
def test_opaque_values_are_unknown(text, reason):
    values = _shell.evaluate([_shell.parse(text, "f")], assume_unset=("B",))
    assert isinstance(values["A"], _shell.Unknown)
    assert reason in values["A"].message("A")
    assert values["A"].message("A").startswith("f:1:")


def test_opaque_value_of_unrelated_variable_does_not_matter():
    text = "GRUB_DISTRIBUTOR=`lsb_release -i -s 2> /dev/null || echo Debian`\nA=\"q\"\n"
    assert lexer_values(text)["A"] == "q"


def test_tilde_elsewhere_is_literal():
    assert lexer_values("A=x~y\n")["A"] == "x~y"


def test_chars_know_their_source_spans():
    text = 'A="a \\"b"\n'
    values = _shell.evaluate([_shell.parse(text)])
    spans = [(c.char, text[c.start:c.end], c.ctx) for c in values["A"]]
    assert spans == [("a", "a", "dq"), (" ", " ", "dq"), ('"', '\\"', "dq"), ("b", "b", "dq")]


def test_word_records_closing_quote():
    script = _shell.parse("A='x'\"y\"\nB=z\n")
    first, second = script.assignments
    assert first.word.closing_ctx == "dq" and script.text[first.word.closing_quote] == '"'
    assert second.word.closing_quote is None


@pytest.mark.parametrize("text", ["", "plain", "a b", "it's", 'q"uote', "$HOME", "back\\slash", "`x`", "~", "tab\there", "line\nbreak"])
def test_quote_round_trips(text):
    assert lexer_values("A=%s\n" % _shell.quote(text))["A"] == text
    for ctx, fmt in (("dq", '"%s"'), ("sq", "'%s'"), ("bare", "%s")):
        if ctx == "bare" and text == "":
            continue
        body = _shell.quote_for(ctx, text)
        assert lexer_values("A=%s\n" % (fmt % body))["A"] == text


SAFE_TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), max_size=12)


@pytest.mark.skipif(not HAS_SH, reason="no /bin/sh")
@settings(max_examples=150, deadline=None)
@given(value=SAFE_TEXT, style=st.sampled_from(["dq", "sq", "bare", "auto"]))
def test_quoting_matches_real_shell(tmp_path_factory, value, style):
    if style == "auto":
        word = _shell.quote(value)
    elif style == "dq":
        word = '"%s"' % _shell.quote_for("dq", value)
    elif style == "sq":
        word = "'%s'" % _shell.quote_for("sq", value)
    else:
        word = _shell.quote_for("bare", value) if value else "''"
    text = "A=%s\n" % word
    assert lexer_values(text)["A"] == value
    assert sh_value(tmp_path_factory.mktemp("q"), text, "A") == value


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="AB=$\"'\\ \n;#`{}()x:~-", max_size=30))
def test_any_input_gives_a_value_or_a_parse_error(text):
    try:
        values = _shell.evaluate([_shell.parse(text)], assume_unset=NAMES)
    except KdumpError:
        return
    for value in values.values():
        assert isinstance(value, (list, _shell.Unknown))


@pytest.mark.skipif(not HAS_SH, reason="no /bin/sh")
@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="AB=$\"'\\ \n;#{}x:-", max_size=30))
def test_lexer_agrees_with_real_shell(tmp_path_factory, text):
    """Whatever the lexer accepts and can evaluate, the real shell evaluates the same way."""
    try:
        values = _shell.evaluate([_shell.parse(text)], assume_unset=NAMES)
    except KdumpError:
        return
    if any(isinstance(v, _shell.Unknown) for v in values.values()):
        return
    directory = tmp_path_factory.mktemp("diff")
    for name in NAMES:
        if name in values:
            assert sh_value(directory, text, name) == _shell.value_text(values[name])
