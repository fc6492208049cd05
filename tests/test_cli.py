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


def test_validate_command_flags_the_skewed_penguin(capsys, tmp_path):
    from mlprod import datasets

    rc = cli.main(["validate", str(datasets.path("penguin/labelled")), str(datasets.path("penguin/skewed")),
                   "--label", "species", "--report", str(tmp_path / "r.html")])
    out = capsys.readouterr().out
    assert rc == 3 and "culmen_length_mm" in out and (tmp_path / "r.html").is_file()


def test_optimize_and_evaluate_commands(capsys, tmp_path):
    import numpy as np
    import tf_keras as keras
    from sklearn.datasets import load_digits

    d = load_digits()
    x, y = (d.data / 16).astype("float32"), d.target
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.layers.Dense(32, activation="relu", input_shape=(64,)),
                          keras.layers.Dense(10, activation="softmax")])
    m.compile("adam", "sparse_categorical_crossentropy")
    m.fit(x, y, epochs=5, verbose=0)
    m.save(tmp_path / "m.h5")
    np.savez(tmp_path / "d.npz", x_train=x[:1400], y_train=y[:1400], x_test=x[1400:], y_test=y[1400:])
    rc = cli.main(["optimize", str(tmp_path / "m.h5"), "--data", str(tmp_path / "d.npz"), "--techniques",
                   "float,int8", "--max-drop", "5", "--output", str(tmp_path / "out")])
    assert rc == 0 and (tmp_path / "out" / "int8.tflite").is_file()
    import pandas as pd

    cols = [f"p{i}" for i in range(64)]
    pd.DataFrame(x[1400:], columns=cols).assign(label=y[1400:]).to_csv(tmp_path / "test.csv", index=False)
    rc = cli.main(["evaluate", str(tmp_path / "out" / "int8.tflite"), str(tmp_path / "test.csv"), "--label", "label",
                   "--feature-columns", ",".join(cols), "--threshold", "sparse_categorical_accuracy>=0.99"])
    assert rc == 3  # the threshold is deliberately out of reach: exit code says "not blessed"
    assert "sparse_categorical_accuracy" in capsys.readouterr().out
