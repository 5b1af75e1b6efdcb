#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: dump_key
short_description: The kdump client's SSH key, the dump server's pinned host keys, and a connectivity check
version_added: 0.1.0
description:
  - Runs on a kdump client that sends its dumps to a central server over SSH (the
    C(crashkit.kdump.dump_server) role).
  - Makes sure a dedicated key pair exists (created once with C(ssh-keygen), no passphrase) and
    returns only its public key; the private key never leaves the host.
  - Pins the server's SSH host keys into a known_hosts file, which both the Debian capture
    environment (the system's C(ssh), C(/root/.ssh/known_hosts)) and the Red Hat and SUSE kdump
    initramfs (dracut copies C(/root/.ssh/known_hosts)) use with strict host key checking.
    Every key given is pinned; other keys of that host are removed; other hosts are untouched.
  - With O(check=true), proves the path works with the system's OpenSSH C(ssh), the client the
    capture environment uses, with its options - C(BatchMode=yes), C(StrictHostKeyChecking=yes),
    the dump key only (C(IdentitiesOnly=yes), public key authentication only) and only the pinned
    known_hosts file (O(known_hosts_path); no global known_hosts file, no IP address entries).
    The key must authenticate, the host key must match the pinned keys (anything else is
    rejected), the receiver's C(crashkit-probe) must write and remove a file in this client's
    directory, and an interactive shell and C(sh -c id) must be refused.
  - Root's C(~/.ssh/config) applies as it does in the capture environment (a C(Port) or
    C(HostName) set there for the server is used). No package outside the distribution's base
    repositories is needed (no paramiko).
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.files
attributes:
  check_mode:
    details: Reports what would be created or pinned and changes nothing; O(check) is skipped.
  diff_mode:
    details: Before/after of the public key file and of the known_hosts file.
