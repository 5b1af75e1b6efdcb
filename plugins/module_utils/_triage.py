# -*- coding: utf-8 -*-
# Copyright: crashkit.kdump contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
#
# This module_utils is PRIVATE to the crashkit.kdump collection. It may change without notice.
"""Crash triage of a kernel log: what crashed, where, who is to blame, and a signature.

Input is the kernel log of a crashed kernel as saved next to a vmcore (kdump-tools'
``dmesg.<stamp>``, ``makedumpfile --dump-dmesg``, RHEL's ``vmcore-dmesg.txt``), a serial or
netconsole capture, a console relayed by a hypervisor, or a syslog/journal file. docs/triage.md
lists the report formats understood, with an example of each.

Reading (bounded memory, linear time)
    The log is read front to back in chunks of lines (``iter_log_chunks``: at most
    ``CHUNK_CHARS`` characters, lines cut at ``MAX_LINE``). A chunk is first searched as one
    string for the few words every headline contains (``str.find``, no pattern), so ordinary
    lines never reach Python code. A headline opens a *block*: the line, ``EXCERPT_BEFORE``
    lines before it and up to ``BLOCK_SPAN`` lines / ``BLOCK_CHARS`` characters after it. Only
    the blocks that can still decide the triage are kept (the first crash, the first sanitizer
    report, the latest report of each kind a panic can name, the first panic), so a 100 MB log
    costs time, not memory. Every pattern here is linear in its input: no nested or adjacent
    quantifiers that can match the same text, lengths bounded, and the variable parts of lines
    split with string methods.

Line prefixes
    A syslog or journal head (ISO or ``Mon DD HH:MM:SS`` time in any language, host, tag), a
    ``<4>`` level, a ``[   12.345678]`` or ``[Tue May 14 03:12:45 2024]`` timestamp, a printk
    caller id (``[    T1]``, ``[ C0]``, also glued: ``[ 1.2][ T1]``) are all optional and
    stripped. A console relay's tag (``[guest0/uart0] ``, ``UART: ``) is learned from the line
    that carries a crash headline and stripped from the lines after it. Lines with a caller id
    other than the report's are another task's, interleaved: they are skipped, not read as the
    end of the call trace.

What counts as a crash
    A ``Kernel panic - not syncing:`` line, an oops (NULL dereference, paging request, ``kernel
    BUG at``, general protection fault, double fault / stack overflow, ARM and arm64 ``Internal
    error``/``Unhandled fault``/``Bad mode``, powerpc, s390 and RISC-V die lines: any
    ``...: <code> [#1]`` line), or the traces of a crash of unknown shape (a ``Modules linked
    in:`` dump, ``Kernel Offset:`` or ``---[ end Kernel panic`` outside any report). Warnings,
    sanitizer reports (KASAN, KFENCE, KMSAN, KCSAN, UBSAN), soft and hard lockups, RCU stalls,
    hung tasks, OOM kills, machine checks and unknown NMIs are *events*: they are the cause when
    the panic that follows names them (``panic_on_warn set``, ``softlockup: hung tasks``,
    ``hung_task: blocked tasks``, ``Hard LOCKUP``, ``RCU Stall``, ``System is deadlocked on
    memory``, ``Fatal machine check``, ``NMI: Not continuing``...). A memory-safety sanitizer
    report (KASAN, KFENCE, KMSAN) before the crash is the crash's cause. A log with events but
    no crash raises ``ParseError`` naming what it found. The record describes the first crash of
    the log (later oopses are usually fallout); ``events`` lists them all.

Where and who
    ``function`` is where the kernel was: the faulting instruction's function (``RIP``, ``pc :``,
    ``PC is at``, ``EIP is at``, ``NIP``, ``epc :``, ``Krnl PSW``, also such a line *inside* the
    call trace after the reporting frames, as a warning escalated by ``panic_on_warn`` or a
    lockup panic prints it), else the first call trace frame that is not a reporting helper
    (``dump_stack``, ``panic``, ``__warn``, exception entry...). ``culprit`` is the guilty
    frame: from ``function`` on, the first frame that is not a reporting, checking, library,
    locking, instrumentation or scheduler helper (the tables below), with syscall entry names
    made one (``__x64_sys_open``, ``__se_sys_open``, ``sys_open``... are ``sys_open``). For a
    hung task it is what the task waits for; for a sanitizer report the function named in the
    report; for ``stack-protector`` the function the panic names.

Signature (``signature``, ``signature_text``)
    SHA-1 of ``kind``, a canonical reason (per kind a fixed wording that is the same on every
    kernel version: ``kernel NULL pointer dereference``, ``kernel BUG at <file>``, ``WARNING at
    <file>``, ``KASAN: use-after-free``; for panics the panic text with addresses, numbers and
    task names replaced) and, for kinds where the code path is the bug, the culprit and its
    module. Left out on purpose: the frames below the culprit (the same bug reached from two
    callers is one bug), the faulting helper when it is a library function, kernel release and
    build, taint, host, time, command, PID, CPU, addresses and log prefixes. ``sysrq``, ``oom``,
    ``mce``, ``nmi``, ``vfs_root`` and ``kill_init`` are keyed on their reason alone. The first
    16 hex digits of the SHA-1 are the signature.

Frames printed with ``?`` (stale return addresses on x86) and the powerpc/s390 frames marked
unreliable are left out of ``call_trace`` and of the culprit search, unless a trace has no
other frames.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import codecs
import collections
import datetime
import hashlib
import io
import os
import re
import stat

from ansible_collections.crashkit.kdump.plugins.module_utils._errors import HostError, ParseError
from ansible_collections.crashkit.kdump.plugins.module_utils._hostread import Refused, open_regular

KINDS = (
    "sysrq", "null_deref", "bug", "oops", "gpf", "stack_overflow", "sanitizer", "warning",
    "soft_lockup", "hard_lockup", "rcu_stall", "hung_task", "oom", "mce", "nmi", "vfs_root",
    "kill_init", "panic", "unknown",
)
# Reports that are a crash by themselves (an oops: the kernel kills the task or panics).
OOPS_KINDS = frozenset(("null_deref", "bug", "oops", "gpf", "stack_overflow"))
# Kinds whose signature is their reason alone: the call path is incidental.
PATH_INSENSITIVE_KINDS = frozenset(("sysrq", "oom", "mce", "nmi", "vfs_root", "kill_init"))
# Sanitizer reports that find memory corruption before it crashes: when one precedes the crash,
# it is the crash's cause.
_MEMORY_SANITIZER_HEADS = ("BUG: KASAN:", "BUG: KFENCE:", "BUG: KMSAN:")

MAX_FRAMES = 64
MAX_EVENTS = 200
MAX_LINE = 4096
MAX_NAME = 256
CHUNK_CHARS = 1 << 18
CHUNK_LINES = 4096
BLOCK_SPAN = 400
BLOCK_CHARS = 1 << 16
EXCERPT_BEFORE = 10
EXCERPT_AFTER = 120
# How far after an oops headline its die line ("Internal error: Oops: ... [#1]") may come:
# arm64 kernels from 6.10 print about 15 lines of abort information in between.
DIE_ATTACH_LINES = 40
# A warning printed this close after a stall or lockup report is part of that report (a WARN
# hit while printing it), not a crash of its own.
NESTED_LINES = 20

# Names of the files a kdump bundle directory may hold the kernel log in, by preference.
BUNDLE_NAMES = ("vmcore-dmesg.txt", "dmesg.txt")

# --- frames that are not the culprit -------------------------------------------------------
#
# Written from the kernel's own structure (reporting, exception entry, debugging and sanitizer
# hooks, library, locking and scheduler code); tuned against real reports (tests). A name ends
# with '*' for a prefix.


def _names(text):
    exact, prefixes = set(), []
    for word in text.split():
        if word.endswith("*"):
            prefixes.append(word[:-1])
        else:
            exact.add(word)
    return frozenset(exact), tuple(prefixes)


# Printing the report, panicking, trapping into the report (exception entry on every
# architecture), and the interrupt, NMI and watchdog paths a lockup or stall report runs on.
_REPORT = _names("""
dump_stack dump_stack_lvl __dump_stack show_stack show_stack_log_lvl show_trace_log_lvl
show_trace show_regs __show_regs show_regs_print_info dump_backtrace walk_stackframe
arch_stack_walk unwind_backtrace print_stack_trace printk_stack_address stack_trace_print
panic vpanic nmi_panic __warn warn_slowpath_fmt warn_slowpath_null warn_slowpath_common
__warn_printk report_bug handle_bug fixup_bug check_panic_on_warn die __die __die_body oops_end
oops_exit do_trap do_trap_no_signal do_error_trap do_invalid_op invalid_op exc_invalid_op
asm_exc_invalid_op page_fault_oops no_context __bad_area_nosemaphore bad_area_nosemaphore
bad_area bad_area_access_error kernelmode_fixup_or_oops do_user_addr_fault do_kern_addr_fault
__do_page_fault do_page_fault ___do_page_fault exc_page_fault asm_exc_page_fault page_fault
do_general_protection exc_general_protection asm_exc_general_protection general_protection
do_divide_error exc_divide_error asm_exc_divide_error divide_error do_stack_segment
exc_stack_segment asm_exc_stack_segment stack_segment do_int3 exc_int3 asm_exc_int3 int3
do_double_fault exc_double_fault asm_exc_double_fault double_fault handle_stack_overflow
do_debug exc_debug asm_exc_debug do_int3_user
watchdog_timer_fn watchdog_overflow_callback watchdog_hardlockup_check watchdog_buddy_check_hardlockup
__perf_event_overflow perf_event_overflow perf_event_nmi_handler intel_pmu_handle_irq
x86_pmu_handle_irq amd_pmu_handle_irq armv8pmu_handle_irq armpmu_dispatch_irq nmi_handle
handle_pmi_common
default_do_nmi do_nmi exc_nmi asm_exc_nmi end_repeat_nmi repeat_nmi first_nmi nmi
unknown_nmi_error nmi_cpu_backtrace nmi_trigger_cpumask_backtrace arch_trigger_cpumask_backtrace
nmi_cpu_backtrace_handler trigger_all_cpu_backtrace rcu_dump_cpu_stacks print_cpu_stall
print_other_cpu_stall check_cpu_stall rcu_pending rcu_sched_clock_irq rcu_check_callbacks
update_process_times tick_sched_handle tick_sched_timer tick_nohz_handler
__hrtimer_run_queues hrtimer_interrupt hrtimer_run_queues local_apic_timer_interrupt
smp_apic_timer_interrupt apic_timer_interrupt __sysvec_apic_timer_interrupt
sysvec_apic_timer_interrupt asm_sysvec_apic_timer_interrupt asm_call_on_stack
asm_call_irq_on_stack asm_call_sysvec_on_stack call_on_stack run_sysvec_on_irqstack_cond
irq_exit irq_exit_rcu __irq_exit_rcu smp_call_function_interrupt
mce_panic do_machine_check exc_machine_check asm_exc_machine_check machine_check
die_kernel_fault __do_kernel_fault do_translation_fault do_mem_abort do_sea do_bad_area
el1_abort el1_da el1_ia el1_pc el1_undef el1_inv el1_dbg el1_sync el1_sync_handler
el1h_64_sync el1h_64_sync_handler el1h_64_error el1h_64_error_handler el1_error
arm64_serror_panic do_serror bad_mode bug_handler call_break_hook brk_handler do_el1_brk64
el1_brk64 do_debug_exception early_brk64 do_undefinstr do_el1_undef
el1_interrupt el1h_64_irq el1h_64_irq_handler el1_irq gic_handle_irq handle_domain_irq
do_DataAbort __dabt_svc do_PrefetchAbort __pabt_svc __und_svc __irq_svc do_sect_fault
program_check_exception program_check_common program_check_common_virt bad_page_fault
__bad_page_fault handle_page_fault data_access_common data_access_common_virt
instruction_access_common instruction_access_common_virt _exception _exception_pkey
do_report_trap do_no_context do_low_address do_dat_exception do_exception pgm_check_handler
__do_pgm_check monitor_event_exception illegal_op do_trap_break do_trap_insn_illegal
handle_exception do_trap_ecall_u do_trap_load_fault do_trap_store_fault
watchdog kthread ret_from_fork ret_from_fork_asm ret_from_kernel_thread kernel_thread_helper
hpwdt_pretimeout io_check_error pci_serr_error __panic panic_saved_regs __do_softirq do_softirq do_softirq_own_stack irq_exit
do_IRQ handle_irq common_interrupt asm_common_interrupt ret_from_intr retint_kernel
arch_timer_handler_virt arch_timer_handler_phys handle_percpu_devid_irq generic_handle_irq
generic_handle_domain_irq __handle_domain_irq do_handle_IPI handle_IPI ipi_handler
__reiserfs_panic reiserfs_panic assertfail btrfs_assertfail skb_panic skb_over_panic
skb_under_panic rust_helper_BUG __schedule_bug try_invoke_on_locked_down_task rcu_print_task_stall
""")

# Checking, debugging and sanitizer hooks: they notice the bug, they are not it.
_CHECK = _names("""
kasan_* __kasan_* ____kasan_* check_memory_region* __asan_* __hwasan_* __msan_* kmsan_*
__kmsan_* __tsan_* kcsan_* __kcsan_* __ubsan_* ubsan_* __sanitizer_* kfence_* __kfence_*
print_address_description print_report end_report start_report report_access
__check_object_size check_object_size check_heap_object __check_heap_object check_stack_object
usercopy_abort usercopy_warn report_usercopy check_bogus_address __check_sticky_bit
fortify_panic __fortify_panic fortify_report __fortify_report __stack_chk_fail
__list_add_valid __list_del_entry_valid __list_add_valid_or_report
__list_del_entry_valid_or_report __list_add __list_del_entry
refcount_* __refcount_* ex_handler_refcount
lock_acquire __lock_acquire lock_release __lock_release lock_is_held __lock_is_held
lock_acquired lock_contended validate_chain check_noncircular check_prev_add check_prevs_add
mark_lock mark_usage mark_held_locks print_usage_bug print_circular_bug register_lock_class
look_up_lock_class hlock_class lockdep_* __lockdep_* debug_lockdep_rcu_enabled
trace_hardirqs_on trace_hardirqs_off trace_hardirqs_on_caller trace_hardirqs_off_caller
trace_hardirqs_on_thunk trace_hardirqs_off_thunk
__might_sleep ___might_sleep __might_resched __might_fault might_fault __cant_sleep
debug_object_* __debug_object_* debug_print_object debug_check_no_obj_freed
__debug_check_no_obj_freed debug_objects_* debug_check_no_locks_freed
should_fail should_failslab should_fail_alloc_page __should_failslab fail_dump
write_comp_data stack_trace_save stack_trace_save_tsk save_stack save_stack_trace
save_stack_trace_tsk __save_stack_trace set_track set_track_prepare kobject_get kobject_put
__warn_printk warn_bogus_irq_restore __virt_to_phys debug_print_object
timer_is_static_object lock_downgrade reacquire_held_locks lock_set_class __lock_set_class
check_flags perf_trace_lock* trace_lock_* __seqprop_assert __x86_indirect_thunk_*
__x86_return_thunk unwind_* __unwind_start arch_stack_walk stack_trace_consume_entry
kasan_save_stack memory_is_poisoned* print_hex_dump hex_dump_to_buffer ref_tracker_*
kobject_add_internal kobject_add kobject_init_and_add kobject_uevent kobject_uevent_env
__kobject_del kobject_del kobject_cleanup kobject_release add_uevent_var kref_put kref_get
""")

# Library: string, memory, format and copy routines, the allocator and page allocator.
_LIBRARY = _names("""
memcpy memmove memset memcmp bcmp __memcpy __memmove __memset memcpy_erms memcpy_orig
memset_erms memset_orig memmove_orig __memcpy_mcsafe memcpy_toio memcpy_fromio memchr
memchr_inv memscan __memcpy_flushcache memcpy_flushcache
strlen strnlen strcmp strncmp strcpy strncpy strlcpy strscpy strscpy_pad sized_strscpy strcat
strncat strlcat strchr strrchr strnchr strchrnul strstr strnstr strsep strspn strcspn strpbrk
strcasecmp strncasecmp __strlen __strnlen
vsnprintf snprintf sprintf scnprintf vscnprintf vsprintf kasprintf kvasprintf format_decode
string_nocheck widen_string pointer_string string pointer number devm_kvasprintf
devm_kasprintf kvasprintf_const
copy_user_generic_unrolled copy_user_generic_string copy_user_enhanced_fast_string
copy_user_handle_tail rep_movs_alternative rep_stos_alternative _copy_to_user _copy_from_user
__copy_to_user __copy_from_user raw_copy_to_user raw_copy_from_user copy_to_user
copy_from_user __copy_user_nocache __arch_copy_from_user __arch_copy_to_user
__copy_from_user_inatomic strncpy_from_user strnlen_user __clear_user clear_user
_copy_from_iter _copy_to_iter copy_page_to_iter copy_page_from_iter copyin copyout
csum_partial_copy_generic
kmalloc __kmalloc __kmalloc_node __kmalloc_track_caller __kmalloc_node_track_caller
kmalloc_trace kmalloc_node_trace kmalloc_slab kmalloc_large kmalloc_large_node
__kmalloc_large_node kmalloc_order kmalloc_order_trace __kmalloc_noprof
__kmalloc_node_noprof __kmalloc_cache_noprof __kmalloc_node_track_caller_noprof
kmalloc_trace_noprof kzalloc kcalloc kmalloc_array krealloc __krealloc krealloc_noprof
kvmalloc kvmalloc_node kvmalloc_node_noprof __kvmalloc_node_noprof kvzalloc kvfree kfree
kfree_sensitive kzfree kmem_cache_alloc kmem_cache_alloc_trace kmem_cache_alloc_node
kmem_cache_alloc_node_trace kmem_cache_alloc_lru kmem_cache_alloc_noprof
kmem_cache_alloc_lru_noprof kmem_cache_alloc_node_noprof kmem_cache_free kmem_cache_zalloc
slab_alloc slab_alloc_node __slab_alloc ___slab_alloc __slab_alloc_node slab_free
__slab_free do_slab_free slab_free_freelist_hook slab_free_hook slab_post_alloc_hook
slab_pre_alloc_hook cache_alloc_refill ____cache_alloc __cache_free ___cache_free
cache_free_debugcheck __do_kmalloc __do_kmalloc_node free_debug_processing
alloc_debug_processing check_slab check_object on_freelist
vmalloc vzalloc __vmalloc __vmalloc_node __vmalloc_node_range __vmalloc_node_range_noprof
vfree vunmap kmemdup kmemdup_nul kstrdup kstrndup kstrdup_const memdup_user strndup_user
__vunmap vfree_atomic __kmem_cache_alloc* __alloc_pages* alloc_pages* __get_free_pages
get_zeroed_page free_pages __free_pages __free_pages_ok free_pages_ok free_unref_page*
__folio_alloc* folio_alloc* folio_unlock unlock_page
list_del list_add list_add_tail list_del_init __rb_insert_augmented __rb_erase_color rb_erase
rb_insert_color rb_next rb_prev rb_first rb_last rb_replace_node jhash jhash2 crc16 crc32_le
crc32_be __crc32c_le crc32c rhashtable_* __rhashtable_* rht_* xas_* xa_* __xa_* idr_* ida_*
radix_tree_* klist_* bitmap_* __bitmap_* find_next_bit _find_next_bit find_first_bit llist_*
init_timer_key __init_timer* mod_timer __mod_timer add_timer add_timer_on del_timer
del_timer_sync try_to_del_timer_sync timer_delete* __timer_delete* hrtimer_start_range_ns
hrtimer_cancel hrtimer_try_to_cancel call_rcu __call_rcu __call_rcu_common kfree_call_rcu
kvfree_call_rcu queue_work_on __queue_work queue_delayed_work_on __queue_delayed_work
mod_delayed_work_on __cancel_work_timer __cancel_work cancel_work_sync cancel_delayed_work_sync
flush_work __flush_work flush_workqueue __flush_workqueue drain_workqueue flush_delayed_work
kthread_stop kthread_park __wake_up __wake_up_common __wake_up_common_lock wake_up_process
try_to_wake_up autoremove_wake_function default_wake_function __wake_up_sync_key wake_up_bit
__wake_up_bit complete complete_all
device_add device_del device_unregister device_register device_release_driver_internal
device_release_driver __device_release_driver bus_remove_device get_device_parent
put_device get_device devres_release_all sysfs_remove_group sysfs_create_group
internal_create_group sysfs_warn_dup sysfs_create_dir_ns sysfs_remove_file_ns
sysfs_create_file_ns proc_register proc_create_data proc_create proc_mkdir proc_mkdir_data
remove_proc_entry rollback_registered_many rollback_registered unregister_netdevice_many
unregister_netdevice_many_notify unregister_netdevice_queue kfree_skb kfree_skb_reason
consume_skb __kfree_skb drop_nlink inc_nlink clear_nlink set_nlink usb_submit_urb
usb_start_wait_urb usb_bulk_msg usb_interrupt_msg usb_control_msg usb_kill_urb
cleanup_srcu_struct _cleanup_srcu_struct init_srcu_struct call_rcu_* unregister_netdev
unregister_netdevice dpm_sysfs_remove device_for_each_child __unregister_client
i2c_del_adapter skb_put skb_push skb_pull __skb_put try_to_grab_pending device_release
memdup_user_nul alloc_page_interleave insert_work __try_to_del_timer_sync find_lock_entries
find_get_entries truncate_inode_pages_range truncate_inode_pages_final truncate_inode_pages
rb_erase_cached rb_insert_color_cached __raw_readb __raw_readw __raw_readl __raw_readq
__raw_writeb __raw_writew __raw_writel __raw_writeq readb readw readl readq writeb writew
writel writeq ioread8 ioread16 ioread32 iowrite8 iowrite16 iowrite32 __read_once_word_nocheck
__phys_addr destroy_workqueue
""")

# Locking primitives (the lock a task waits for is named by the caller that takes it).
_LOCKING = _names("""
_raw_spin_* __raw_spin_* do_raw_spin_* spin_lock spin_unlock spin_lock_irqsave
queued_spin_lock_slowpath native_queued_spin_lock_slowpath __pv_queued_spin_lock_slowpath
pv_queued_spin_lock_slowpath __pv_queued_spin_unlock_slowpath __pv_queued_spin_unlock
_raw_read_* _raw_write_* __raw_read_* __raw_write_* do_raw_read_* do_raw_write_*
queued_read_lock_slowpath queued_write_lock_slowpath arch_spin_lock
mutex_lock mutex_lock_nested mutex_lock_interruptible mutex_lock_interruptible_nested
mutex_lock_killable mutex_lock_killable_nested mutex_lock_io mutex_lock_io_nested __mutex_lock
__mutex_lock_common __mutex_lock_slowpath __mutex_lock_interruptible_slowpath
__mutex_lock_killable_slowpath mutex_trylock mutex_unlock __mutex_unlock_slowpath
mutex_optimistic_spin ww_mutex_lock __ww_mutex_lock
down_read down_write down_read_nested down_write_nested down_read_killable
down_write_killable down_read_interruptible down_read_trylock down_write_trylock up_read
up_write __down_read __down_write __down_read_common __down_write_common
rwsem_down_read_slowpath rwsem_down_write_slowpath rwsem_down_read_failed
rwsem_down_write_failed call_rwsem_down_read_failed call_rwsem_down_write_failed
down up down_interruptible down_killable down_timeout down_trylock __down __down_common
__down_interruptible __down_killable __down_timeout
rt_mutex_* __rt_mutex_* rt_spin_lock rt_spin_unlock rtlock_slowlock rtlock_slowlock_locked
percpu_down_read percpu_down_write __percpu_down_read percpu_rwsem_wait percpu_up_read
percpu_up_write __rcu_read_lock __rcu_read_unlock rcu_read_lock rcu_read_unlock
rcu_lock_acquire rcu_lock_release console_lock console_unlock osq_lock lock_sock_nested
lock_sock release_sock _atomic_dec_and_lock _atomic_dec_and_lock_irqsave __local_bh_enable_ip local_bh_enable _local_bh_enable
__local_bh_disable_ip lock_timer_base rcu_read_unlock_special downgrade_write
""")

# The scheduler and the primitives a blocked task sleeps in.
_SCHED = _names("""
__schedule schedule schedule_timeout schedule_hrtimeout schedule_hrtimeout_range
schedule_hrtimeout_range_clock schedule_preempt_disabled schedule_idle io_schedule
io_schedule_timeout preempt_schedule preempt_schedule_common preempt_schedule_irq
preempt_schedule_notrace preempt_schedule_thunk __switch_to __switch_to_asm context_switch
__cond_resched _cond_resched cond_resched schedule_timeout_uninterruptible
schedule_timeout_interruptible schedule_timeout_killable
wait_for_completion* __wait_for_common wait_for_common wait_for_common_io do_wait_for_common
__wait_on_bit out_of_line_wait_on_bit bit_wait bit_wait_io __wait_on_bit_lock
out_of_line_wait_on_bit_lock wait_on_page_bit wait_on_page_bit_common __lock_page lock_page
__folio_lock folio_wait_bit folio_wait_bit_common __folio_lock_killable folio_wait_writeback
wait_on_page_writeback __wait_rcu_gp wait_rcu_gp finish_wait prepare_to_wait
prepare_to_wait_event msleep usleep_range wait_woken do_nanosleep hrtimer_nanosleep
__flush_work __flush_workqueue wb_wait_for_completion __wait_on_buffer wait_on_buffer
__wait_on_freeing_inode preempt_schedule_irq
""")

# An OOM report's allocation path (the kind is keyed on its reason alone anyway).
_OOM = _names("""
dump_header oom_kill_process out_of_memory check_panic_on_oom pagefault_out_of_memory
mem_cgroup_out_of_memory __alloc_pages_may_oom __alloc_pages_slowpath __alloc_pages
__alloc_pages_nodemask alloc_pages alloc_pages_vma alloc_pages_current __folio_alloc
folio_alloc vma_alloc_folio alloc_pages_mpol __get_free_pages alloc_page_interleave
alloc_pages_noprof alloc_pages_mpol_noprof __alloc_pages_noprof folio_alloc_mpol_noprof
vma_alloc_folio_noprof __alloc_frozen_pages_noprof
""")

# The plumbing an operation runs on: entry, syscall multiplexing, VFS, socket and netlink
# dispatch, softirq, timer, tasklet and workqueue execution, network receive.
_DISPATCH = _names("""
entry_SYSCALL* entry_SYSENTER* entry_INT80* do_syscall_64 do_syscall_x64 do_syscall_32_irqs_on
do_fast_syscall_32 __do_fast_syscall_32 do_int80_syscall_32 ret_from_fork* ret_from_kernel_thread
kthread worker_thread process_one_work process_scheduled_works smpboot_thread_fn run_ksoftirqd
__do_softirq do_softirq* irq_exit* __irq_exit_rcu handle_softirqs tasklet_action*
tasklet_hi_action call_timer_fn __run_timers run_timer_softirq expire_timers __run_timer_base
run_timer_base net_rx_action __napi_poll napi_poll process_backlog gro_normal_list*
gro_normal_one napi_gro_receive* netif_receive_skb* __netif_receive_skb*
netif_receive_skb_list_internal el0_svc* el0t_64_sync* el0_sync* do_el0_svc* invoke_syscall
el0_svc_common* ret_fast_syscall vector_swi system_call* syscall_call sysenter_do_call
vfs_write __vfs_write new_sync_write vfs_read __vfs_read new_sync_read ksys_write ksys_read
ksys_pread64 ksys_pwrite64 do_iter_write do_iter_read do_iter_readv_writev vfs_writev vfs_readv
do_writev do_readv vfs_iter_write vfs_iter_read do_vfs_ioctl vfs_ioctl ksys_ioctl
sock_write_iter sock_read_iter sock_sendmsg sock_sendmsg_nosec sock_recvmsg sock_recvmsg_nosec
___sys_sendmsg ____sys_sendmsg __sys_sendmsg ___sys_recvmsg ____sys_recvmsg __sys_recvmsg
__sys_sendmmsg __sys_recvmmsg do_recvmmsg __sys_sendto __sys_recvfrom sock_ioctl sock_do_ioctl
netlink_sendmsg netlink_unicast netlink_unicast_kernel netlink_rcv_skb rtnetlink_rcv
rtnetlink_rcv_msg genl_rcv genl_rcv_msg genl_family_rcv_msg* _stext
""")
# Interrupt entry: in a stall's trace the frames after it are the interrupted context.
_IRQ_ENTRY = _names("""
el1_irq el1h_64_irq el1h_64_irq_handler el1_interrupt el0_irq el0t_64_irq __irq_svc __irq_usr
apic_timer_interrupt asm_sysvec_apic_timer_interrupt sysvec_apic_timer_interrupt
smp_apic_timer_interrupt ret_from_intr common_interrupt asm_common_interrupt do_IRQ
handle_arch_irq generic_handle_arch_irq call_with_stack
""")
_DISPATCH_SYSCALLS = frozenset("""
sys_read sys_write sys_readv sys_writev sys_pread64 sys_pwrite64 sys_preadv sys_pwritev
sys_preadv2 sys_pwritev2 sys_ioctl sys_sendmsg sys_recvmsg sys_sendmmsg sys_recvmmsg sys_sendto
sys_recvfrom sys_send sys_recv sys_socketcall sys_ipc
""".split())
# Waiting primitives a stall sits in: the stall is about what it waits for.
_WAIT_FAMILIES = frozenset(("smp_call_function", "synchronize_rcu"))

# One name for each family of one waiting primitive (their callers see them as one thing).
_ALIASES = {
    "smp_call_function_single": "smp_call_function",
    "smp_call_function_many": "smp_call_function",
    "smp_call_function_many_cond": "smp_call_function",
    "smp_call_function_any": "smp_call_function",
    "synchronize_rcu_expedited": "synchronize_rcu",
    "synchronize_rcu_normal": "synchronize_rcu",
    "synchronize_rcu_bh": "synchronize_rcu",
    "synchronize_sched": "synchronize_rcu",
    "synchronize_sched_expedited": "synchronize_rcu",
    "synchronize_srcu": "synchronize_rcu",
    "__synchronize_srcu": "synchronize_rcu",
    "synchronize_srcu_expedited": "synchronize_rcu",
}
_SYSCALL_WRAPPER = re.compile(
    r"(?:__(?:x64|ia32|x32|arm64|arm|riscv|s390x|s390|powerpc|loongarch|se|do)_)?"
    r"(?:compat_)?(?:sys|SyS)_(?=[a-z0-9])"
)


def _named(table, name):
    exact, prefixes = table
    return name in exact or name.startswith(prefixes)


def culprit_name(name):
    """The culprit's canonical name: no compiler suffix, one name per syscall and family."""
    name = base_function(name)
    if name is None:
        return None
    found = _SYSCALL_WRAPPER.match(name)
    if found:
        return "sys_" + name[found.end():]
    return _ALIASES.get(name, name)


