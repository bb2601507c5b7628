"""The CLI shell: one-line errors with exit code 2; the loss-core demonstration."""

import re

from rlgan_ls.cli import main


def test_core_demo_prints_targets_and_a_holding_identity(capsys):
    assert main(["core-demo", "--alpha", "0", "0.1", "--classes", "5"]) == 0
    out = capsys.readouterr().out
    assert "[0.9200, 0.0200, 0.0200, 0.0200, 0.0200]" in out
    errors = [float(x) for x in re.findall(r"identity error\s+= ([0-9.e+-]+)", out)]
    assert len(errors) == 2 and max(errors) < 1e-12


def test_bad_alpha_is_one_line_exit_2(capsys):
    assert main(["core-demo", "--alpha", "1.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--alpha" in err and "[0, 1)" in err


def test_unknown_command_and_bad_flag_type_exit_2(capsys):
    for argv in (["nope"], ["core-demo", "--classes", "many"]):
        try:
            main(argv)
        except SystemExit as e:
            assert e.code == 2
        else:
            raise AssertionError("expected exit 2")
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "error:" in err and "Traceback" not in err
