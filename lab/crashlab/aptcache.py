"""A small caching HTTP proxy for Debian's archive, the lab's only path to packages.

``python3 -m crashlab apt-cache serve`` listens on 127.0.0.1 only and maps

* ``/debian/...``          to the main mirror of the host's apt configuration,
* ``/debian-security/...`` to its security mirror,

both read at run time from ``/etc/apt/sources.list.d/*.sources`` and ``/etc/apt/sources.list``
(``CRASHKIT_LAB_MIRROR`` / ``CRASHKIT_LAB_SECURITY_MIRROR`` override them). The image builder
runs it in-process for mmdebstrap; the launcher runs one per lab and guests reach it through
QEMU user networking (``restrict=on`` + ``guestfwd``) at ``http://10.0.2.100/``.

Caching: files under ``pool/`` and ``by-hash/`` never change once published, so they are
stored on disk and served without asking upstream again. Everything else (``InRelease``,
``Packages.xz`` ...) is stored too and revalidated on every request with a conditional GET;
when upstream does not answer, the stored copy is served (stale but signed, apt checks it).
"""
import email.utils
import glob
import http.server
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from crashlab import paths

UPSTREAM_TIMEOUT = 30
CHUNK = 1 << 16
META_SUFFIX = ".crashlab-meta.json"
APT_CONFIG_FILES = ("/etc/apt/sources.list",)
APT_CONFIG_GLOBS = ("/etc/apt/sources.list.d/*.list", "/etc/apt/sources.list.d/*.sources")


# --- the host's mirrors ------------------------------------------------------------------------

def parse_apt_sources(text: str, deb822: bool):
    """Return ``[(uri, [suites])]`` for the ``deb`` entries of one apt sources file."""
    entries = []
    if deb822:
        for block in re.split(r"\n\s*\n", text):
            fields = {}
            key = None
            for line in block.splitlines():
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
                if line[0] in " \t" and key:
                    fields[key] += " " + line.strip()
                    continue
                key, _sep, value = line.partition(":")
                key = key.strip().lower()
                fields[key] = value.strip()
            if "deb" not in fields.get("types", "").split():
                continue
            if fields.get("enabled", "yes").lower() == "no":
                continue
            for uri in fields.get("uris", "").split():
                entries.append((uri, fields.get("suites", "").split()))
        return entries
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line.startswith("deb "):
            continue
        rest = re.sub(r"\[[^]]*\]", " ", line[4:]).split()
        if len(rest) >= 2:
            entries.append((rest[0], [rest[1]]))
    return entries


def mirrors_from_entries(entries):
    """Pick the main and the security mirror from parsed apt entries.

    A URI serving a ``*-security`` suite (or whose path ends in ``debian-security``) is the
    security mirror; the first other one is the main mirror. Without a security entry the main
    mirror's host is assumed to serve ``/debian-security`` too.
    """
    main = security = None
    for uri, suites in entries:
        uri = uri.rstrip("/")
        if not uri.startswith(("http://", "https://")):
            continue
        is_security = uri.endswith("debian-security") or any(s.endswith("-security") for s in suites)
        if is_security:
            security = security or uri
        else:
            main = main or uri
    if main is None:
        raise ValueError("no http(s) Debian mirror found in the host's apt configuration")
    if security is None:
        parsed = urllib.parse.urlsplit(main)
        security = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, "/debian-security", "", ""))
    return {"debian": main, "debian-security": security}


def host_mirrors():
    entries = []
    files = [f for f in APT_CONFIG_FILES if os.path.exists(f)]
    for pattern in APT_CONFIG_GLOBS:
        files.extend(sorted(glob.glob(pattern)))
    for name in files:
        with open(name, encoding="utf-8", errors="replace") as f:
            entries.extend(parse_apt_sources(f.read(), name.endswith(".sources")))
    mirrors = mirrors_from_entries(entries)
    mirrors["debian"] = os.environ.get("CRASHKIT_LAB_MIRROR") or mirrors["debian"]
    mirrors["debian-security"] = os.environ.get("CRASHKIT_LAB_SECURITY_MIRROR") or mirrors["debian-security"]
    return mirrors


# --- request mapping ----------------------------------------------------------------------------

def split_request(path: str, upstreams):
    """Map a request path to ``(upstream name, relative path)`` or ``None``.

    Refuses anything that could escape the cache directory.
    """
    path = urllib.parse.unquote(urllib.parse.urlsplit(path).path)
    parts = [p for p in path.split("/") if p]
    if len(parts) < 2 or parts[0] not in upstreams:
        return None
    if any(p in (".", "..") or "\\" in p or "\0" in p for p in parts[1:]):
        return None
    return parts[0], "/".join(parts[1:])


