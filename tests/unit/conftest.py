"""Unit test session hooks: print the triage's agreement with syzkaller's corpus.

test_triage_corpus.py leaves its figures on the pytest config; they are printed at the end of
the run whatever the verbosity, so the test command's output carries them.
"""


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # pylint: disable=unused-argument
    lines = getattr(config, "_crashkit_triage_figures", None)
    if lines:
        terminalreporter.section("triage agreement with syzkaller (shared crash corpus)")
        for line in lines:
            terminalreporter.write_line(line)