options:
  path:
    description:
      - Private key path; the public key is O(path) plus C(.pub).
      - Defaults to C(/root/.ssh/kdump_id_ed25519) or C(/root/.ssh/kdump_id_rsa) after the type.
        Point the client's kdump configuration at it (C(kdump_target.ssh_key)).
    type: path
  type:
    description:
      - Key type. V(auto) picks V(ed25519) unless the host runs in FIPS mode (Red Hat's OpenSSH
        refuses ed25519 keys there) or its ssh client does not list C(ssh-ed25519) in
        C(ssh -Q key); then V(rsa) (4096 bits).
      - Every capture environment this collection configures uses the system's OpenSSH client
        (Debian runs the dump from the real root file system; dracut copies C(ssh) into the
        Red Hat and SUSE kdump initramfs), which supports ed25519 since OpenSSH 6.5. RSA is only
        needed for FIPS hosts or a capture environment built with an old Dropbear client
        (before 2020.79).
      - An existing key of another type is kept (and reported) for V(auto); for an explicit
        type it is an error unless O(regenerate=true).
    type: str
    choices: [auto, ed25519, rsa]
    default: auto
  comment:
    description: Comment of a new key. Defaults to C(crashkit-kdump@) and the host name.
    type: str
  regenerate:
    description: Replace an existing key whose type differs from an explicit O(type).
    type: bool
    default: false
  server:
    description:
      - The dump server, spelled exactly as the client's kdump configuration names it
        (C(kdump_target.host)); ssh looks the host key up under this name.
      - Required with O(server_host_keys) and O(check).
    type: str
  port:
    description: SSH port of the server; known_hosts entries use C([server]:port) when it is not 22.
    type: int
    default: 22
  user:
    description: The receiver account on the server (for O(check)).
    type: str
    default: kdumprecv
  server_host_keys:
    description:
      - The server's SSH host public keys, C(type base64 [comment]) each; the fact
        C(kdump_dump_server_host_keys) the C(crashkit.kdump.dump_server) role publishes.
      - When given, the server's entries in O(known_hosts_path) become exactly these keys.
    type: list
    elements: str
  known_hosts_path:
    description: The known_hosts file the capture environment reads.
    type: path
    default: /root/.ssh/known_hosts
  check:
    description:
      - Prove connectivity with the system C(ssh) (see the description). The module fails when
        the check fails; RV(connectivity) tells which step failed.
      - ssh reads the host keys from O(known_hosts_path), which O(server_host_keys), when given,
        pins first in the same run; without it the file must already have keys for O(server).
    type: bool
    default: false
  check_max_age:
    description:
      - Seconds a passing O(check) stays good. A passing check is recorded next to the private
        key (O(path) plus C(.proved)); a later run within this time skips the three ssh runs when
        nothing the check covered has changed (the key, O(server), O(port), O(user), the whole
        O(known_hosts_path) file, root's C(~/.ssh/config), the C(ssh) program and
        O(check_token)) and nothing changed in this run. RV(connectivity.reused) then says so.
      - V(0) checks on every run. A failed check removes the record.
    type: int
    default: 0
  check_token:
    description:
      - What the server's side of the path is, as the server publishes it (the
        C(crashkit.kdump.dump_server) role's C(kdump_dump_server_proof_token), a digest of its
        authorized_keys and receiver); a different token makes O(check_max_age) check again.
    type: str
  source_for:
    description:
      - A name or address of the dump server as this host reaches it (an SSH target's
        C(kdump_target.host), the evidence push's server address); the module then returns
        RV(source_address), the address this host sends from on its route there, for the
        server's C(from=) restriction of this key. Only a route lookup, nothing is sent.
    type: str
  timeout:
    description:
      - Seconds to wait for the server in O(check) (C(ssh -o ConnectTimeout), and
        C(ServerAliveInterval) with one unanswered probe allowed). Each of the three ssh runs of the
        check is stopped after three times as long.
    type: int
    default: 15
requirements:
  - ssh-keygen (OpenSSH) on the client
  - ssh (OpenSSH 7.4 or later) on the client, for O(check)
notes:
  - The receiver side, the exact commands each family sends and the path mapping are described
    in the collection's C(docs/dump-server.md).
"""

EXAMPLES = r"""
- name: Make the dump key and pin the dump server
  crashkit.kdump.dump_key:
    server: dumps.example.net
    server_host_keys: "{{ hostvars['dumps.example.net'].kdump_dump_server_host_keys }}"
  register: dump_key

- name: Authorise it on the dump server
  ansible.builtin.include_role:
    name: crashkit.kdump.dump_server
    apply:
      delegate_to: dumps.example.net
  vars:
    kdump_dump_server_clients:
      - host_id: "{{ inventory_hostname }}"
        public_key: "{{ dump_key.public_key }}"
        from: "{{ ansible_facts['default_ipv4']['address'] }}"

- name: Prove the client can send dumps (and nothing else)
  crashkit.kdump.dump_key:
    server: dumps.example.net
    check: true
"""

RETURN = r"""
path:
  description: Private key path.
  returned: always
  type: str
  sample: /root/.ssh/kdump_id_ed25519
public_key:
  description:
    - The public key line, for the server's authorized_keys. Null only in check mode when the key
      does not exist yet.
  returned: always
  type: str
  sample: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKs3 crashkit-kdump@web1
public_key_path:
  description: Public key path.
  returned: always
  type: str
  sample: /root/.ssh/kdump_id_ed25519.pub
type:
  description: Key type (of the existing key, or of the key made).
  returned: always
  type: str
  sample: ed25519
type_reason:
  description: Why this type.
  returned: always
  type: str
  sample: the host's ssh client supports ed25519
fingerprint:
  description: SHA256 fingerprint of the public key (null with RV(public_key)).
  returned: always
  type: str
  sample: SHA256:9n3JYk2tq6hLkQvEy2Yl1A7wK5x1vJ0mX3aUq1mQ2sA
created:
  description: Whether the key pair was (or in check mode would be) created.
  returned: always
  type: bool
known_hosts:
  description: What happened to the known_hosts file (when O(server_host_keys) is given).
  returned: when O(server_host_keys) is given
  type: dict
  contains:
    path:
      description: The file.
      type: str
    name:
      description: The name the keys are pinned under (C(host) or C([host]:port)).
      type: str
    changed:
      description: Whether the file changed.
      type: bool
    added:
      description: Keys added (C(type base64)).
      type: list
      elements: str
    removed:
      description: Keys removed for this host (C(type base64)).
      type: list
      elements: str
source_address:
  description:
    - The local address of this host's route to O(source_for) (its first address), what the
      server sees as this client's address; empty when there is no route to it.
  returned: when O(source_for) is given
  type: str
  sample: 192.0.2.10
connectivity:
  description: Result of O(check).
  returned: when O(check=true)
  type: dict
  contains:
    ok:
      description: Every step passed.
      type: bool
    skipped:
      description: True in check mode (nothing is sent).
      type: bool
    host_key_verified:
      description: The server presented one of the pinned keys.
      type: bool
    authenticated:
      description: The key was accepted.
      type: bool
    probe:
      description: The C(crashkit-probe) answer (C(ok), C(rc), C(host), C(path), C(avail_kib)).
      type: dict
    exec_refused:
      description: C(sh -c id) was refused (C(ok), C(rc)).
      type: dict
    shell_refused:
      description:
        - An interactive shell was refused (C(ok), C(rc)).
        - A run of this or of C(exec_refused) in which ssh itself failed (exit 255) is made once
          more; ssh failing twice never counts as refused (the check fails, C(error) says so).
      type: dict
    error:
      description: What went wrong, when something did.
      type: str
    reused:
      description:
        - True when the check did not run because a passing check of the same path is at most
          O(check_max_age) seconds old (only C(ok), C(skipped), C(reused), C(age) and C(error) are
          returned then).
      type: bool
    age:
      description: Seconds since that passing check, when RV(connectivity.reused).
      type: int
    ssh_command:
      description: The argument list of the probe's ssh run (the other two differ in the command).
      type: list
      elements: str
  sample:
    ok: true
    host_key_verified: true
    authenticated: true
    probe: {ok: true, rc: 0, host: web1, path: /var/crash, avail_kib: 81234567}
    exec_refused: {ok: true, rc: 2}
    shell_refused: {ok: true, rc: 2}
    error: null
"""

import os
import platform
import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _dumpkey
from ansible_collections.crashkit.kdump.plugins.module_utils._module import apply_file, domain_errors, file_diff, read_text

FIPS_PATH = "/proc/sys/crypto/fips_enabled"


def argument_spec():
    return dict(
        path=dict(type="path"),
        type=dict(type="str", default="auto", choices=["auto", "ed25519", "rsa"]),
        comment=dict(type="str"),
        regenerate=dict(type="bool", default=False),
        server=dict(type="str"),
        port=dict(type="int", default=22),
        user=dict(type="str", default="kdumprecv"),
        server_host_keys=dict(type="list", elements="str", no_log=False),
        known_hosts_path=dict(type="path", default="/root/.ssh/known_hosts"),
        check=dict(type="bool", default=False),
        check_max_age=dict(type="int", default=0),
        check_token=dict(type="str", no_log=False),
        timeout=dict(type="int", default=15),
        source_for=dict(type="str"),
    )


def fips_enabled():
    return (read_text(FIPS_PATH) or "0").strip() == "1"


def supported_key_types(module):
    """Key types the host's ssh client supports, or None when it cannot say."""
    ssh = module.get_bin_path("ssh")
    if not ssh:
        return None
    rc, out, _err = module.run_command([ssh, "-Q", "key"])
    return _dumpkey.parse_key_types(out) if rc == 0 else None


def ensure_dir(module, path):
    directory = os.path.dirname(path)
    if directory and not os.path.isdir(directory):
        if module.check_mode:
            return
        os.makedirs(directory, 0o700)


def ensure_key(module, result):
    p = module.params
    fips = fips_enabled()
    requested = p["type"]
    path = p["path"]
    if path is None:
        path = next((c for c in _dumpkey.existing_key_paths(requested) if os.path.exists(c)), None)
        if path is None:
            chosen, _reason = _dumpkey.choose_key_type(requested, supported_key_types(module), fips)
            path = _dumpkey.default_key_path(chosen)
    pub_path = path + ".pub"
    result.update(path=path, public_key_path=pub_path, created=False)
    keygen = module.get_bin_path("ssh-keygen", required=True)

    if os.path.exists(path):
        loose = bool(os.stat(path).st_mode & 0o077)
        if loose:
            # ssh (and ssh-keygen -y) refuse a private key others can read.
            result["changed"] = True
            if not module.check_mode:
                os.chmod(path, 0o600)
        derived, key_type = _dumpkey.existing_key(path, requested, p["regenerate"],
                                                  *_dumpkey.derive_public(module.run_command, keygen, path, loose and module.check_mode))
        if key_type is None:
            return make_key(module, result, keygen, path, requested, "requested", replace=True)
        result.update(type=key_type, type_reason="existing key")
        wanted, write = _dumpkey.public_line(derived, read_text(pub_path),
                                             _dumpkey.key_comment(p["comment"], platform.node()))
        diffs = []
        if write:
            changed, diff, _backup = apply_file(module, pub_path, wanted + "\n", mode=0o644)
            diffs.append(diff)
            result["changed"] = result["changed"] or changed
        result.update(_dumpkey.public_key_facts(wanted))
        return diffs

    chosen, reason = _dumpkey.choose_key_type(requested, supported_key_types(module), fips)
    return make_key(module, result, keygen, path, chosen, reason)


def make_key(module, result, keygen, path, key_type, reason, replace=False):
    """Make a new key pair at ``path``; returns its diffs."""
    pub_path = path + ".pub"
    result.update(type=key_type, type_reason=reason, created=True, changed=True)
    before = read_text(pub_path)
    if module.check_mode:
        result.update(public_key=None, fingerprint=None)
        return [file_diff(pub_path, before, "(new %s key)\n" % key_type)]
    ensure_dir(module, path)
    if replace:
        for old in (path, pub_path):
            if os.path.exists(old):
                os.unlink(old)
    comment = _dumpkey.key_comment(module.params["comment"], platform.node())
    _dumpkey.keygen_done(path, *module.run_command(_dumpkey.keygen_argv(keygen, key_type, path, comment)))
    public = read_text(pub_path).strip()
    result.update(_dumpkey.public_key_facts(public))
    return [file_diff(pub_path, before, public + "\n")]


def pin(module, result):
    p = module.params
    name = _dumpkey.known_hosts_name(p["server"], p["port"])
    path = p["known_hosts_path"]
    before = read_text(path)
    text, added, removed = _dumpkey.pin_known_hosts(before, name, p["server_host_keys"])
    ensure_dir(module, path)
    changed, diff, _backup = apply_file(module, path, text, mode=0o644)
    result["known_hosts"] = dict(path=path, name=name, changed=changed, added=added, removed=removed)
    result["changed"] = result["changed"] or changed
    return [diff] if changed else []


def prove(module, result):
    """The connectivity check, or the record of a passing one of the same path when it is recent
    enough and this run changed nothing."""
    p = module.params
    ssh = module.get_bin_path("ssh", required=True)
    digest = _dumpkey.path_digest(result["public_key"], _dumpkey.known_hosts_name(p["server"], p["port"]),
                                  p["user"], p["known_hosts_path"], ssh, p["check_token"])
    now = time.time()
    if not result["changed"]:
        age = _dumpkey.recent_proof(_dumpkey.read_proof(result["path"]), digest, now, p["check_max_age"])
        if age is not None:
            return dict(ok=True, skipped=False, reused=True, age=int(age), error=None)
    known = None if p["server_host_keys"] else read_text(p["known_hosts_path"])
    report = _dumpkey.check_connectivity(p, result["path"], ssh, known)
    report["reused"] = False
    warning = _dumpkey.save_proof(result["path"], digest if report["ok"] else None, now)
    if warning:
        module.warn(warning)
    return report


def run(module):
    p = module.params
    _dumpkey.check_options(p["server"], p["port"], p["server_host_keys"], p["check"])
    result = dict(changed=False)
    diffs = ensure_key(module, result)
    if p["server_host_keys"] is not None:
        diffs.extend(pin(module, result))
    if p["check"]:
        if module.check_mode:
            result["connectivity"] = dict(ok=None, skipped=True, error=None)
        else:
            result["connectivity"] = prove(module, result)
    if p["source_for"]:
        result["source_address"] = _dumpkey.source_address(p["source_for"])
    if module._diff:
        result["diff"] = diffs
    return result


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    with domain_errors(module):
        result = run(module)
    conn = result.get("connectivity")
    if conn and not conn.get("skipped") and not conn["ok"]:
        module.fail_json(msg="dump server check failed: %s" % conn["error"], **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
