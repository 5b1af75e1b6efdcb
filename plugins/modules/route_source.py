#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: route_source
short_description: The address a server sees this host connect from
version_added: 0.1.0
description:
  - Returns RV(source_address), the local address of this host's route to O(server) - the
    source address the kernel picks for a datagram socket connected to the server's first
    address (the one C(getent ahosts) lists first), as C(ip route get) shows it. That is the
    address the server sees as this client's.
  - Only a route lookup; nothing is sent to the server and nothing on the host changes.
  - Why it exists - the C(crashkit.kdump.dump_server) role exports each client's NFS directory
    only to the address that client connects from; the C(crashkit.kdump.setup) role runs this
    module on NFS clients before the dump server play, which exports each directory to the
    address found here.
  - A server name that does not resolve always fails. When there is no route to the server, the
    module fails naming it, unless O(required=false); then RV(source_address) is empty.
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.info_module
options:
  server:
    description:
      - The server, a host name or an address, spelled as this host reaches it (for an NFS target,
        its C(kdump_target.host)).
    type: str
    required: true
  port:
    description:
      - The server's port (1 to 65535); NFS's by default. Routes do not depend on it; it is given
        to the name lookup.
    type: int
    default: 2049
  required:
    description:
      - Fail when there is no route to O(server). With V(false), RV(source_address) is empty
        instead (the caller then cannot restrict the server to this host's address).
    type: bool
    default: true
notes:
  - Behind network address translation between this host and the server, the server sees the
    translated address, not the one returned.
  - The IPv6 zone of a link-local address (C(%eth0)) is left out.
seealso:
  - module: crashkit.kdump.dump_key
"""

EXAMPLES = r"""
- name: The address the NFS dump server sees this client connect from
  crashkit.kdump.route_source:
    server: dumps.example.net
  register: nfs_source

- name: Show it
  ansible.builtin.debug:
    msg: "dumps.example.net exports this host's directory to {{ nfs_source.source_address }}"

- name: An empty address instead of a failure when there is no route
  crashkit.kdump.route_source:
    server: 192.0.2.10
    port: 2049
    required: false
  register: nfs_source
"""

RETURN = r"""
source_address:
  description:
    - The local address of this host's route to O(server) (its first address), what the server
      sees as this client's address.
    - Empty when there is no route to it and O(required=false).
  returned: always
  type: str
  sample: 192.0.2.10
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils import _dumpkey
from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, ValidationError
from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors


def run(params):
    server, port = params["server"], params["port"]
    if not server:
        raise ValidationError("server must be a host name or an address, got an empty string")
    if not 1 <= port <= 65535:
        raise ValidationError("port must be 1 to 65535, got %s" % port)
    address = _dumpkey.source_address(server, port)
    if not address and params["required"]:
        raise HostError("no route from this host to the server %r (port %s): the server cannot be"
                        " told which address this host connects from; fix the routing, or set"
                        " required=false to get an empty source_address" % (server, port))
    return dict(changed=False, source_address=address)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            server=dict(type="str", required=True),
            port=dict(type="int", default=2049),
            required=dict(type="bool", default=True),
        ),
        supports_check_mode=True,
    )
    with domain_errors(module):
        result = run(module.params)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
