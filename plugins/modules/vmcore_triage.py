#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: vmcore_triage
short_description: Triage a kernel crash from the kernel log saved with a vmcore
version_added: 0.1.0
description:
  - Reads the kernel log of a crashed kernel and tells what crashed, where, and a stable
    signature to group the same crash across hosts, times and kernel builds.
  - "Accepted logs: kdump-tools' C(dmesg.<stamp>) and C(makedumpfile --dump-dmesg) output, RHEL's
    C(vmcore-dmesg.txt), serial or netconsole captures (also behind a hypervisor's relay tag such
    as C([guest0/uart0])), syslog and journal files in any language. Lines may carry a syslog or
    journal head, a C(<4>) level, a C([   12.345678]) or C(dmesg -T) timestamp, a printk caller
    id, or none of these; lines of another task interleaved with the report are skipped."
  - "Reports of x86-64, i686, arm64, ARM, powerpc, s390x and RISC-V kernels from 2.6 to 7.x are
    read; C(docs/triage.md) lists every format with an example."
  - The log is read line by line in bounded chunks (lines cut at 4096 characters); only the
    lines around the crash are kept, so large logs cost time, not memory, and the time is
    linear in the log's size whatever it holds.
  - "A crash is a C(Kernel panic - not syncing:) line, an oops (NULL dereference, paging
    request, C(kernel BUG at), general protection fault, double fault, any C(... [#1]) die
    line) or the remains of a crash the module does not know (a C(Modules linked in:) dump,
    C(Kernel Offset:) or C(---[ end Kernel panic) outside any known report), reported as
    RV(kind=unknown)."
  - "Warnings, sanitizer reports (KASAN, KFENCE, KMSAN, KCSAN, UBSAN), soft and hard lockups, RCU
    stalls, hung tasks, OOM kills, machine checks and unknown NMIs are events; they are the
    cause when the panic that follows names them (for example C(panic_on_warn set),
    C(softlockup: hung tasks) or C(hung_task: blocked tasks)). A memory sanitizer report
    (KASAN, KFENCE, KMSAN) before a crash is the crash's cause."
  - A log without any crash makes the task fail and names the non-fatal events it found.
  - The record describes the first crash of the log; later oopses are usually consequences of
    it. RV(events) lists them all.
  - "Runs on the managed host, or on the controller with C(delegate_to: localhost) for logs
    collected there."
author:
  - crashkit maintainers (@crashkit)
extends_documentation_fragment:
  - crashkit.kdump.attributes
  - crashkit.kdump.attributes.info_module
options:
  dmesg_path:
    description:
      - Path of the kernel log file.
      - Mutually exclusive with O(bundle); one of them is required.
    type: path
  bundle:
    description:
      - Path of a crash dump directory (for example C(/var/crash/202405140312) of kdump-tools or
        C(/var/crash/127.0.0.1-2024-05-14-03:12:45) of RHEL kdump).
      - The log used is C(vmcore-dmesg.txt), else C(dmesg.txt), else the newest C(dmesg.*).
      - Mutually exclusive with O(dmesg_path); one of them is required.
    type: path
notes:
  - "The signature is the first 16 hex digits of the SHA-1 of RV(signature_text): kind,
    canonical reason (the same wording on every kernel version, with addresses, CPU numbers,
    PIDs, durations, task names and source line numbers left out) and, except for kinds
    C(sysrq), C(oom), C(mce), C(nmi), C(vfs_root) and C(kill_init), the RV(culprit) and its
    module. The frames below the culprit, kernel release and build, taint, host, time, command,
    PID, CPU, addresses and log prefixes are not part of it: the same bug groups together
    across hosts, callers and kernel releases, and RV(kernel_release) tells them apart. When
    the log names no function at all, the command without its numbers stands in for the
    culprit."
  - Frames the kernel prints with C(?) (stale return addresses found on the stack) are left out
    of RV(call_trace) and of the culprit search, unless the trace has no other frames.
seealso:
  - name: kdump-tools
    description: Debian's kdump tooling, which saves C(dmesg.<stamp>) next to the dump.
    link: https://salsa.debian.org/debian/kdump-tools
"""

EXAMPLES = r"""
- name: Triage the newest crash dump of a host
  crashkit.kdump.vmcore_triage:
    bundle: /var/crash/202405140312
  register: crash

- name: Show what crashed
  ansible.builtin.debug:
    msg: "{{ crash.kind }} in {{ crash.function }} ({{ crash.signature }}): {{ crash.panic_reason }}"

- name: Triage a log collected on the controller
  crashkit.kdump.vmcore_triage:
    dmesg_path: "{{ playbook_dir }}/crashes/web-07/vmcore-dmesg.txt"
  delegate_to: localhost
"""

RETURN = r"""
source:
  description: The kernel log file that was read.
  returned: success
  type: str
  sample: /var/crash/202405140312/dmesg.202405140312
kind:
  description:
    - What kind of crash it is.
    - C(warning) is a warning escalated by C(panic_on_warn), C(sanitizer) a KASAN, KFENCE,
      KMSAN, KCSAN or UBSAN report that caused the crash, C(stack_overflow) a double fault or
      stack guard page hit, C(nmi) an NMI the kernel could not attribute.
    - C(unknown) is a crash whose report the module does not recognise.
  returned: success
  type: str
  choices: [sysrq, null_deref, bug, oops, gpf, stack_overflow, sanitizer, warning, soft_lockup,
            hard_lockup, rcu_stall, hung_task, oom, mce, nmi, vfs_root, kill_init, panic,
            unknown]
  sample: null_deref
panic_reason:
  description:
    - The text after C(Kernel panic - not syncing:), as printed; the crash headline when the
      log has no panic line (an oops captured by kdump before any panic).
  returned: success
  type: str
  sample: "Fatal exception"
headline:
  description: The line that reports the crash (or the event the panic names), as printed.
  returned: success
  type: str
  sample: "BUG: kernel NULL pointer dereference, address: 0000000000000010"
function:
  description:
    - Where the kernel was, without offset and compiler suffixes such as C(.cold).
    - From the faulting instruction (C(RIP), C(pc :), C(PC is at), C(EIP is at), C(NIP),
      C(epc :), C(Krnl PSW); also such a line inside the call trace after the reporting frames,
      as a warning escalated by C(panic_on_warn) or a lockup panic prints it), the function a
      sanitizer or C(stack-protector) report names, else the first frame of the call trace that
      is not a reporting or exception helper (for hung tasks, not a scheduler wait).
    - Null when the log holds neither (for example a machine check).
  returned: success
  type: str
  sample: mydrv_fill_buffer
module:
  description: The kernel module of RV(function), when it is in one.
  returned: success
  type: str
  sample: mydrv
culprit:
  description:
    - The guilty frame, what the signature is keyed on. From RV(function) on, the first frame
      that is not a reporting, checking, library, locking, instrumentation or scheduler helper
      (a fault in C(memcpy) or a failed list check is the caller's bug).
    - For a hung task, what the task waits for; for a soft lockup or RCU stall, the operation
      the CPU loops in (its outermost frame that is not entry or dispatch code), unless it waits
      in C(smp_call_function) or C(synchronize_rcu); for a stack overflow, the base of the deep
      call chain.
    - Syscall entry names are one (C(__x64_sys_open), C(__se_sys_open) and C(SyS_open) are
      C(sys_open)).
    - Null when the log names no function.
  returned: success
  type: str
  sample: mydrv_fill_buffer
culprit_module:
  description: The kernel module of RV(culprit), when it is in one.
  returned: success
  type: str
  sample: mydrv
taint:
  description: Taint flags (C(G) is not a taint and is left out); empty when not tainted.
  returned: success
  type: list
  elements: str
  sample: [O, E]
taint_raw:
  description: The taint field as printed (C(Not tainted) or the flags column).
  returned: success
  type: str
  sample: "G           OE"
comm:
  description: The command of the task that crashed (for hung tasks, of the blocked task).
  returned: success
  type: str
  sample: cat
pid:
  description: The PID of that task.
  returned: success
  type: int
  sample: 4211
cpu:
  description: The CPU that reported the crash.
  returned: success
  type: int
  sample: 3
kernel_release:
  description: The running kernel release.
  returned: success
  type: str
  sample: 6.1.0-18-amd64
kernel_build:
  description: The build string, from the boot C(Linux version) line when the log has it.
  returned: success
  type: str
  sample: "#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)"
hardware:
  description: The C(Hardware name) (DMI) of the machine.
  returned: success
  type: str
  sample: "QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 04/01/2014"
call_trace:
  description: Function names of the crash's call trace in order, without offsets and without
    unreliable C(?) frames.
  returned: success
  type: list
  elements: str
  sample: [mydrv_read, vfs_read, ksys_read, do_syscall_64, entry_SYSCALL_64_after_hwframe]
signature:
  description: Stable crash signature (16 hex digits) to group the same crash by.
  returned: success
  type: str
  sample: f5210f3eabf21dc3
signature_text:
  description: The text the signature is the hash of.
  returned: success
  type: str
  sample: "kind=null_deref | reason=kernel NULL pointer dereference
    | culprit=mydrv_fill_buffer [mydrv]"
line:
  description: Line number of RV(headline) in the log.
  returned: success
  type: int
  sample: 8
host:
  description: The host named by the syslog prefix of the crash lines, when the log has one.
  returned: success
  type: str
  sample: web-07
crash_time:
  description: Wall clock time of the crash when the log carries one (syslog or C(dmesg -T)).
  returned: success
  type: str
  sample: "2024-05-14T03:12:45.118850+02:00"
events:
  description: Every crash report and notable event of the log, in order (at most 200).
  returned: success
  type: list
  elements: dict
  contains:
    kind:
      description: C(panic) for a panic line, C(warning) for warnings and non-fatal BUG
        reports, C(sanitizer) for sanitizer reports, otherwise a crash or event kind.
      type: str
    line:
      description: Line number.
      type: int
    text:
      description: The headline as printed.
      type: str
    fatal:
      description: Whether the event is a crash by itself (a panic or an oops).
      type: bool
  sample:
    - {kind: soft_lockup, line: 4, text: "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kworker/1:1:97]", fatal: false}
    - {kind: panic, line: 44, text: "Kernel panic - not syncing: softlockup: hung tasks", fatal: true}
event_count:
  description: Number of events, also those beyond the 200 listed.
  returned: success
  type: int
  sample: 2
excerpt:
  description: The log lines around the crash (a few before the headline, up to 120 after).
  returned: success
  type: list
  elements: str
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.crashkit.kdump.plugins.module_utils._module import domain_errors
from ansible_collections.crashkit.kdump.plugins.module_utils._triage import (
    find_bundle_log,
    triage_file,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            dmesg_path=dict(type="path"),
            bundle=dict(type="path"),
        ),
        mutually_exclusive=[("dmesg_path", "bundle")],
        required_one_of=[("dmesg_path", "bundle")],
        supports_check_mode=True,
    )
    with domain_errors(module):
        path = module.params["dmesg_path"]
        if path is None:
            path = find_bundle_log(module.params["bundle"])
        record = triage_file(path)
    module.exit_json(changed=False, source=path, **record)


if __name__ == "__main__":
    main()
