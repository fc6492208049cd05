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
    assert err == ["mlprod: error: unknown pipeline 'no-such-pipeline'; choose one of penguin, chicago_taxi, mnist_edge."]


def test_console_script_installed():
    out = subprocess.run([sys.executable, "-m", "mlprod.cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("mlprod ")


def test_runs_on_missing_store_is_a_clear_error(capsys, tmp_path):
    rc = cli.main(["runs", "--metadata", str(tmp_path / "nope.sqlite")])
    assert rc == 1
    assert "no ML Metadata store" in capsys.readouterr().err


def test_compile_kubeflow_v2(tmp_path, capsys):
    out = tmp_path / "penguin.json"
    rc = cli.main(["compile", "penguin", "--image", "img:1", "--root", "gs://b/run", "--output", str(out)])
    assert rc == 0 and out.is_file()
    assert "Trainer" in capsys.readouterr().out


def test_unwritable_output_is_one_clear_line(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")  # a file where a folder is needed
    rc = cli.main(["run", "penguin", "--output", str(blocker / "out")])
    assert rc == 1
    assert "cannot create output folder" in capsys.readouterr().err