def _is_report_frame(name):
    return _named(_REPORT, name)


def _is_helper(kind, name):
    """Whether ``name`` (without suffixes) is skipped on the way to the culprit."""
    if (_named(_REPORT, name) or _named(_CHECK, name) or _named(_LIBRARY, name)
            or _named(_LOCKING, name) or _named(_SCHED, name)):
        return True
    return kind == "oom" and _named(_OOM, name)


# --- names and text ------------------------------------------------------------------------

_SUFFIX_WORDS = frozenset((
    "cold", "isra", "constprop", "part", "llvm", "lto_priv", "localalias", "specialized",
))


def base_function(name):
    """Function name without compiler-generated suffixes (``.cold``, ``.isra.0``, ...).

    powerpc64 big-endian kernels print text symbols with a leading dot (``.ipr_ioctl``).
    """
    if name is None:
        return None
    if name[:1] == "." and len(name) > 1:
        name = name[1:]
    if "." not in name:
        return name
    parts = name.split(".")
    end = len(parts)
    while end > 1:
        if parts[end - 1].isdigit():
            start = end - 1
            while start > 1 and parts[start - 1].isdigit():
                start -= 1
            if start > 1 and parts[start - 1] in _SUFFIX_WORDS:
                end = start - 1
                continue
            break
        if parts[end - 1] in _SUFFIX_WORDS:
            end -= 1
            continue
        break
    return ".".join(parts[:end]) or name


