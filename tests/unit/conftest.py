"""Unit test session hooks: print the triage's agreement with syzkaller's corpus; one
hypothesis profile for every property test.

test_triage_corpus.py leaves its figures on the pytest config; they are printed at the end of
the run whatever the verbosity, so the test command's output carries them.

Hypothesis's ``too_slow`` health check fails a test when generating its inputs takes long, which
is a property of the machine's load, not of the code: tools/test.sh runs the unit tests at the
lowest priority beside two TCG guests, and it failed ``test_cmdline.py::test_edit_property``
there once ("only produced 4 valid examples in 1.04 seconds"). It is suppressed for every test
(a profile is the default each test's own ``@settings`` starts from, so this file must load it
before the test modules are imported, which pytest does for conftest files).
"""
try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the test run without hypothesis installed skips the property tests
    pass
else:
    settings.register_profile("crashkit", suppress_health_check=[HealthCheck.too_slow])
    settings.load_profile("crashkit")


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # pylint: disable=unused-argument
    lines = getattr(config, "_crashkit_triage_figures", None)
    if lines:
        terminalreporter.section("triage agreement with syzkaller (shared crash corpus)")
        for line in lines:
            terminalreporter.write_line(line)
