"""What the lab hands to Ansible: Molecule's ``instance_config.yml`` and a static inventory.

Standard library only, so YAML is emitted by :func:`dump_yaml` (block style, strings
double-quoted with JSON escapes, which YAML accepts).
"""
import json
import re

# Keepalives: a guest that reboots leaves ssh's TCP connection open on QEMU's user-mode NAT
# (nothing resets it); without them a ControlMaster, and the reboot module behind it, wait forever.
SSH_COMMON_ARGS = ("-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
                   " -o ServerAliveInterval=10 -o ServerAliveCountMax=6")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _scalar(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)


def _key(k):
    k = str(k)
    return k if _PLAIN_KEY.match(k) and k.lower() not in ("true", "false", "null", "yes", "no", "on", "off") else json.dumps(k)


def dump_yaml(obj, indent=0) -> str:
    pad = " " * indent
    if isinstance(obj, dict):
        if not obj:
            return pad + "{}\n"
        out = []
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:\n%s" % (pad, _key(k), dump_yaml(v, indent + 2)))
            else:
                out.append("%s%s: %s\n" % (pad, _key(k), dump_yaml(v, 0).strip() if isinstance(v, (dict, list)) else _scalar(v)))
        return "".join(out)
    if isinstance(obj, list):
        if not obj:
            return pad + "[]\n"
        out = []
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                body = dump_yaml(v, indent + 2)
                out.append(pad + "- " + body[indent + 2:])
            else:
                out.append("%s- %s\n" % (pad, dump_yaml(v, 0).strip() if isinstance(v, (dict, list)) else _scalar(v)))
        return "".join(out)
    return pad + _scalar(obj) + "\n"


def instance_config(recs):
    """Molecule's instance list: ``{instance, address, user, port, identity_file}`` + lab keys."""
    return [{
        "instance": r["name"],
        "address": "127.0.0.1",
        "user": r["user"],
        "port": r["port"],
        "identity_file": r["identity_file"],
        "lab_private_address": r["private_address"],
        "lab_release": r["release"],
        "lab_console_log": r["console_log"],
    } for r in recs]


def instance_config_yaml(recs) -> str:
    return "# Molecule managed\n\n" + dump_yaml(instance_config(recs))


def host_vars(rec):
    return {
        "ansible_host": "127.0.0.1",
        "ansible_port": rec["port"],
        "ansible_user": rec["user"],
        "ansible_ssh_private_key_file": rec["identity_file"],
        "ansible_ssh_common_args": SSH_COMMON_ARGS,
        "ansible_python_interpreter": "/usr/bin/python3",
        "lab_private_address": rec["private_address"],
        "lab_release": rec["release"],
        "lab_console_log": rec["console_log"],
    }


def demo_inventory(clients, servers, target="ssh"):
    """Groups ``kdump_clients``, ``kdump_dump_servers`` and ``kdump_pilot`` (the first client).

    With ``target="ssh"`` and a server, the clients send their dumps to the first server over the
    private network (``kdump_target`` type ssh to its private address, ``kdump_dump_server_host``
    its inventory name); with ``"nfs"`` they write them over NFS into their own directory
    ``/srv/crash/<name>`` that the first server exports to them (``kdump_dump_server_nfs``); with
    ``"local"`` they keep them in ``/var/crash``; with ``"device"`` on their second disk (an ext4
    file system labelled ``crashdump``, the VM's ``dump_disk``), named by ``LABEL=``.
    """
    if target not in ("ssh", "nfs", "local", "device"):
        raise ValueError("target must be ssh, nfs, local or device, got %r" % (target,))
    client_group = {"hosts": {r["name"]: host_vars(r) for r in clients}}
    server_group = {"hosts": {r["name"]: host_vars(r) for r in servers}}
    if target == "nfs" and servers:
        for rec in clients:
            client_group["hosts"][rec["name"]]["kdump_target"] = {
                "type": "nfs", "host": servers[0]["private_address"], "path": "/srv/crash/%s" % rec["name"]}
        client_group["vars"] = {"kdump_dump_server_host": servers[0]["name"]}
        server_group["vars"] = {"kdump_dump_server_nfs": True}
    if target == "device":
        for rec in clients:
            label = (rec.get("dump_disk") or {}).get("label", "crashdump")
            client_group["hosts"][rec["name"]]["kdump_target"] = {
                "type": "device", "device": "LABEL=%s" % label, "fstype": "ext4", "path": "/var/crash"}
        if servers:
            # zero-touch evidence: the clients push each crash to the server's private address
            client_group["vars"] = {"kdump_dump_server_host": servers[0]["name"],
                                    "kdump_evidence_server_address": servers[0]["private_address"]}
    if target == "ssh" and servers:
        client_group["vars"] = {
            "kdump_target": {"type": "ssh", "host": servers[0]["private_address"], "user": "kdumprecv",
                             "path": "/var/crash"},
            "kdump_dump_server_host": servers[0]["name"],
        }
    return {"all": {"children": {
        "kdump_clients": client_group,
        "kdump_dump_servers": server_group,
        "kdump_pilot": {"hosts": {clients[0]["name"]: {}} if clients else {}},
    }}}


def demo_inventory_yaml(clients, servers, target="ssh") -> str:
    return "# Written by `python3 -m crashlab up`; the lab's VMs (see lab/README.md)\n" + dump_yaml(
        demo_inventory(clients, servers, target))