_HEX_RUN = re.compile(r"(?<![\w=])(?:0x)?[0-9a-fA-F]{8,}\b")
_OFFSET = re.compile(r"\+0x[0-9a-f]+/0x[0-9a-f]+")
_CPU_NUMBER = re.compile(r"\b([Cc][Pp][Uu]s?:?) \d+(?:-\d+)?")
_CPU_HASH = re.compile(r"CPU#\d+")
_PID_NUMBER = re.compile(r"\b(PID|pid|UID|uid)(:? ?)\d+")
_SECONDS = re.compile(r"\b(stuck for|for more than) \d+(s!| seconds)")
_SOURCE_LINE = re.compile(r"(\.[chS]):\d+")
_DIE_CODE = re.compile(r"(?::\s*[0-9a-fA-F]{1,16})?(?:\s+ilc:\d)?(?:,? sig: \d+)?$")


def _cut_die(text):
    """``text`` without its die suffix (``: 0000 [#1] PREEMPT SMP ...``)."""
    pos = text.find(" [#")
    if pos < 0:
        pos = text.find("[#")
    if pos < 0:
        return text
    head = text[:pos].rstrip()
    found = _DIE_CODE.search(head[-40:])
    if found and found.start() < found.end():
        head = head[:len(head) - 40 + found.start()] if len(head) > 40 else head[:found.start()]
    return head.rstrip(" :,")


def _task_suffix(text):
    """``... [comm:123]`` at the end of ``text`` with the task left out."""
    if not text.endswith("]"):
        return text
    start = text.rfind("[")
    inner = text[start + 1:-1]
    if start < 0 or " " in inner or ":" not in inner or not inner.rsplit(":", 1)[1].isdigit():
        return text
    return text[:start] + "[<task>]"


def _hung_task_name(text):
    start = text.find("task ")
    end = text.find(" blocked", start + 5)
    if start < 0 or end < 0 or ":" not in text[start + 5:end]:
        return text
    return text[:start] + "task <task>" + text[end:]


def normalize_text(text):
    """``text`` with the parts that differ between two occurrences of one crash replaced.

    Linear in the length of ``text``: every pattern starts at a literal or a word start.
    """
    text = _cut_die(text)
    text = _OFFSET.sub("", text)
    text = text.replace("(null)", "<addr>")
    text = _HEX_RUN.sub("<addr>", text)
    text = _CPU_HASH.sub("CPU#<n>", text)
    text = _CPU_NUMBER.sub(r"\1 <n>", text)
    text = _PID_NUMBER.sub(r"\1\2<n>", text)
    text = _SECONDS.sub(r"\1 <n>\2", text)
    text = _task_suffix(text.rstrip())
    text = _hung_task_name(text)
    text = _SOURCE_LINE.sub(r"\1:<n>", text)
    return " ".join(text.split())


def _squash(text):
    return " ".join(text.split()) if text else None


# --- line prefixes -------------------------------------------------------------------------

_MONTH_TIME = (r"(?:[A-Z][a-z]{2} )?[^\W\d_]{2,6}\.? {1,2}\d{1,2},? \d\d:\d\d:\d\d(?:\.\d{1,9})?"
               r"(?: \d{4})?")
_ISO_TIME = r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
# What follows a syslog or journal head (or starts the line when there is none).
_PREFIX_TAIL = (
    # a /dev/kmsg record ("4,1789,1531218013,-;") as netconsole and journal exports keep it
    r"(?:\d{1,3},\d{1,20},\d{1,20},[^;\s]{0,8};)?"
    # a console relay's tag in front of a kernel line ("[guest0/uart0] [    1.8] ...")
    r"(?:\[(?=[^\]\s]{0,40}[g-zG-Z/_])[A-Za-z][^\]\s]{0,40}\] (?=[\[<]))?"
    r"(?:<\d{1,3}>)?"
    r"(?:\[ *(?:\d{1,10}\.\d{1,9}|(?P<ctime>[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}))"
    r"\] ?)?"
    # journalctl -o short-monotonic: "[    5.061234] host kernel: "
    r"(?:(?P<host2>[^\s\[\]]{1,255}) kernel: ?)?"
    r"(?:\[ *(?P<caller>[TC]\d{1,10})\] ?)?"
)
_PREFIX = re.compile(
    # syslog or journal head: time (ISO, or month and day in any language), host, tag
    r"(?:(?P<stamp>" + _ISO_TIME + r"|" + _MONTH_TIME + r")(?: [+-]\d{4})?(?: [A-Z]{3,5})?"
    r"(?: (?P<host>[^\s\[\]:]{1,255}))??(?: [a-z]{2,8}\.[a-z]{2,8})?"
    r"(?: {1,2}(?P<tag>[^\s:\[\];,]{1,64})(?:\[\d{1,10}\])?: ?| (?=\d{1,3},\d{1,20},\d{1,20},)))?"
    + _PREFIX_TAIL
)
_PREFIX_REST = re.compile(_PREFIX_TAIL)
# The common journal head "2024-05-14T03:12:45.118850+02:00 host kernel: ", read by split_line
# without _PREFIX's walk through its optional parts. Where this matches, _PREFIX's head ends at
# the same place: the time can only end before the space (every shorter way through _ISO_TIME is
# followed by one of its own characters), the host (_PREFIX's class and bound) holds no "[" or ":"
# for a tag to end at, so the ways _PREFIX tries before taking the host succeed only when the
# whole host reads as a zone offset, a zone name or a facility (then after the same "kernel: "),
# or when it starts like a kmsg record (left out by the lookahead).
_ISO_KERNEL = re.compile(_ISO_TIME + r" (?!\d{1,3},\d{1,20},\d{1,20},)[^\s\[\]:]{1,255}"
                         r" kernel: ?")
