# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A throwaway SSH server on 127.0.0.1 that behaves like sshd with forced commands.

openssh-server is not installed on the development machines, so the receiver is tested behind a
paramiko ``ServerInterface`` that does what sshd does for an ``authorized_keys`` line with
``restrict,command="..."``: public key authentication against the file, no pty, no forwarding,
and every exec, shell or subsystem request runs the forced command through ``/bin/sh -c`` with
``SSH_ORIGINAL_COMMAND`` set to the requested command (unset for a shell; the configured
subsystem program for ``sftp``, as sshd's session.c does). Real OpenSSH ``ssh``/``scp`` and
paramiko clients connect to it.
"""
from __future__ import absolute_import, division, print_function

import os
import socket
import subprocess
import threading

import jinja2
import paramiko
import yaml
from ansible.module_utils.parsing.convert_bool import boolean

__metaclass__ = type

# Debian's default "Subsystem sftp /usr/lib/openssh/sftp-server".
SFTP_SUBSYSTEM = "/usr/lib/openssh/sftp-server"
ROLE = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", "roles",
                                    "dump_server"))
RECEIVER_PATH = os.path.join(ROLE, "files", "crashkit-dump-receiver")


def render_authorized_keys(clients, root, python="/usr/bin/python3"):
    """Render the role's authorized_keys template with the role's own variable definitions.

    The receiver path is this checkout's script instead of /usr/local/libexec.
    """
    with open(os.path.join(ROLE, "vars", "main.yml")) as handle:
        role_vars = yaml.safe_load(handle)
    with open(os.path.join(ROLE, "defaults", "main.yml")) as handle:
        defaults = yaml.safe_load(handle)
    # ansible.builtin.template renders with trim_blocks=True.
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True)
    env.filters["bool"] = boolean  # Ansible's own filter
    variables = dict(defaults)
    variables.update({"kdump_dump_server_python": python, "kdump_dump_server_root": root,
                      "kdump_dump_server_clients": clients, "ansible_managed": "Ansible managed"})
    variables["__kdump_dump_server_receiver"] = RECEIVER_PATH
    variables["__kdump_dump_server_command"] = env.from_string(
        role_vars["__kdump_dump_server_command"]).render(variables)
    with open(os.path.join(ROLE, "templates", "authorized_keys.j2")) as handle:
        return env.from_string(handle.read()).render(variables)


def parse_authorized_keys(text):
    """[(options dict, key type, base64)] for each key line of an authorized_keys file."""
    entries = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        options, rest = _split_options(line)
        fields = rest.split()
        entries.append((options, fields[0], fields[1]))
    return entries


def _split_options(line):
    if line.startswith(("ssh-", "ecdsa-", "sk-")):
        return {}, line
    options = {}
    i = 0
    name = ""
    while i < len(line):
        char = line[i]
        if char == "=":
            i += 1
            if line[i] != '"':
                raise ValueError("unquoted option value in %r" % line)
            i += 1
            value = ""
            while line[i] != '"':
                if line[i] == "\\" and line[i + 1] == '"':
                    i += 1
                value += line[i]
                i += 1
            options[name] = value
            name = ""
            i += 1
            continue
        if char == ",":
            if name:
                options[name] = True
            name = ""
        elif char == " ":
            if name:
                options[name] = True
            return options, line[i + 1:]
        else:
            name += char
        i += 1
    raise ValueError("no key in %r" % line)


class _Session(paramiko.ServerInterface):
    def __init__(self, server, client_address):
        self.server = server
        self.client_address = client_address
        self.entry = None

    def get_allowed_auths(self, username):
        return "publickey"

    def check_auth_publickey(self, username, key):
        if username != self.server.user:
            return paramiko.AUTH_FAILED
        for options, key_type, blob in self.server.entries:
            if key.get_name() == key_type and key.get_base64() == blob:
                self.entry = options
                return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_channel_request(self, kind, chanid):
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_pty_request(self, *args):
        return False  # restrict implies no-pty

    def check_channel_env_request(self, channel, name, value):
        return False

    def check_channel_x11_request(self, *args):
        return False

    def check_channel_forward_agent_request(self, channel):
        return False

    def check_port_forward_request(self, address, port):
        return False

    def check_channel_exec_request(self, channel, command):
        return self._start(channel, command.decode("utf-8", "replace"))

    def check_channel_shell_request(self, channel):
        return self._start(channel, None)

    def check_channel_subsystem_request(self, channel, name):
        if name != "sftp":
            return False
        return self._start(channel, SFTP_SUBSYSTEM)

    def _start(self, channel, original_command):
        forced = self.entry.get("command") if self.entry else None
        if not forced:
            return False
        client = "%s %d %d" % (self.client_address[0], self.client_address[1], self.server.port)
        env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "SSH_CLIENT": client}
        if original_command is not None:
            env["SSH_ORIGINAL_COMMAND"] = original_command
        self.server.requests.append(original_command)
        command = forced + self.server.command_suffix
        thread = threading.Thread(target=_run, args=(channel, command, env), daemon=True)
        thread.start()
        return True


def _run(channel, command, env):
    proc = subprocess.Popen(["/bin/sh", "-c", command], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)

    def pump_in():
        try:
            while True:
                data = channel.recv(65536)
                if not data:
                    break
                proc.stdin.write(data)
                proc.stdin.flush()
        except (OSError, EOFError):
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def pump_out(stream, send):
        while True:
            data = os.read(stream.fileno(), 65536)
            if not data:
                break
            send(data)

    threads = [threading.Thread(target=pump_in, daemon=True),
               threading.Thread(target=pump_out, args=(proc.stdout, channel.sendall), daemon=True),
               threading.Thread(target=pump_out, args=(proc.stderr, channel.sendall_stderr),
                                daemon=True)]
    for thread in threads:
        thread.start()
    threads[1].join()
    threads[2].join()
    status = proc.wait()
    channel.send_exit_status(status)
    channel.shutdown_write()
    channel.close()


class ForcedCommandServer(object):
    """Serve SSH on 127.0.0.1 (random port) until ``stop()``."""

    def __init__(self, authorized_keys, host_key, user="kdumprecv", command_suffix=""):
        self.entries = parse_authorized_keys(authorized_keys)
        self.host_key = host_key
        self.user = user
        self.command_suffix = command_suffix
        self.requests = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.transports = []
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                conn, address = self.sock.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            self.transports.append(transport)
            try:
                transport.start_server(server=_Session(self, address))
            except (paramiko.SSHException, EOFError, OSError):
                transport.close()

    def stop(self):
        self.running = False
        self.sock.close()
        for transport in self.transports:
            transport.close()
