"""Accelerator choice from given host facts (no /proc, no /dev/kvm of the test machine)."""
import pytest

from crashlab import accel

INTEL_VMX = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae vmx ept sse2 hypervisor\n"
AMD_SVM = "processor\t: 0\nflags\t\t: fpu vme svm npt sse2\n"
NO_VIRT = "processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae sse2 hypervisor avx512f\n"
# the flags line of this project's CI host kind: PVM, no vmx/svm
PVM_HOST = ("processor\t: 0\nflags\t\t: fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 "
            "clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc hypervisor lahf_lm abm\n")


@pytest.mark.parametrize("cpuinfo, modules, dev_kvm, expected, reason_part", [
    (INTEL_VMX, {"kvm", "kvm_intel"}, True, True, "vmx/svm"),
    (AMD_SVM, {"kvm", "kvm_amd"}, True, True, "vmx/svm"),
    (INTEL_VMX, {"kvm", "kvm_intel"}, False, False, "no /dev/kvm"),
    (NO_VIRT, {"kvm"}, True, False, "no vmx/svm"),
    (PVM_HOST, {"kvm", "kvm_pvm"}, True, False, "PVM"),
    # PVM wins even where a vmx flag shows up (nested setups): stock kernels hang under it
    (INTEL_VMX, {"kvm", "kvm_pvm", "kvm_intel"}, True, False, "PVM"),
    ("", set(), False, False, "no /dev/kvm"),
])
def test_kvm_candidate(cpuinfo, modules, dev_kvm, expected, reason_part):
    ok, reason = accel.kvm_candidate(cpuinfo, modules, dev_kvm)
    assert ok is expected
    assert reason_part in reason


def test_flag_must_be_a_whole_word():
    # "vmxnet" or "svm_lock" style tokens are not the vmx/svm flags
    ok, _reason = accel.kvm_candidate("flags\t: fpu vmxnet svm_lock\n", {"kvm"}, True)
    assert ok is False


def test_cpu_flags_reads_every_flags_line():
    text = "flags\t: a b\nmodel name\t: x\nflags\t: c\n"
    assert accel.cpu_flags(text) == {"a", "b", "c"}


def test_facts_key_changes_with_modules_and_flags():
    k1 = accel.facts_key(INTEL_VMX, {"kvm", "kvm_intel"}, True)
    assert k1 == accel.facts_key(INTEL_VMX, {"kvm_intel", "kvm", "ext4"}, True)
    assert k1 != accel.facts_key(INTEL_VMX, {"kvm", "kvm_pvm"}, True)
    assert k1 != accel.facts_key(AMD_SVM, {"kvm", "kvm_intel"}, True)
    assert k1 != accel.facts_key(INTEL_VMX, {"kvm", "kvm_intel"}, False)


@pytest.mark.parametrize("forced, args", [
    ("tcg", ["-accel", "tcg,thread=multi", "-cpu", "max,-la57,-svm,-vmx"]),
    ("kvm", ["-accel", "kvm", "-cpu", "host"]),
])
def test_environment_forces_the_accelerator(monkeypatch, forced, args):
    monkeypatch.setenv("CRASHKIT_LAB_ACCEL", forced)
    monkeypatch.delenv("CRASHKIT_LAB_TCG_CPU", raising=False)
    choice = accel.choose(None)
    assert choice["accel"] == forced
    assert choice["args"] == args


def test_tcg_cpu_model_can_be_overridden(monkeypatch):
    monkeypatch.setenv("CRASHKIT_LAB_ACCEL", "tcg")
    monkeypatch.setenv("CRASHKIT_LAB_TCG_CPU", "qemu64")
    assert accel.choose(None)["args"] == ["-accel", "tcg,thread=multi", "-cpu", "qemu64"]


def test_non_candidate_host_gets_tcg_without_probing(monkeypatch):
    monkeypatch.setenv("CRASHKIT_LAB_ACCEL", "auto")
    monkeypatch.delenv("CRASHKIT_LAB_TCG_CPU", raising=False)
    monkeypatch.setattr(accel, "host_facts", lambda: (PVM_HOST, {"kvm", "kvm_pvm"}, True))

    def no_probe(*_a, **_k):
        raise AssertionError("must not probe a host that cannot run KVM")

    monkeypatch.setattr(accel, "probe_boot", no_probe)
    choice = accel.choose("/nonexistent/disk.raw")
    assert choice["accel"] == "tcg"
    assert choice["args"] == ["-accel", "tcg,thread=multi", "-cpu", "max,-la57,-svm,-vmx"]


@pytest.mark.parametrize("booted, expected", [(True, "kvm"), (False, "tcg")])
def test_candidate_is_confirmed_by_the_probe_and_cached(monkeypatch, tmp_path, booted, expected):
    monkeypatch.setenv("CRASHKIT_LAB_ACCEL", "auto")
    monkeypatch.setenv("CRASHKIT_LAB_CACHE", str(tmp_path))
    monkeypatch.setattr(accel, "host_facts", lambda: (INTEL_VMX, {"kvm", "kvm_intel"}, True))
    calls = []

    def probe(disk, seconds=accel.PROBE_SECONDS):
        calls.append(disk)
        return booted, 4.2

    monkeypatch.setattr(accel, "probe_boot", probe)
    assert accel.choose("/images/disk.raw")["accel"] == expected
    assert accel.choose("/images/disk.raw")["accel"] == expected
    assert calls == ["/images/disk.raw"]  # second decision came from <cache>/accel.json