# A level and a dmesg timestamp ("<4>[ 9321.484857] "): on a line that starts with "<", _PREFIX
# can only take these two (a syslog head, a kmsg record and a relay tag start with a digit, a
# letter or "["), then a journal host (needs " kernel:" after it) or a caller id ("[").
_LEVEL_TIMESTAMP = re.compile(r"<\d{1,3}>\[ *\d{1,10}\.\d{1,9}\] ?")
_GLUED = re.compile(r"\[ {0,12}\d{1,10}\.\d{6}\](?:\[ *[TC]\d{1,10}\])? ")
_TIMESTAMP_FAST = re.compile(r"\[ *\d{1,10}\.\d{1,9}\](?: ?\[ *([TC]\d{1,10})\])? ?"
                             r"(?:[^\s\[\]]{1,255} kernel: ?)?")


def split_line(line):
    """``(message, caller id)`` of a log line: the line without its prefixes."""
    if line[:1] == "[":
        found = _TIMESTAMP_FAST.match(line)
        if found is not None:
            end = found.end()
            if line[end:end + 1] != "[":
                return line[end:], found.group(1)
    elif line[:1] == "<":
        found = _LEVEL_TIMESTAMP.match(line)
        if found is not None:
            end = found.end()
            if line[end:end + 1] != "[" and line.find(" kernel:", end) < 0:
                return line[end:], None
    elif "0" <= line[:1] <= "9":
        found = _ISO_KERNEL.match(line)
        if found is not None:
            end = found.end()
            first = line[end:end + 1]
            if first in ("[", "<") or first.isdigit() or line.find(" kernel:", end) >= 0:
                found = _PREFIX_REST.match(line, end)
                return line[found.end():], found.group("caller")
            # no part of _PREFIX_TAIL can start here: a kmsg record starts with a digit, a
            # relay tag, a timestamp and a caller id with "[", a level with "<", and a journal
            # host needs " kernel:" after it
            return line[end:], None
    found = _PREFIX.match(line)
    end = found.end()
    if end == 0 and "] " in line:
        # a kernel line glued to the end of another program's output on a serial console
        glued = _GLUED.search(line, 1)
        if glued is not None:
            return split_line(line[glued.start():])
    return line[end:], found.group("caller")


def split_prefix(line):
    """Return ``(message, match)``: the line without syslog/level/timestamp prefixes."""
    found = _PREFIX.match(line)
    return line[found.end():], found


def _message(line):
    return split_line(line)[0]


# --- fixed-shape line fields ---------------------------------------------------------------

_CPU_HEAD = re.compile(r"CPU: (\d+) (?:UID: \d+ )?PID: (\d+) Comm: ")
_PID_HEAD = re.compile(r"Pid: (\d+), comm: ")
_PID_BUILD = re.compile(r"(# ?\d+\S*)")
_BUILD_START = re.compile(r"#\d")
_TAINT_VERBOSE = re.compile(r"\[([A-Z])\]=")
_DASHES = re.compile(r"(?<!\S)-+(?!\S)")


def parse_taint(text, pos=0, end=None):
    """``(taint field, release, build)`` of ``text[pos:end]`` that starts with ``Not tainted``
    or ``Tainted: ``, else ``None``.

    The flags are capital letters and spaces; the release is the first word after them and
    starts with a digit; the build is the rest from ``#`` on. Linear in the length.
    """
    if end is None:
        end = len(text)
    if text.startswith("Not tainted", pos, end):
        field, start = "Not tainted", pos + 11
    elif text.startswith("Tainted: ", pos, end):
        field, start = None, pos + 9
    else:
        return None
    # str.split() and the pattern \S+ part words at the same characters (both use Unicode's
    # whitespace), without a pattern call per word
    words = text[start:end]
    for index, token in enumerate(words.split()):
        if token.isalpha() and token.isupper():
            continue
        if not token.strip("-"):
            # RHEL 7 and 8 mark their kernels' taint field with dashed columns
            continue
        if not token[:1].isdigit():
            return None
        # where the release starts: what is left after splitting off the words before it
        at = len(words) - len(words.split(None, index)[-1])
        if field is None:
            flags = words[:at]
            if "-" in flags:
                flags = _DASHES.sub("", flags)
            field = "Tainted: " + flags.strip()
        rest = words[at + len(token):].strip()
        return field, token, (rest if rest.startswith("#") else None)
    return None


def _taint_after(text, start, end):
    best = -1
    for key in (" Not tainted", " Tainted: "):
        found = text.find(key, start, end)
        if found >= 0 and (best < 0 or found < best):
            best = found
    if best < 0:
        return None, None
    return best, parse_taint(text, best + 1, end)


def parse_cpu_line(text, pos=0, end=None):
    """``(cpu, pid, comm, taint field, release, build)`` of a ``CPU: N PID: N Comm: ...``
    dump header at ``text[pos:end]``, else ``None``."""
    if end is None:
        end = len(text)
    head = _CPU_HEAD.match(text, pos, end)
    if head is None:
        return None
    start = head.end()
    best, taint = _taint_after(text, start, end)
    if taint is None:
        return None
    comm = text[start:best]
    if comm.endswith(" Kdump: loaded"):
        comm = comm[:-14]
    return (int(head.group(1)), int(head.group(2)), comm) + taint


def parse_pid_line(text):
    """``(pid, comm, taint field, release, build, hardware)`` of an x86 3.x ``Pid: N, comm:``
    dump header (the build is its first word, the rest is the machine), else ``None``."""
    head = _PID_HEAD.match(text)
    if head is None:
        return None
    start = head.end()
    best, taint = _taint_after(text, start, len(text))
    if taint is None:
        return None
    field, release, build = taint
    hardware = None
    if build:
        found = _PID_BUILD.match(build)
        build, hardware = found.group(1), (build[found.end():].strip() or None)
    return (int(head.group(1)), text[start:best], field, release, build, hardware)


def parse_linux_version(msg):
    """``(release, build)`` of a ``Linux version ...`` boot line."""
    words = msg[14:].split(None, 1)
    if not words:
        return None, None
    build = None
    if len(words) > 1:
        found = _BUILD_START.search(words[1])
        if found:
            build = words[1][found.start():]
    return words[0], _squash(build)


def _taint_fields(field):
    """``(taint_raw, [flags])`` of a taint field."""
    if field == "Not tainted":
        return field, []
    raw = field[len("Tainted: "):].rstrip()
    return raw, [flag for flag in raw if flag not in " G"]


# --- headlines -----------------------------------------------------------------------------

_PANIC = "Kernel panic - not syncing:"
_PANIC_END = "---[ end Kernel panic - not syncing:"
_NULL_DEREF = (
    "BUG: kernel NULL pointer dereference", "BUG: unable to handle kernel NULL pointer dereference",
    "Unable to handle kernel NULL pointer dereference", "BUG: Kernel NULL pointer dereference",
)
_PAGING = ("BUG: unable to handle", "Unable to handle kernel", "BUG: Unable to handle kernel")
_STACK_OVERFLOW = (
    "PANIC: double fault", "BUG: stack guard page was hit", "Kernel stack overflow",
    "kernel stack overflow", "Thread overran stack", "Insufficient stack space",
)
_SANITIZERS = ("BUG: KASAN:", "BUG: KFENCE:", "BUG: KMSAN:", "BUG: KCSAN:", "UBSAN:")
_NMI = ("Uhhuh. NMI received", "NMI: PCI system error", "NMI: IOCK error",
        "NMI received for unknown reason")
_WARNING_LIKE = ("WARNING:", "BUG: ", "INFO: trying to register non-static key",
                 "INFO: possible ", "INFO: inconsistent lock state", "INFO: suspicious RCU")
# The chunk scan. Headlines start their message with one of these words (after a timestamp,
# a syslog head or at the line start): one pattern per kind of line start, each beginning
# with a literal, so the pattern engine jumps from one line start to the next.
_SCAN_HEADS = (
    "Kernel panic", "---[ end Kernel", "INFO:", "BUG", "Unable to handle", "kernel BUG",
    "Kernel BUG", "general protection", "Oops", "Internal error", "PANIC", "Kernel stack",
    "kernel stack", "Thread overran", "Insufficient stack", "Unhandled fault", "Bad mode",
    "UBSAN", "Out of memory", "Uhhuh", "NMI", "WARNING:", "Modules linked in", "Kernel Offset", "watchdog: ", "rcu: ", "mce: ", "traps: ", "sysrq: ",
    "SysRq", "Machine check", "Severe Machine", "CPU ", "[Hardware Error]",
)


def _trie_pattern(words):
    """An alternation of ``words`` factored by common prefixes (``B(?:UG|ad mode)``): the
    pattern engine tests one character class per line start instead of every word."""
    if "" in words:
        rest = [word for word in words if word]
        return "(?:%s)?" % _trie_pattern(rest) if rest else ""
    groups = collections.OrderedDict()
    for word in sorted(set(words)):
        groups.setdefault(word[0], []).append(word[1:])
    parts = [re.escape(first) + _trie_pattern(tails) for first, tails in groups.items()]
    return parts[0] if len(parts) == 1 else "(?:%s)" % "|".join(parts)


_SCAN_HEAD_WORDS = _trie_pattern(_SCAN_HEADS)
_SCAN_BRACKET = re.compile(r"\] " + _SCAN_HEAD_WORDS)
_SCAN_SYSLOG = re.compile(r" kernel: ?" + _SCAN_HEAD_WORDS)
_SCAN_BARE = re.compile(r"\n(?:<\d{1,3}>)?[ \t]{0,8}" + _SCAN_HEAD_WORDS)
# ... and these can be anywhere in their line (die lines, task names, relay tags before them);
# _scan looks for the die mark "[#" by its rare "#" ("[" is on every line), the others as they are.
_SCAN_DIE_MARK = "[#"
_SCAN_ANYWHERE_TEXT = ("oom-killer", "Kernel panic - not syncing")
_SCAN_ANYWHERE = (_SCAN_DIE_MARK,) + _SCAN_ANYWHERE_TEXT
# A line that does not start with "[" (no kernel timestamp in front of it).
_NOT_BRACKETED = re.compile(r"\n[^\[\n]")
# Boot facts, read from their first occurrence only.
_SCAN_FACTS = ("Linux version", "DMI:")
_SCAN_WORDS = _SCAN_HEADS + _SCAN_ANYWHERE
# Lines the scan finds that are facts, not headlines.
_FACTS = ("Linux version", "DMI:", "Modules linked in", "Kernel Offset", "---[ end trace",
          "mce: ", "[Hardware Error]", "NMI ")
# Headlines whose first words can follow a console relay's own tag ("UART: Kernel panic").
_RELAYED = (_PANIC, "BUG: ", "Oops", "Unable to handle kernel", "general protection fault",
            "kernel BUG at", "Internal error:", "WARNING: CPU:", "INFO: task ")
_RELAY_TAG = re.compile(r"(?:\[(?=[^\]\s]{0,40}[g-zG-Z/_])[A-Za-z][^\]\s]{0,40}\] ?"
                        r"|[A-Za-z][\w./-]{0,30}: ){1,3}")


def _die_at(msg):
    """Position of `` [#N]`` in a die line (``Oops: 0000 [#1] SMP``), else -1."""
    pos = msg.find(" [#")
    if pos < 0:
        return -1
    end = msg.find("]", pos + 3, pos + 9)
    if end < 0 or not msg[pos + 3:end].strip().isdigit():
        return -1
    return pos


def die_kind(msg):
    """Crash kind of a die line."""
    head = _cut_die(msg).lower()
    if "general protection" in head:
        return "gpf"
    if "double fault" in head or "stack overflow" in head:
        return "stack_overflow"
    if "kernel bug" in head:
        return "bug"
    if "machine check" in head:
        return "mce"
    return "oops"


# First characters of headlines that start at the message start.
_HEAD_FIRST = frozenset("K-[MSIBUkgPTOdsiNWt")


