"""The apt cache's pure parts: mirrors from apt configuration, request mapping, cacheability."""
import pytest

from crashlab import aptcache

DEB822 = """\
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://src.example/debian
Suites: bookworm
Components: main
"""

ONE_LINE = """\
# comment
deb [arch=amd64 signed-by=/usr/share/keyrings/x.gpg] http://one.example/debian/ bookworm main
deb http://one.example/debian-security bookworm-security main
deb-src http://one.example/debian bookworm main
"""


def test_deb822_entries():
    assert aptcache.parse_apt_sources(DEB822, deb822=True) == [
        ("http://mirror.example/debian", ["bookworm", "bookworm-updates"]),
        ("http://security.example/debian-security", ["bookworm-security"]),
    ]


def test_deb822_disabled_block_is_ignored():
    text = "Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nEnabled: no\n"
    assert aptcache.parse_apt_sources(text, deb822=True) == []


def test_one_line_entries():
    assert aptcache.parse_apt_sources(ONE_LINE, deb822=False) == [
        ("http://one.example/debian/", ["bookworm"]),
        ("http://one.example/debian-security", ["bookworm-security"]),
    ]


def test_mirrors_from_deb822():
    entries = aptcache.parse_apt_sources(DEB822, deb822=True)
    assert aptcache.mirrors_from_entries(entries) == {
        "debian": "http://mirror.example/debian", "debian-security": "http://security.example/debian-security"}


def test_mirrors_trailing_slash_and_one_line():
    entries = aptcache.parse_apt_sources(ONE_LINE, deb822=False)
    assert aptcache.mirrors_from_entries(entries) == {
        "debian": "http://one.example/debian", "debian-security": "http://one.example/debian-security"}


def test_security_mirror_defaults_to_the_main_host():
    assert aptcache.mirrors_from_entries([("http://m.example/debian", ["trixie"])]) == {
        "debian": "http://m.example/debian", "debian-security": "http://m.example/debian-security"}


def test_no_http_mirror_is_an_error():
    with pytest.raises(ValueError, match="no http"):
        aptcache.mirrors_from_entries([("cdrom:[Debian]/", ["bookworm"]), ("file:/srv/repo", ["x"])])


UP = {"debian": "http://m/debian", "debian-security": "http://s/debian-security"}


@pytest.mark.parametrize("path, expected", [
    ("/debian/dists/trixie/InRelease", ("debian", "dists/trixie/InRelease")),
    ("/debian-security/pool/updates/main/l/linux/x.deb", ("debian-security", "pool/updates/main/l/linux/x.deb")),
    ("/debian/pool/main/g/gcc-12/libstdc%2b%2b6_12.2.0_amd64.deb", ("debian", "pool/main/g/gcc-12/libstdc++6_12.2.0_amd64.deb")),
    ("/debian//dists/x?query=1", ("debian", "dists/x")),
    ("/debian/../etc/passwd", None),
    ("/debian/pool/%2e%2e/x", None),
    ("/ubuntu/dists/x", None),
    ("/debian", None),
    ("/", None),
])
def test_split_request(path, expected):
    assert aptcache.split_request(path, UP) == expected


@pytest.mark.parametrize("rel, immutable", [
    ("pool/main/h/hello/hello_2.10-3_amd64.deb", True),
    ("dists/bookworm/main/binary-amd64/by-hash/SHA256/9e0b5a", True),
    ("dists/bookworm/InRelease", False),
    ("dists/bookworm/main/binary-amd64/Packages.xz", False),
    ("dists/trixie-security/Release.gpg", False),
])
def test_is_immutable(rel, immutable):
    assert aptcache.is_immutable(rel) is immutable
