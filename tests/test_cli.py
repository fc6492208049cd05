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
                   "float,int8", "--max-accuracy-drop", "0.05", "--output", str(tmp_path / "out")])
    assert rc == 0 and (tmp_path / "out" / "int8.tflite").is_file()
    import pandas as pd

    cols = [f"p{i}" for i in range(64)]
    pd.DataFrame(x[1400:], columns=cols).assign(label=y[1400:]).to_csv(tmp_path / "test.csv", index=False)
    rc = cli.main(["evaluate", str(tmp_path / "out" / "int8.tflite"), str(tmp_path / "test.csv"), "--label", "label",
                   "--feature-columns", ",".join(cols), "--threshold", "sparse_categorical_accuracy>=0.99"])
    assert rc == 3  # the threshold is deliberately out of reach: exit code says "not blessed"
    assert "sparse_categorical_accuracy" in capsys.readouterr().out


def test_model_files_with_lambda_code_are_not_loaded_unless_trusted(capsys, tmp_path):
    """Issue 15: a Lambda layer's payload ran when `mlprod optimize` / `evaluate` loaded a .h5."""
    import numpy as np
    import pandas as pd
    import tf_keras as keras

    marker = tmp_path / "PAYLOAD_RAN"
    where = str(marker)
    m = keras.Sequential([keras.layers.Lambda(lambda v: v * 1.0 + 0 * len(open(where, "w").name),
                                              input_shape=(4,)),
                          keras.layers.Dense(3, activation="softmax")])
    m.save(tmp_path / "evil.h5")
    marker.unlink(missing_ok=True)  # saving traced the lambda
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    y = np.arange(40) % 3
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    rc = cli.main(["optimize", str(tmp_path / "evil.h5"), "--data", str(tmp_path / "d.npz"), "--techniques", "float",
                   "--output", str(tmp_path / "out")])
    assert rc == 1 and "Lambda layer" in capsys.readouterr().err and not marker.exists()
    pd.DataFrame(x, columns=list("abcd")).assign(label=y).to_csv(tmp_path / "d.csv", index=False)
    rc = cli.main(["evaluate", str(tmp_path / "evil.h5"), str(tmp_path / "d.csv"), "--label", "label"])
    assert rc == 1 and "--trust-model" in capsys.readouterr().err and not marker.exists()
    # opting in loads it (and its code runs, as the user asked)
    rc = cli.main(["evaluate", str(tmp_path / "evil.h5"), str(tmp_path / "d.csv"), "--label", "label",
                   "--trust-model"])
    assert rc == 0 and marker.exists()


def test_evaluate_without_thresholds_exits_0(capsys, tmp_path):
    """Issue 13: no gate, yet exit 3 ("a gate said no") because TFMA reported missing thresholds."""
    import numpy as np
    import pandas as pd
    import tf_keras as keras

    m = keras.Sequential([keras.layers.Dense(3, activation="softmax", input_shape=(4,))])
    m.save(tmp_path / "m.h5")
    x = np.random.default_rng(0).normal(size=(40, 4)).astype("float32")
    pd.DataFrame(x, columns=list("abcd")).assign(label=np.arange(40) % 3).to_csv(tmp_path / "d.csv", index=False)
    assert cli.main(["evaluate", str(tmp_path / "m.h5"), str(tmp_path / "d.csv"), "--label", "label"]) == 0


def test_runs_without_a_store_prints_only_the_error(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["runs"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and "no ML Metadata store" in captured.err


def test_run_own_data_argument_errors_are_one_clear_line(capsys, tmp_path):
    csv = tmp_path / "d.csv"
    csv.write_text("x,y\n1,a\n2,b\n")
    cases = [(["run", "penguin", "--data", str(csv), "--label", "y"], "not both"),
             (["run", "--data", str(csv)], "--data needs --label"),
             (["run", "penguin", "--label", "y"], "go with --data"),
             (["run", "--data", str(tmp_path / "nope.csv"), "--label", "y"], "does not exist"),
             (["run", "--data", str(csv), "--label", "z"], "label column 'z' is not in"),
             (["run", "--data", str(csv), "--label", "y", "--spec", str(tmp_path / "no.yaml")], "is not a file")]
    for argv, message in cases:
        rc = cli.main([*argv, "--output", str(tmp_path / "out")])
        err = capsys.readouterr().err.strip().splitlines()
        assert rc == 1 and len(err) == 1 and message in err[0], (argv, err)
    # a single CSV is linked alone into OUTPUT/data (ExampleGen reads whole folders)
    args = cli.build_parser().parse_args(["run", "--data", str(csv), "--label", "y", "--output", str(tmp_path / "o")])
    (tmp_path / "o" / "data").mkdir(parents=True)
    (tmp_path / "o" / "data" / "stale.csv").write_text("x,y\n")
    cfg = cli._own_data_config(args, tmp_path / "o")
    assert sorted(p.name for p in cfg.data_root.iterdir()) == ["d.csv"] and cfg.pipeline_name == "tabular-d"
    assert (cfg.data_root / "d.csv").resolve() == csv.resolve() and cfg.seed == 0