def classify(msg):
    """Kind of the headline ``msg``: a crash kind, ``panic``, ``die`` or an event kind."""
    if msg[:1] not in _HEAD_FIRST and "[#" not in msg and "LOCKUP" not in msg \
            and "lockup" not in msg and "oom-killer" not in msg and "Machine" not in msg \
            and "Hardware Error" not in msg and "INFO:" not in msg:
        return None
    if msg.startswith(_PANIC):
        return "panic"
    if msg.startswith(_PANIC_END):
        return "panic_end"
    if "[#" in msg and _die_at(msg) >= 0:
        return "die"
    if "[Hardware Error]" in msg or "Machine Check Exception" in msg \
            or msg.startswith(("Machine check", "Severe Machine check")):
        return "mce"
    if msg.startswith("INFO: task ") and " blocked for more than " in msg:
        return "hung_task"
    if "BUG: soft lockup" in msg:
        return "soft_lockup"
    if "hard LOCKUP" in msg:
        return "hard_lockup"
    if ("INFO: rcu" in msg or "rcu: INFO:" in msg) and "stall" in msg:
        return "rcu_stall"
    if msg.startswith(_NULL_DEREF):
        return "null_deref"
    if msg.startswith(_PAGING):
        return "oops"
    if msg.startswith(("kernel BUG at ", "Kernel BUG at ")):
        return "bug"
    if msg.startswith(("general protection fault", "Oops: general protection fault")):
        return "gpf"
    if msg.startswith(_STACK_OVERFLOW) or "PANIC: double fault" in msg:
        return "stack_overflow"
    if msg.startswith(("Unhandled fault:", "Bad mode in ")):
        return "oops"
    if msg.startswith(_SANITIZERS):
        return "sanitizer"
    if "invoked oom-killer:" in msg or msg.startswith("Out of memory and no killable"):
        return "oom"
    if msg.startswith(_NMI):
        return "nmi"
    if msg.startswith(_WARNING_LIKE):
        return "warning"
    return None


def _relayed(msg):
    """``(tag, message)`` when ``msg`` is a headline behind a console relay's tag."""
    found = _RELAY_TAG.match(msg)
    if found is not None:
        rest = split_line(msg[found.end():])[0].lstrip()
        if classify(rest) is not None:
            return found.group(), rest
    best = -1
    for word in _RELAYED:
        found = msg.find(word, 1, 80)
        if found > 0 and (best < 0 or found < best):
            best = found
    if best < 0:
        return None, msg
    tag = msg[:best]
    found = _RELAY_TAG.match(tag)
    if found is None or found.end() != len(tag):
        return None, msg
    return tag, msg[best:]


# Panic texts that name their cause: (pattern, record kind, kind of the event they point at).
_PANIC_CAUSES = (
    (re.compile(r"sysrq triggered crash", re.I), "sysrq", None),
    (re.compile(r"softlockup: hung tasks|soft lockup", re.I), "soft_lockup", "soft_lockup"),
    (re.compile(r"hung_task: blocked tasks"), "hung_task", "hung_task"),
    (re.compile(r"hard lockup", re.I), "hard_lockup", "hard_lockup"),
    (re.compile(r"RCU Stall", re.I), "rcu_stall", "rcu_stall"),
    (re.compile(r"deadlocked on memory|Out of memory"), "oom", "oom"),
    (re.compile(r"machine check|\bMCE\b|hardware error|Not all CPUs entered broadcast"
                r"|^Unable to continue", re.I), "mce", "mce"),
    (re.compile(r"\bNMI\b|Non maskable interrupt", re.I), "nmi", "nmi"),
    (re.compile(r"VFS: Unable to mount root"), "vfs_root", None),
    (re.compile(r"Attempted to kill init!"), "kill_init", None),
    (re.compile(r"panic_on_warn set|panic_on_\w+ set|scheduling while atomic"), "warning",
     "warning"),
    (re.compile(r"Fatal exception|\bOops\b|bad mode"), "oops", "crash"),
)


def panic_cause(reason):
    """Return ``(kind, linked_event_kind)`` for the text after ``Kernel panic - not syncing:``."""
    for pattern, kind, link in _PANIC_CAUSES:
        if pattern.search(reason):
            return kind, link
    return "panic", None


# --- reading -------------------------------------------------------------------------------


def iter_log_chunks(handle, chunk_size=CHUNK_CHARS, max_line=MAX_LINE):
    """Yield lists of complete lines of a text file object, one read chunk at a time.

    Memory stays bounded by the chunk size: lines longer than ``max_line`` characters are cut
    (their rest is skipped).
    """
    pending = ""
    overflow = False
    while True:
        data = handle.read(chunk_size)
        if not data:
            break
        if overflow:
            cut = data.find("\n")
            if cut < 0:
                continue
            data = data[cut:]
            overflow = False
        lines = (pending + data).split("\n") if pending else data.split("\n")
        pending = lines.pop()
        if len(pending) > max_line:
            pending = pending[:max_line]
            overflow = True
        if lines and max(map(len, lines)) > max_line:
            lines = [line[:max_line] for line in lines]
        yield lines
    if pending:
        yield [pending]


def _scan(text, line_count, facts=True):
    """Start offsets (in ``text``) of the lines of a chunk that may hold a headline.

    ``text`` is ``"\\n" + "\\n".join(lines) + "\\n"``. Lines whose message follows a
    ``[ timestamp]`` are found by one pattern that starts with ``] ``; lines without one (bare
    logs, syslog heads) by two more, used only when such lines are there; the words that can
    be anywhere in a line with ``str.find``.
    """
    find = text.find
    rfind = text.rfind
    starts = set()
    for found in _SCAN_BRACKET.finditer(text):
        starts.add(rfind("\n", 0, found.start()) + 1)
    if _NOT_BRACKETED.search(text) is not None:
        for found in _SCAN_BARE.finditer(text):
            starts.add(found.start() + 1)
        if " kernel:" in text:
            for found in _SCAN_SYSLOG.finditer(text):
                starts.add(rfind("\n", 0, found.start()) + 1)
    # _SCAN_DIE_MARK: found by its rare second character (one memchr), "[" being on every line
    pos = find("#", 1)
    while pos >= 0:
        if text[pos - 1] == "[":
            starts.add(rfind("\n", 0, pos) + 1)
            pos = find("\n", pos)
            if pos < 0:
                break
        pos = find("#", pos + 1)
    for word in _SCAN_ANYWHERE_TEXT:
        pos = find(word)
        while pos >= 0:
            starts.add(rfind("\n", 0, pos) + 1)
            nxt = find("\n", pos)
            pos = find(word, nxt) if nxt >= 0 else -1
    if facts:
        for word in _SCAN_FACTS:
            pos = find(word)
            if pos >= 0:
                starts.add(rfind("\n", 0, pos) + 1)
    return sorted(starts)


class _Block(object):
    """One report: its headline and the raw lines around it (bounded)."""

    __slots__ = (
        "kind", "line", "text", "lines", "head", "chars", "room", "next", "caller", "die",
        "event", "host", "stamp", "ctime", "outer", "last", "from_die",
    )

    def __init__(self, kind, line, text):
        self.kind = kind
        self.line = line
        self.text = text
        self.lines = None
        self.head = 0
        self.chars = 0
        self.room = 0
        self.next = 0
        self.caller = None
        self.die = None
        self.event = None
        self.host = self.stamp = self.ctime = None
        self.outer = None
        self.last = line
        self.from_die = False


_STALL_KINDS = frozenset(("soft_lockup", "hard_lockup", "rcu_stall", "hung_task"))
_RUN_KINDS = frozenset(("hung_task", "soft_lockup", "rcu_stall"))
# Lines that only crash paths print: outside a known report they make a crash of unknown shape.
_UNKNOWN_EVIDENCE = ("Modules linked in:", "Kernel Offset:")
_CONTEXT_LINE = re.compile(
    r"(?:CPU: |Hardware name: |Modules linked in:|Workqueue: |-+\[ cut here \]|#PF: |PGD |"
    r"Call [Tt]race|Code: |Tainted: |Kernel Offset:|---\[ end |[A-Z][A-Z0-9_]{1,7}:\s|\s|$)"
)


class TriageParser(object):
    """Streaming parser: ``feed_chunk()``/``feed_lines()`` any number of times, then
    ``record()``."""

    def __init__(self, keep_excerpt=True):
        self.keep_excerpt = keep_excerpt
        self.lineno = 0
        self.tail = []
        self.events = []
        self.event_count = 0
        self.linux_release = self.linux_build = self.dmi = None
        self.relay = None
        self.current = None
        self.capturing = []
        self.first_crash = None
        self.first_sanitizer = None
        self.panic = None
        self.unknown = None
        self.latest = {}
        self.prev_event_kind = None
        self.sysrq_line = None

    # -- driving --

    def feed_lines(self, lines):
        """Consume an iterable of lines (with or without their line ends)."""
        chunk = []
        for line in lines:
            line = line.rstrip("\r\n")
            chunk.append(line if len(line) <= MAX_LINE else line[:MAX_LINE])
            if len(chunk) >= CHUNK_LINES:
                self.feed_chunk(chunk)
                chunk = []
        if chunk:
            self.feed_chunk(chunk)

    def feed_chunk(self, lines):
        """Consume a list of complete lines without their line ends."""
        if not lines:
            return
        base = self.lineno
        text = "\n" + "\n".join(lines) + "\n"
        index = -1
        last = 0
        count = text.count
        for start in _scan(text, len(lines), self.linux_release is None or self.dmi is None):
            index += count("\n", last, start)
            last = start
            self._candidate(lines, index, base + index + 1)
        capturing = []
        for block in self.capturing:
            if block.lines is None or block.room <= 0:
                continue
            self._extend(block, lines, block.next)
            block.next = 0
            if block.room > 0:
                capturing.append(block)
        self.capturing = capturing
        self.tail = (self.tail + lines[-EXCERPT_BEFORE:])[-EXCERPT_BEFORE:]
        self.lineno = base + len(lines)

    @staticmethod
    def _extend(block, lines, start):
        stop = min(len(lines), start + block.room)
        chars = block.chars
        taken = start
        if chars < BLOCK_CHARS and start < stop:
            more = sum(map(len, lines[start:stop])) + stop - start
            if chars + more < BLOCK_CHARS:
                # the common case, every line fits: no loop over the lines
                chars, taken = chars + more, stop
        while taken < stop and chars < BLOCK_CHARS:
            chars += len(lines[taken]) + 1
            taken += 1
        block.lines.extend(lines[start:taken])
        block.chars = chars
        block.room = 0 if chars >= BLOCK_CHARS else block.room - (taken - start)

    # -- one candidate line --

    def _candidate(self, lines, index, lineno):
        line = lines[index]
        msg, caller = split_line(line)
        if self.relay is not None and msg.startswith(self.relay):
            msg, caller = split_line(msg[len(self.relay):])
        msg = msg.lstrip()
        kind = classify(msg)
        if kind is None and not msg.startswith(_FACTS):
            tag, relayed = _relayed(msg)
            if tag is not None:
                kind = classify(relayed)
                if kind is not None:
                    msg = relayed
                    if self.relay is None:
                        self.relay = tag
        if kind is None:
            if "Trigger a crash" in msg:
                self.sysrq_line = lineno
                return
            self._outside(msg, lines, index, lineno)
            return
        msg = msg.rstrip()
        current = self.current
        if current is not None and lineno - current.last <= 2 and msg in (current.text,
                                                                          current.die):
            # a console that prints every line twice
            current.last = lineno
            return
        if kind == "die":
            if (current is not None and current.kind in OOPS_KINDS and current.die is None
                    and lineno - current.line <= DIE_ATTACH_LINES
                    and (caller is None or current.caller is None or caller == current.caller)):
                current.die = msg
                if current.kind == "oops" and die_kind(msg) in ("bug", "stack_overflow"):
                    current.kind = die_kind(msg)
                return
            kind = die_kind(msg)
            self._open(kind, msg, lines, index, lineno, caller, crash=True)
            if self.current is not None and self.current.line == lineno:
                self.current.from_die = True
            return
        elif kind in OOPS_KINDS and current is not None and current.from_die \
                and current is self.first_crash and current.die is None \
                and lineno - current.line <= 3:
            # the die line came first (serial consoles reorder): the headline is this one
            current.die, current.text, current.kind = current.text, msg, kind
            current.event["kind"], current.event["text"] = kind, msg
            return
        elif kind == "mce" and current is not None and current.kind == "mce" \
                and lineno - current.last <= 2:
            current.last = lineno
            return
        elif kind == "panic_end":
            if self.panic is not None or (current is not None and current.kind == "panic"):
                return
            kind = "panic"
            msg = msg[len("---[ end "):].rstrip(" ]-")
        self._open(kind, msg, lines, index, lineno, caller)

    def _outside(self, msg, lines, index, lineno):
        if msg.startswith("Linux version "):
            if self.linux_release is None:
                self.linux_release, self.linux_build = parse_linux_version(msg)
            return
        if msg.startswith("DMI: "):
            if self.dmi is None:
                self.dmi = msg[5:].strip()
            return
        current = self.current
        if current is not None and lineno - current.line <= BLOCK_SPAN:
            return
        if msg.startswith(_UNKNOWN_EVIDENCE) or msg.startswith("---[ end trace"):
            if msg.startswith("---[ end trace") or self.unknown is not None:
                return
            text, back = self._lookback(lines, index)
            block = self._new_block("unknown", text, lines, index, lineno, None)
            if block.lines is not None:
                # the register dump before "Modules linked in:" is part of the report
                block.head = max(0, block.head - back)
            self.unknown = block
            self.current = block
            self._add_event(block, False)
            self.prev_event_kind = "unknown"

    def _lookback(self, lines, index):
        """The nearest earlier line that is not part of a register/stack dump, and how many
        lines back it is."""
        window = (self.tail + lines[:index])[-EXCERPT_BEFORE:] if index < EXCERPT_BEFORE \
            else lines[index - EXCERPT_BEFORE:index]
        for back, line in enumerate(reversed(window), 1):
            msg = split_line(line)[0]
            if not _CONTEXT_LINE.match(msg):
                return msg.strip(), back
        return None, len(window)

    # -- blocks --

    def _new_block(self, kind, text, lines, index, lineno, caller, capture=True):
        block = _Block(kind, lineno, text)
        block.caller = caller
        block.host = lines[index]  # the raw line; its prefix is read when the block is used
        if capture and self.panic is None:
            if index >= EXCERPT_BEFORE:
                window = lines[index - EXCERPT_BEFORE:index]
            else:
                window = (self.tail + lines[:index])[-EXCERPT_BEFORE:]
            block.lines = window + [lines[index]]
            block.head = len(window)
            block.chars = sum(map(len, block.lines)) + len(block.lines)
            block.room = BLOCK_SPAN
            block.next = index + 1
            self.capturing.append(block)
        return block

    def _drop(self, block):
        if block is not None and block.lines is not None and not self._kept(block):
            block.lines = None
            block.room = 0

    def _kept(self, block):
        return (block is self.first_crash or block is self.first_sanitizer
                or block is self.panic or block is self.unknown
                or any(block is b for b in self.latest.values())
                or any(block is b.outer for b in self.latest.values()))

    def _add_event(self, block, fatal):
        self.event_count += 1
        event = {"kind": block.kind, "line": block.line, "text": block.text or "",
                 "fatal": fatal}
        block.event = event
        if len(self.events) < MAX_EVENTS:
            self.events.append(event)

    def _open(self, kind, msg, lines, index, lineno, caller, crash=False):
        crash = crash or kind in OOPS_KINDS
        wanted = self.panic is None and self._wanted(kind, msg)
        block = self._new_block(kind, msg, lines, index, lineno, caller, capture=wanted)
        previous = self.current
        self.current = block
        self._add_event(block, kind == "panic" or crash)
        run = kind in _RUN_KINDS and self.prev_event_kind == kind
        self.prev_event_kind = kind
        if not wanted:
            return
        if kind == "panic":
            self.panic = block
            return
        if crash:
            self.first_crash = block
            return
        link = "warning" if kind in ("warning", "sanitizer") else kind
        if kind == "sanitizer" and self.first_sanitizer is None and self.first_crash is None \
                and msg.startswith(_MEMORY_SANITIZER_HEADS):
            self.first_sanitizer = block
        if link == "warning" and previous is not None and previous.kind in _STALL_KINDS \
                and lineno - previous.line <= NESTED_LINES \
                and (caller is None or previous.caller is None or caller == previous.caller):
            block.outer = previous
        if run and link in self.latest:
            self._drop(block)
            return
        old = self.latest.get(link)
        self.latest[link] = block
        self._drop(old)

    def _wanted(self, kind, msg):
        if kind == "panic":
            return True
        return self.first_crash is None

    # -- the result --

    def record(self):
        """The triage record; ``ParseError`` when the log shows no crash."""
        return build_record(self)


