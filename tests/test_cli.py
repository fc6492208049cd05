import subprocess
import sys

from mlprod import cli


def test_help_lists_commands(capsys):
    parser = cli.build_parser()
    assert "run" in parser.format_help()


def test_unknown_pipeline_is_one_clear_line_and_exit_1(capsys):
    rc = cli.main(["run", "no-such-pipeline", "--output", "/tmp/x"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert err == ["mlprod: error: unknown pipeline 'no-such-pipeline'; choose one of penguin."]


def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "mlprod.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("mlprod ")