def is_immutable(rel: str) -> bool:
    """Files that never change once published on a Debian mirror."""
    return rel.startswith("pool/") or "/by-hash/" in rel


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "crashlab-apt-cache"

    # set on the server: .upstreams (name -> base URL), .root (cache dir Path)

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        sys.stderr.write("%s %s\n" % (time.strftime("%H:%M:%S"), format % args))

    def do_GET(self):
        self._handle(head=False)

    def do_HEAD(self):
        self._handle(head=True)

    def _handle(self, head):
        mapped = split_request(self.path, self.server.upstreams)
        if mapped is None:
            self._plain(404, "not a path this cache serves\n", head)
            return
        name, rel = mapped
        url = self.server.upstreams[name] + "/" + urllib.parse.quote(rel)
        local = Path(self.server.root, name, rel)
        try:
            cached = local.is_file()
        except OSError:
            cached = False
        if cached and is_immutable(rel):
            self._send_file(local, head, "HIT")
            return
        meta = paths.read_json(Path(str(local) + META_SUFFIX), {}) if cached else {}
        self._fetch(url, local, rel, meta if cached else None, head)

    def _fetch(self, url, local, rel, meta, head):
        headers = {"User-Agent": "crashlab-apt-cache"}
        if meta:
            if meta.get("etag"):
                headers["If-None-Match"] = meta["etag"]
            if meta.get("last_modified"):
                headers["If-Modified-Since"] = meta["last_modified"]
        req = urllib.request.Request(url, headers=headers, method="HEAD" if head and meta is None else "GET")
        try:
            resp = urllib.request.urlopen(req, timeout=UPSTREAM_TIMEOUT)
        except urllib.error.HTTPError as e:
            e.close()
            if e.code == 304 and meta is not None:
                self._send_file(local, head, "REVALIDATED")
            elif e.code in (404, 410):
                self._plain(e.code, "not found upstream\n", head)
            elif meta is not None:
                self._send_file(local, head, "STALE(%s)" % e.code)
            else:
                self._plain(502, "upstream answered %s\n" % e.code, head)
            return
        except (urllib.error.URLError, OSError) as e:
            if meta is not None:
                self._send_file(local, head, "STALE(%s)" % e)
            else:
                self._plain(502, "upstream unreachable: %s\n" % e, head)
            return
        with resp:
            if head and meta is None:
                self._send_headers(200, resp.headers.get("Content-Length"), resp.headers, "MISS-HEAD")
                return
            self._relay(resp, local, rel, head)

    def _relay(self, resp, local, rel, head):
        """Stream an upstream 200 to the client while writing it into the cache."""
        length = resp.headers.get("Content-Length")
        expected = int(length) if length and length.isdigit() else None
        tmp = None
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            fd, tmpname = tempfile.mkstemp(dir=local.parent, prefix=".part.")
            tmp = os.fdopen(fd, "wb")
        except OSError:
            tmpname = None
        if expected is None:
            # No length: read it all first (keep-alive needs a length).
            body = resp.read()
            if tmp:
                tmp.write(body)
            expected = len(body)
            self._send_headers(200, expected, resp.headers, "MISS")
            if not head:
                self.wfile.write(body)
            got = expected
        else:
            self._send_headers(200, expected, resp.headers, "MISS")
            got = 0
            client_ok = not head
            while True:
                try:
                    chunk = resp.read(CHUNK)
                except OSError:
                    break
                if not chunk:
                    break
                got += len(chunk)
                if tmp:
                    tmp.write(chunk)
                if client_ok:
                    try:
                        self.wfile.write(chunk)
                    except OSError:
                        client_ok = False
            if got != expected:
                self.close_connection = True
        if tmp:
            tmp.close()
            if got == expected and not local.is_dir():
                os.chmod(tmpname, 0o644)
                os.replace(tmpname, local)
                meta = {
                    "etag": resp.headers.get("ETag"),
                    "last_modified": resp.headers.get("Last-Modified"),
                    "fetched": time.time(),
                }
                if not is_immutable(rel):
                    paths.write_json(Path(str(local) + META_SUFFIX), meta)
            else:
                os.unlink(tmpname)

    def _send_file(self, local, head, how):
        try:
            f = open(local, "rb")
        except OSError:
            self._plain(502, "cache file vanished\n", head)
            return
        with f:
            size = os.fstat(f.fileno()).st_size
            meta = paths.read_json(Path(str(local) + META_SUFFIX), {})
            ims = self.headers.get("If-Modified-Since")
            lm = meta.get("last_modified")
            if ims and lm and _not_newer(lm, ims):
                self._send_headers(304, None, {"Last-Modified": lm}, how + "+304")
                return
            self._send_headers(200, size, {"Last-Modified": lm} if lm else {}, how)
            if not head:
                try:
                    shutil.copyfileobj(f, self.wfile, CHUNK)
                except OSError:
                    self.close_connection = True

    def _send_headers(self, code, length, upstream_headers, how):
        self.send_response(code)
        for h in ("Content-Type", "Last-Modified", "ETag"):
            v = upstream_headers.get(h) if upstream_headers else None
            if v:
                self.send_header(h, v)
        if code != 304:
            self.send_header("Content-Length", str(length if length is not None else 0))
        self.send_header("X-Crashlab-Cache", how)
        self.end_headers()

    def _plain(self, code, text, head):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)


def _not_newer(last_modified: str, if_modified_since: str) -> bool:
    try:
        return email.utils.parsedate_to_datetime(last_modified) <= email.utils.parsedate_to_datetime(if_modified_since)
    except (TypeError, ValueError):
        return False


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: Path, upstreams, port: int = 0):
        self.root = Path(root)
        self.upstreams = dict(upstreams)
        self.root.mkdir(parents=True, exist_ok=True)
        super().__init__(("127.0.0.1", port), Handler)


def start_in_thread(root: Path, upstreams=None):
    """Run a cache server in this process (used by the image builder); returns the server."""
    server = Server(root, upstreams or host_mirrors())
    threading.Thread(target=server.serve_forever, name="apt-cache", daemon=True).start()
    return server


def serve(root: Path, port: int, port_file: Path = None) -> None:
    server = Server(root, host_mirrors(), port)
    actual = server.server_address[1]
    if port_file:
        paths.atomic_write(Path(port_file), "%d\n" % actual)
    sys.stderr.write("apt-cache: 127.0.0.1:%d -> %s (cache %s)\n" % (actual, server.upstreams, root))
    sys.stderr.flush()
    try:
        server.serve_forever()
    finally:
        server.server_close()