# --- reading one report --------------------------------------------------------------------

_FRAME = re.compile(
    r"[ \t]*(\()?(?:\[<?[0-9a-fA-Fx]{1,20}>?\][ \t]*){0,2}(\?[ \t]+)?"
    r"([A-Za-z_.$][\w.$]{0,255})\+0x[0-9a-f]{1,16}/0x[0-9a-f]{1,16}"
    r"(?:[ \t]+\[([\w-]{1,64})[^\]\n]{0,80}\])?([ \t]+\(unreliable\))?"
)
_INLINE_FRAME = re.compile(r"[ \t]*([A-Za-z_][\w.$]{0,255}) [^\s:]{1,255}:\d{1,7} \[inline\]")
# scripts/decode_stacktrace.sh output: "func (fs/kernfs/mount.c:286)", "? func (file.c:12)"
_DECODED_FRAME = re.compile(
    r"[ \t]*(\?[ \t]+)?([A-Za-z_.$][\w.$]{0,255}) \([\w./+-]{1,255}:\d{1,7}"
    r"(?: \(discriminator \d{1,5}\))?\)(?: \[([\w-]{1,64})\])?\s*$")
_ARM_FUNC = (r"(?:\[<[0-9a-f]{1,16}>\][ \t]*)?\(?([A-Za-z_.$][\w.$]{0,255})"
             r"(?:\+0x[0-9a-f]{1,16}/0x[0-9a-f]{1,16})?(?:[ \t]+\[([\w-]{1,64})\])?\)?")
_ARM_FROM = re.compile(r"[ \t]*" + _ARM_FUNC + r" from " + _ARM_FUNC + r"\s*$")
_SYMBOL = re.compile(
    r"(?<![\w.$])([A-Za-z_.$][\w.$]{0,255})(?:\+0x[0-9a-f]{1,16}/0x[0-9a-f]{1,16}"
    r"| (?=\([\w./+-]{1,255}:\d))(?:[ \t]+\[([\w-]{1,64})[^\]\n]{0,80}\])?"
)
_HEAD_FUNC = re.compile(r"(?<![\w.$])([A-Za-z_.$][\w.$]{0,255})(?:\+0x[0-9a-f]{1,16}/0x[0-9a-f]{1,16}"
                        r"(?:[ \t]+\[([\w-]{1,64})[^\]\n]{0,80}\])?)?")
_MARKERS = re.compile(r"(?:<[/A-Z#]{2,10}>[ \t]*)+")
_PROCESS = re.compile(r"Process (\S{1,64}) \(pid: (\d{1,10})")
# A headline line with nothing but a kernel timestamp in front, and that prefix on any line.
_TIMESTAMP_ONLY = re.compile(r"\[ *\d{1,10}\.\d{1,9}\] (?!\[)")
# ... after a line end: the pattern starts with a literal, so the engine skips from one line end
# to the next instead of trying every position (the text searched starts with "\n").
_TIMESTAMP_LINE = re.compile(r"\n\[ *\d{1,10}\.\d{1,9}\] ?(?!\[)")
# What a line starts with when it still carries a prefix after that strip.
_PREFIX_FIRST = frozenset("[<0123456789")
# Register dump lines ("RAX: ffff...", "x29: ffff...", "sp : ffff...", "pstate: 6040..."):
# skipped before any other test.
_REGISTER = re.compile(r"[A-Za-z][\w ]{0,11}: ?(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{8}")
_FAULT_KEYS = ("RIP: ", "RIP  ", "EIP: ", "EIP is at ", "IP: ", "pc : ", "PC is at ", "epc : ",
               "NIP [", "NIP  [", "Krnl PSW : ", "--- interrupt: ")
_TRACE_HEADERS = ("Call Trace:", "Call trace:", "Backtrace:", "Call Trace :")
_TRACE_END = (
    "---[ end", "Kernel Offset:", "Rebooting in", "Allocated by task",
    "Freed by task", "Last potentially related", "Second to last potentially",
    "The buggy address", "Memory state around", "Uninit was created", "Uninit was stored",
    "Local variable", "irq event stamp:", "Showing all locks held", "Showing busy workqueues",
    "Mem-Info:", "Tasks state", "[ pid ]", "oom-kill:", "stack backtrace:",
    "other info that might help", "Disabling lock debugging", "=====", "Reported by Kernel",
    "read to 0x", "write to 0x", "read-write to 0x", "write (marked) to", "read (marked) to",
    "value changed:", "INFO: lockdep is turned off", "Shutting down cpus with NMI", "Object 0x", "Redzone ", "Padding ", "kfence-#",
)
# ... as one pattern: a line starts with one of them when it matches (the trie is the words'
# alternation factored by common prefixes); one character class test per line instead of a
# startswith per word.
_TRACE_END_START = re.compile(_trie_pattern(_TRACE_END))
# Lines a stall or lockup report prints before the stalled CPU's backtrace.
_STALL_CONTINUE = ("NMI backtrace for cpu", "Sending NMI from CPU", "Task dump for CPU")


class _Report(object):
    """What one report block says."""

    __slots__ = ("cpu", "pid", "comm", "taint_raw", "taint", "release", "build", "hardware",
                 "rip", "rip_module", "trace")

    def __init__(self):
        self.cpu = self.pid = self.comm = None
        self.taint_raw = self.taint = self.release = self.build = self.hardware = None
        self.rip = self.rip_module = None
        self.trace = []


def _analyze(block, relay):
    """Read a block's lines after its headline into a ``_Report``.

    Frames before a trace header (``Call Trace:``...) are kept aside: another CPU's trace
    interleaved with the report's header looks the same. They are the trace only when no
    header follows (ARM and KCSAN print frames without one).
    """
    report = _Report()
    if not block.lines:
        return report
    trace = report.trace
    loose = []
    caller = block.caller
    in_trace = False
    seen_die = False
    pending = None
    stall = block.kind in _STALL_KINDS
    body = block.lines[block.head + 1:]
    head = _TIMESTAMP_ONLY.match(block.lines[block.head])
    if caller is None and relay is None and head is not None and block.lines[block.head].startswith(
            block.text or "", head.end()):
        # the common dmesg form: strip "[   12.345678] " from every line in one pass
        texts = _TIMESTAMP_LINE.sub("\n", "\n" + "\n".join(body))[1:].split("\n")
        fast = True
    else:
        texts, fast = body, False
    frame_match, register_match = _FRAME.match, _REGISTER.match
    for raw in texts:
        if fast and raw[:1] not in _PREFIX_FIRST:
            msg = raw
        else:
            msg, line_caller = split_line(raw)
            if relay is not None and msg.startswith(relay):
                msg, line_caller = split_line(msg[len(relay):])
            if caller is not None and line_caller != caller:
                continue
        text = msg.strip()
        if not text:
            continue
        if "+0x" in text and text[:1] != "<":
            # a frame first (most lines of a report): no fault key can match as a frame, the
            # name before "+0x" would have to hold their ':' or ' '
            found = frame_match(text)
            if found is not None:
                paren, question, name, module, unreliable = found.groups()
                target = trace if in_trace else loose
                if len(target) < BLOCK_SPAN:
                    target.append(("u" if (paren or question or unreliable) else "f", name,
                                   module))
                continue
            if text.startswith(_FAULT_KEYS):
                found = _SYMBOL.search(text)
                if found is not None:
                    if in_trace:
                        trace.append(("r", found.group(1), found.group(2)))
                    elif report.rip is None:
                        report.rip, report.rip_module = found.group(1, 2)
                continue
        elif register_match(text) is not None:
            continue
        if _TRACE_END_START.match(text) is not None:
            break
        if text.startswith(_STALL_CONTINUE):
            if stall and not trace:
                continue
            break
        if text[:1] == "<":
            found = _MARKERS.match(text)
            if found is not None:
                if in_trace and ("</" in found.group() or "<EO" in found.group()):
                    trace.append(("m", "end", None))
                text = text[found.end():]
                if not text:
                    continue
        frame = None
        if "+0x" in text:
            if text.startswith(_FAULT_KEYS):
                found = _SYMBOL.search(text)
                if found is not None:
                    if in_trace:
                        trace.append(("r", found.group(1), found.group(2)))
                    elif report.rip is None:
                        report.rip, report.rip_module = found.group(1, 2)
                continue
            found = _FRAME.match(text)
            if found is not None:
                paren, question, name, module, unreliable = found.groups()
                frame = ("u" if (paren or question or unreliable) else "f", name, module)
        if frame is None and " from " in text:
            found = _ARM_FROM.match(text)
            if found is not None:
                name, module, pending_name, pending_module = found.groups()
                frame = ("f", name, module)
                pending = (pending_name, pending_module)
        if frame is None and text.endswith("[inline]"):
            found = _INLINE_FRAME.match(text)
            if found is not None:
                frame = ("f", found.group(1), None)
        if frame is None and ":" in text and text[-1:] in ")] ":
            found = _DECODED_FRAME.match(text)
            if found is not None:
                question, name, module = found.groups()
                frame = ("u" if question else "f", name, module)
        if frame is not None:
            target = trace if in_trace else loose
            if len(target) < BLOCK_SPAN:
                target.append(frame)
            continue
        if text.startswith(_TRACE_HEADERS):
            if trace:
                break
            in_trace = True
            del loose[:]
            pending = None
            continue
        if text.startswith("CPU: "):
            if trace:
                break
            if report.pid is None:
                found = parse_cpu_line(text)
                if found is not None:
                    report.cpu, report.pid, report.comm = found[:3]
                    _set_taint(report, found[3], found[4], found[5])
            continue
        if text.startswith("Hardware name: "):
            if trace:
                break
            if report.hardware is None:
                report.hardware = text[15:].strip()
            continue
        if text.startswith(("Not tainted", "Tainted: ")):
            if text.startswith("Tainted: ["):
                if not report.taint:
                    report.taint = _TAINT_VERBOSE.findall(text)
                    report.taint_raw = text[9:].strip()
            elif report.release is None:
                found = parse_taint(text)
                if found is not None:
                    _set_taint(report, *found)
            continue
        if text.startswith("Pid: "):
            found = parse_pid_line(text)
            if found is not None and report.pid is None:
                report.pid, report.comm = found[:2]
                _set_taint(report, found[2], found[3], found[4])
                if report.hardware is None:
                    report.hardware = found[5]
            continue
        if text.startswith("Process "):
            found = _PROCESS.match(text)
            if found is not None and report.pid is None:
                report.comm, report.pid = found.group(1), int(found.group(2))
            continue
        kind = classify(text)
        if kind is None or text == block.text or text == block.die:
            continue
        if kind == "die" and not seen_die and not trace:
            seen_die = True
            continue
        if kind == "panic" and not trace:
            # the panic this report caused prints the trace (4.x kernels panic inside a
            # warning before its trace; an arm64 stack overflow prints its registers only)
            continue
        break
    if not trace and loose:
        trace.extend(loose)
    if pending is not None and trace and trace[-1][1] != pending[0]:
        trace.append(("f", pending[0], pending[1]))
    return report


def _set_taint(report, field, release, build):
    if field is not None and report.taint_raw is None:
        report.taint_raw, report.taint = _taint_fields(field)
    if release is not None and report.release is None:
        report.release = release
        report.build = _squash(build)


# --- who is to blame -----------------------------------------------------------------------


def _is_dispatch(name):
    return _named(_DISPATCH, name) or culprit_name(name) in _DISPATCH_SYSCALLS


def _base_of(kind, segment):
    """The outermost frame of ``segment`` (names, innermost first) that is neither dispatch
    (entry, syscall multiplexing, VFS/socket/netlink/softirq/workqueue plumbing) nor helper."""
    for name, module in reversed(segment):
        base = base_function(name)
        if not _is_dispatch(base) and not _is_helper(kind, base):
            return name, module
    return None


def _select(kind, report, head=None, by_base=None):
    """``(function, module, culprit, culprit module, call trace names)`` of a report.

    ``head``: ``(name, module)`` the headline names as the faulting function (sanitizers,
    ``stack-protector``), or the warning's own function used when nothing else is known.
    ``by_base``: the culprit is the operation the CPU was busy in (``"stall"``: in the
    context the sample hit) or whose call chain was too deep (``"stack"``: the whole chain),
    not the frame the sample or the fault hit.
    """
    trace = report.trace
    reliable = [item for item in trace if item[0] != "u"]
    if not any(item[0] == "f" for item in reliable):
        reliable = [("f", name, module) if flag == "u" else (flag, name, module)
                    for flag, name, module in trace]
    frames = [(name, module) for flag, name, module in reliable if flag == "f"]
    call_trace = [base_function(name) if name[:1] == "." else name for name, _m in frames]
    function = module = None
    walk = []
    rest = []
    if head is not None and head[0] and (kind in ("sanitizer", "panic") or not trace
                                         and report.rip is None):
        function, module = head
        walk = [head] + frames
    elif head is not None and head[0] and kind == "warning":
        # the warning line names the exact site; an exception boundary in an old arm64
        # trace can leave it out of the frames
        function, module = head
        walk = [head] + [(n, m) for f, n, m in reliable if f != "m"
                         and not _is_report_frame(base_function(n))]
    elif report.rip is not None:
        function, module = report.rip, report.rip_module
        walk = [(function, module)] + frames
        rest = reliable
    else:
        for index, (flag, name, item_module) in enumerate(reliable):
            if flag == "m":
                continue
            if flag != "r":
                base = base_function(name)
                if _is_report_frame(base) or (kind == "hung_task" and _named(_SCHED, base)) \
                        or (kind == "oom" and _named(_OOM, base)):
                    continue
            function, module = name, item_module
            following = [(n, m) for f, n, m in reliable[index + 1:] if f != "m"]
            walk = [(name, item_module)] + following
            rest = reliable[index + 1:]
            break
    culprit = culprit_module = None
    for name, item_module in walk:
        if not _is_helper(kind, base_function(name)):
            culprit, culprit_module = name, item_module
            break
    if culprit is None and walk:
        culprit, culprit_module = walk[0]
    if by_base and function is not None and culprit_name(culprit) not in _WAIT_FAMILIES:
        segment = [(function, module)]
        for flag, name, item_module in rest:
            entry = flag in ("m", "r") or _named(_IRQ_ENTRY, base_function(name))
            if by_base == "stall" and entry:
                break
            if flag != "m":
                segment.append((name, item_module))
        found = _base_of(kind, segment)
        if found is not None:
            culprit, culprit_module = found
    return (base_function(function), module if function else None, culprit_name(culprit),
            culprit_module if culprit else None, call_trace[:MAX_FRAMES])


# --- headline fields and canonical reasons -------------------------------------------------

_SOFT = re.compile(r"CPU#(\d{1,6}) stuck for \d{1,10}s! \[([^\]]{1,80}):(\d{1,10})\]")
_HUNG = re.compile(r"INFO: task ([^\n]{1,80}):(\d{1,10}) blocked")
_HARD = re.compile(r"hard LOCKUP on cpu (\d{1,6})")
_MCE_CPU = re.compile(r"CPU (\d{1,6}): Machine Check")
_WARN = re.compile(r"WARNING: CPU: (\d{1,6}) PID: (\d{1,10}) at ")


def _headline_fields(kind, msg):
    """``(cpu, comm, pid)`` a headline itself names."""
    if kind == "soft_lockup":
        found = _SOFT.search(msg)
        if found:
            return int(found.group(1)), found.group(2), int(found.group(3))
    elif kind == "hung_task":
        found = _HUNG.match(msg)
        if found:
            return None, found.group(1), int(found.group(2))
    elif kind == "hard_lockup":
        found = _HARD.search(msg)
        if found:
            return int(found.group(1)), None, None
    elif kind == "mce":
        found = _MCE_CPU.search(msg)
        if found:
            return int(found.group(1)), None, None
    elif kind == "warning":
        found = _WARN.match(msg)
        if found:
            return int(found.group(1)), None, int(found.group(2))
    return None, None, None


def _warning_site(msg):
    """``(source file, (function, module))`` of ``WARNING: ... at <file>:<line> <function>``."""
    pos = msg.find(" at ")
    if not msg.startswith("WARNING:") or pos < 0:
        return None, None
    words = msg[pos + 4:].split(None, 2)
    if not words or ":" not in words[0]:
        return None, None
    path = words[0].rsplit(":", 1)[0]
    func = None
    if len(words) > 1:
        found = _HEAD_FUNC.match(words[1])
        if found:
            func = (found.group(1), found.group(2) or (
                words[2][1:words[2].find("]")] if len(words) > 2 and words[2][:1] == "["
                else None))
    return path, func


def _named_function(msg, marker):
    """The function right after ``marker`` in a headline (``... in func+0x1/0x2``)."""
    pos = msg.find(marker)
    if pos < 0:
        return None
    rest = msg[pos + len(marker):].lstrip()
    found = _HEAD_FUNC.match(rest)
    if found is None:
        return None
    word = rest[:found.end()].split(None, 1)[0] if rest else ""
    after = rest[found.end():found.end() + 1]
    if "/" in word and "+0x" not in word or after in (":", "/", "."):
        return None
    return found.group(1), found.group(2)


def _head_function(kind, headline, panic_reason):
    if kind == "sanitizer":
        return _named_function(headline, " in ")
    if kind == "panic" and panic_reason and "stack is corrupted in:" in panic_reason:
        named = _named_function(panic_reason, "corrupted in:")
        if named is not None and not all(c in "0123456789abcdefx" for c in named[0]):
            return named
        return None
    if kind == "warning":
        return _warning_site(headline)[1]
    return None


_SOURCE_TOPS = ("arch", "block", "certs", "crypto", "drivers", "fs", "include", "init",
                "io_uring", "ipc", "kernel", "lib", "mm", "net", "rust", "security", "sound",
                "virt")


def _source_path(path):
    """A source path relative to the kernel tree (build machines print absolute ones)."""
    if not path.startswith("/"):
        return path
    parts = path.split("/")
    for index in range(len(parts) - 1, 0, -1):
        if parts[index] in _SOURCE_TOPS:
            return "/".join(parts[index:])
    return parts[-1]


def _source_reason(prefix, path):
    base = os.path.basename(path)
    if base == "list_debug.c":
        return "list corruption"
    if base == "usercopy.c":
        return "bad usercopy"
    return "%s %s" % (prefix, _source_path(path))


_KASAN_TYPES = {"slab-use-after-free": "use-after-free", "double-free or invalid-free":
                "invalid-free", "double-free": "invalid-free", "vmalloc-out-of-bounds":
                "out-of-bounds", "slab-out-of-bounds": "out-of-bounds",
                "global-out-of-bounds": "out-of-bounds", "stack-out-of-bounds": "out-of-bounds"}


def _sanitizer_reason(headline):
    text = headline[5:] if headline.startswith("BUG: ") else headline
    tool, _sep, rest = text.partition(": ")
    what = rest.split(" in ", 1)[0].strip()
    if tool == "KFENCE":
        what = what.split(" ", 1)[0]
    elif tool == "KASAN":
        what = _KASAN_TYPES.get(what, what)
    elif tool == "UBSAN" and what.lower().startswith("undefined behaviour"):
        what = "undefined behaviour"
    return "%s: %s" % (tool, normalize_text(what))


def _die_reason(headline):
    text = _cut_die(headline)
    if text.startswith("Internal error:"):
        text = text[15:].strip()
    if text.startswith("Oops"):
        text = text[4:].lstrip(" -:")
    return normalize_text(text).lower() or "oops"


def canonical_reason(kind, headline, panic_reason):
    """The reason text that enters the signature (same wording on every kernel version)."""
    headline = headline or ""
    if kind == "sysrq":
        return "sysrq triggered crash"
    if kind == "null_deref":
        return "kernel NULL pointer dereference"
    if kind == "gpf":
        return "general protection fault"
    if kind == "stack_overflow":
        return "kernel stack overflow"
    if kind == "bug":
        if headline.lower().startswith("kernel bug at "):
            path = headline[14:].split(None, 1)[0].rsplit(":", 1)[0] if headline[14:] else ""
            if path.endswith((".c", ".h", ".S", ".rs")):
                return _source_reason("kernel BUG at", path)
        return "kernel BUG"
    if kind == "oops":
        if headline.startswith(_PAGING):
            return "unable to handle kernel paging request"
        if headline.startswith("Unhandled fault:"):
            return "unhandled fault: " + normalize_text(
                headline[16:].split(" (", 1)[0].split(" at ", 1)[0]).lower()
        if headline.startswith("Bad mode in "):
            return "bad mode"
        return _die_reason(headline)
    if kind == "sanitizer":
        return _sanitizer_reason(headline)
    if kind == "warning":
        path, _func = _warning_site(headline)
        if path:
            return _source_reason("WARNING at", path)
        text = headline
        if text.startswith("BUG: "):
            text = text[5:].split(": ", 1)[0].split(" at ", 1)[0]
        return normalize_text(text)
    if kind in ("soft_lockup", "hard_lockup", "rcu_stall", "hung_task"):
        return {"soft_lockup": "soft lockup", "hard_lockup": "hard LOCKUP",
                "rcu_stall": "RCU stall", "hung_task": "hung task"}[kind]
    if kind in ("oom", "mce", "nmi", "vfs_root", "kill_init", "panic"):
        return normalize_text(panic_reason or headline)
    return normalize_text(headline)


def task_family(comm):
    """A command without its instance numbers (``kworker/u9:2`` is ``kworker``)."""
    if not comm:
        return None
    return comm.split("/", 1)[0].rstrip("0123456789.:-_") or comm


def compute_signature(kind, reason, culprit, module, comm=None):
    """Return ``(signature, signature_text)``; see the module docstring for the design.

    When the log names no function at all (a trace cut off, an unsymbolized address), the
    task's command without its numbers stands in for the culprit.
    """
    parts = ["kind=%s" % kind, "reason=%s" % (reason or "")]
    if kind not in PATH_INSENSITIVE_KINDS:
        if culprit is None and task_family(comm):
            parts.append("task=%s" % task_family(comm))
        else:
            parts.append("culprit=%s" % ("%s [%s]" % (culprit, module) if module else
                                         (culprit or "")))
    text = " | ".join(parts)
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16], text


# --- the record ----------------------------------------------------------------------------


def _decide(parser):
    """``(anchor block, kind)`` of the first crash of the log."""
    panic, crash, sanitizer = parser.panic, parser.first_crash, parser.first_sanitizer
    if sanitizer is not None and (crash is not None or panic is not None):
        return sanitizer, "sanitizer"
    if crash is not None:
        return crash, crash.kind
    if panic is not None:
        kind, link = panic_cause(panic.text[len(_PANIC):].strip())
        target = parser.latest.get(link) if link else None
        if link == "crash" and parser.unknown is not None:
            target = parser.unknown
            if target.line < panic.line:
                return target, "oops"
        if target is not None and target.line < panic.line:
            if target.outer is not None:
                target = target.outer
            return target, target.kind
        if kind in ("warning", "oops"):
            kind = "panic"
        return panic, kind
    if parser.unknown is not None:
        return parser.unknown, "unknown"
    return None, None


def _read_prefix(block):
    """Fill ``host``, ``stamp`` and ``ctime`` from the raw headline line kept in ``host``."""
    if block.stamp is not None or block.ctime is not None or block.host is None:
        return block
    raw = block.host
    found = _PREFIX.match(raw)
    if found.end() == 0 and "] " in raw:
        glued = _GLUED.search(raw, 1)
        if glued is not None:
            found = _PREFIX.match(raw, glued.start())
    block.host = found.group("host") or found.group("host2")
    block.stamp = found.group("stamp") or ""
    block.ctime = found.group("ctime")
    return block


def _crash_time(block):
    if block.stamp and block.stamp[:1].isdigit():
        return block.stamp.replace(" ", "T", 1)
    if block.ctime:
        try:
            return datetime.datetime.strptime(block.ctime, "%a %b %d %H:%M:%S %Y").isoformat()
        except ValueError:
            return None
    return None


def _first(*values):
    for value in values:
        if value is not None:
            return value
    return None


def _excerpt(block):
    if not block.lines:
        return []
    start = max(0, block.head + 1 - EXCERPT_BEFORE)
    return list(block.lines[start:block.head + 1 + EXCERPT_AFTER])


def build_record(parser):
    """The triage record of a fed ``TriageParser``; ``ParseError`` when the log shows no crash."""
    anchor, kind = _decide(parser)
    if anchor is None:
        raise ParseError(_no_crash_message(parser))
    panic = parser.panic
    _read_prefix(anchor)
    if panic is not None:
        _read_prefix(panic)
    report = _analyze(anchor, parser.relay)
    panic_report = None
    if panic is not None and panic is not anchor and (
            (not report.trace and report.rip is None) or report.release is None
            or report.taint is None or report.cpu is None or kind == "hard_lockup"):
        panic_report = _analyze(panic, parser.relay)
    panic_reason = panic.text[len(_PANIC):].strip() if panic is not None else None
    headline = anchor.text or ""
    if panic_reason is None:
        panic_reason = headline
    if anchor is panic:
        headline = panic.text
    source = report
    if not report.trace and report.rip is None and panic_report is not None:
        source = panic_report
    if kind == "hard_lockup" and panic_report is not None and any(
            flag == "m" for flag, _n, _m in panic_report.trace):
        # old kernels print the lockup's registers from another context; the panic's NMI
        # backtrace shows the interrupted code after the NMI section
        source = panic_report
    head = _head_function(kind, headline, panic_reason)
    by_base = None
    if kind in ("soft_lockup", "rcu_stall"):
        by_base = "stall"
    elif (kind == "stack_overflow" and not headline.startswith("PANIC: double fault")) or (
            kind == "panic" and ("stack end" in panic_reason or "stack overflow" in panic_reason)):
        by_base = "stack"
    function, module, culprit, culprit_module, call_trace = _select(kind, source, head, by_base)
    if kind in OOPS_KINDS and (function == "sysrq_handle_crash" or (
            parser.sysrq_line is not None and 0 < anchor.line - parser.sysrq_line <= 5)):
        # the crash sysrq-trigger asks for (an oops on kernels that do not panic first)
        kind = "sysrq"
    cpu, comm, pid = _headline_fields(anchor.kind, headline)
    others = [r for r in (report, panic_report) if r is not None]
    release = _first(*[r.release for r in others])
    build = next((r.build for r in others if r.release == release and r.build), None)
    if release is None:
        release = parser.linux_release
    if parser.linux_build and (release is None or release == parser.linux_release):
        build = parser.linux_build
    taint_report = next((r for r in others if r.taint is not None), None)
    reason = canonical_reason(kind, headline, panic_reason)
    comm = _first(comm, *[r.comm for r in others])
    signature, signature_text = compute_signature(kind, reason, culprit, culprit_module, comm)
    record = {
        "kind": kind,
        "panic_reason": panic_reason,
        "headline": headline,
        "function": function,
        "module": module,
        "culprit": culprit,
        "culprit_module": culprit_module,
        "taint": list(taint_report.taint) if taint_report else [],
        "taint_raw": taint_report.taint_raw if taint_report else None,
        "comm": comm,
        "pid": _first(pid, *[r.pid for r in others]),
        "cpu": _first(cpu, *[r.cpu for r in others]),
        "kernel_release": release,
        "kernel_build": build,
        "hardware": _first(*([r.hardware for r in others] + [parser.dmi])),
        "call_trace": call_trace,
        "signature": signature,
        "signature_text": signature_text,
        "line": anchor.line,
        "host": anchor.host or (panic.host if panic is not None else None),
        "crash_time": _crash_time(anchor) or (_crash_time(panic) if panic else None),
        "events": [dict(e) for e in parser.events],
        "event_count": parser.event_count,
    }
    if parser.keep_excerpt:
        record["excerpt"] = _excerpt(anchor)
    return record


def _no_crash_message(parser):
    if not parser.lineno:
        return "the kernel log is empty"
    seen = collections.OrderedDict()
    for event in parser.events:
        seen.setdefault(event["kind"], event["line"])
    if seen:
        found = ", ".join("%s (first at line %d)" % item for item in seen.items())
        return ("no crash in %d lines of kernel log: no 'Kernel panic - not syncing', Oops, "
                "BUG or general protection fault; only non-fatal events: %s"
                % (parser.lineno, found))
    return ("no crash in %d lines of kernel log: no 'Kernel panic - not syncing', Oops, BUG, "
            "general protection fault, lockup, hung task or machine check report"
            % parser.lineno)


# --- entry points --------------------------------------------------------------------------


def triage_lines(lines, keep_excerpt=True):
    """Triage an iterable of kernel log lines."""
    parser = TriageParser(keep_excerpt=keep_excerpt)
    parser.feed_lines(lines)
    return parser.record()


def triage_text(text, keep_excerpt=True):
    """Triage the kernel log ``text``."""
    if not isinstance(text, str):
        raise ParseError("the kernel log must be text, not %s" % type(text).__name__)
    return triage_lines(io.StringIO(text), keep_excerpt=keep_excerpt)


class _Decoded(object):
    """The text of a binary file object as ``io.TextIOWrapper`` gives it (UTF-8, invalid bytes
    replaced, universal newlines), after ``head``, its first bytes already read: ``read(size)``
    returns ``size`` characters until the end."""

    def __init__(self, handle, head):
        self.handle = handle
        self.decoder = io.IncrementalNewlineDecoder(
            codecs.getincrementaldecoder("utf-8")("replace"), True)
        self.text = self.decoder.decode(head)
        self.end = False

    def read(self, size):
        while len(self.text) < size and not self.end:
            data = self.handle.read(CHUNK_CHARS)
            self.end = not data
            self.text += self.decoder.decode(data, final=self.end)
        text, self.text = self.text[:size], self.text[size:]
        return text


def _has_long_line(text):
    """Whether a line of ``text`` (with the unterminated last one) is longer than ``MAX_LINE``:
    one rfind per ``MAX_LINE`` characters instead of a len() per line. Every line before ``pos``
    is short; the last line end in the next ``MAX_LINE + 1`` characters moves it on, and where
    there is none the line at ``pos`` is long."""
    pos, end = 0, len(text)
    while end - pos > MAX_LINE:
        cut = text.rfind("\n", pos, pos + MAX_LINE + 1)
        if cut < 0:
            return True
        pos = cut + 1
    return False


def _feed_text(parser, text):
    """Feed the whole decoded text of a log of at most ``CHUNK_CHARS`` characters, in the
    chunks ``iter_log_chunks`` gives for it (the lines, then an unterminated last line)."""
    lines = text.split("\n")
    pending = lines.pop()
    # a long last line also makes the complete lines cut: a no-op for them, all short then
    if lines and _has_long_line(text):
        lines = [line[:MAX_LINE] for line in lines]
    parser.feed_chunk(lines)
    if pending:
        parser.feed_chunk([pending[:MAX_LINE]])


def triage_file(path, keep_excerpt=True):
    """Triage the kernel log file ``path``, read in bounded chunks.

    The file is decoded as UTF-8 (invalid bytes replaced) with universal newlines. A file of
    at most ``CHUNK_CHARS`` bytes is read and decoded at once; a bigger one through a text
    stream in chunks of ``CHUNK_CHARS`` characters (``iter_log_chunks``): the same lines.
    The file is opened without following a link, and must be a regular file (a crash
    directory's log may have been planted by the crashed host).
    """
    try:
        with io.open(open_regular(path), "rb") as handle:
            parser = TriageParser(keep_excerpt=keep_excerpt)
            data = handle.read(CHUNK_CHARS + 1)
            if len(data) <= CHUNK_CHARS:
                text = data.decode("utf-8", "replace")
                if "\r" in text:
                    text = text.replace("\r\n", "\n").replace("\r", "\n")
                _feed_text(parser, text)
            else:
                for lines in iter_log_chunks(_Decoded(handle, data)):
                    parser.feed_chunk(lines)
            return parser.record()
    except (IOError, OSError, Refused) as exc:
        raise HostError("cannot read kernel log %s: %s" % (path, exc))
    except ParseError as exc:
        raise ParseError("%s: %s" % (path, exc))


def find_bundle_log(directory):
    """The kernel log of a kdump bundle directory.

    ``vmcore-dmesg.txt`` (RHEL), then ``dmesg.txt``, then the newest ``dmesg.<stamp>``
    (kdump-tools). Only regular files count: a link is never taken for a kernel log.
    """
    try:
        names = os.listdir(directory)
    except (IOError, OSError) as exc:
        raise HostError("cannot list bundle directory %s: %s" % (directory, exc))

    def regular(name):
        try:
            return stat.S_ISREG(os.lstat(os.path.join(directory, name)).st_mode)
        except (IOError, OSError):
            return False

    for name in BUNDLE_NAMES:
        if name in names and regular(name):
            return os.path.join(directory, name)
    stamped = sorted(n for n in names if n.startswith("dmesg.") and not n.endswith(
        (".gz", ".xz", ".bz2", ".zst")) and regular(n))
    if stamped:
        return os.path.join(directory, stamped[-1])
    raise HostError("no kernel log in bundle directory %s (looked for %s and dmesg.*)"
                    % (directory, ", ".join(BUNDLE_NAMES)))


def group_records(records):
    """Map each signature to its records, in order of first appearance."""
    groups = collections.OrderedDict()
    for record in records:
        groups.setdefault(record["signature"], []).append(record)
    return groups
