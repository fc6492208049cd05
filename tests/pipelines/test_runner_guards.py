"""Issue 15 item 9: one run per output folder, killed runs resume with a hint, no temp files left behind."""
import multiprocessing
import os
import tempfile

import pytest

from mlprod.errors import PipelineError
from mlprod.pipelines import penguin
from mlprod.pipelines.runner import _run_tempdir, close_interrupted, run_lock, run_pipeline


def _hold(root, ready, release):
    with run_lock(root):
        ready.set()
        release.wait(30)


def test_a_second_run_into_the_same_folder_is_refused(tmp_path):
    pipe = penguin.create_pipeline(penguin.config(tmp_path))
    root = str(pipe.pipeline_info.pipeline_root)
    ctx = multiprocessing.get_context("spawn")
    ready, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold, args=(root, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(PipelineError, match=rf"another run is using {root} \(pid {holder.pid}"):
            run_pipeline(pipe)
    finally:
        release.set()
        holder.join(30)
    with run_lock(root):  # free again once the first run ends
        pass


def test_executions_a_killed_run_left_running_are_closed(tmp_path):
    from ml_metadata.metadata_store import metadata_store
    from ml_metadata.proto import metadata_store_pb2 as pb

    pipe = penguin.create_pipeline(penguin.config(tmp_path))
    cfg = pipe.metadata_connection_config
    os.makedirs(os.path.dirname(cfg.sqlite.filename_uri), exist_ok=True)
    store = metadata_store.MetadataStore(cfg)  # what a run killed during Trainer leaves behind
    node_type = store.put_context_type(pb.ContextType(name="node"))
    [ctx] = store.put_contexts([pb.Context(type_id=node_type, name="penguin.Trainer")])
    ex_type = store.put_execution_type(pb.ExecutionType(name="Trainer"))
    [ex] = store.put_executions([pb.Execution(type_id=ex_type, last_known_state=pb.Execution.RUNNING)])
    store.put_attributions_and_associations([], [pb.Association(context_id=ctx, execution_id=ex)])
    assert close_interrupted(pipe) == ["Trainer"]
    assert store.get_executions_by_id([ex])[0].last_known_state == pb.Execution.CANCELED
    assert close_interrupted(pipe) == []


def test_run_temp_files_are_removed():
    with _run_tempdir():
        inner = tempfile.mkdtemp()  # what TFX's ephemeral package build does
        open(os.path.join(inner, "big"), "w").write("x" * 1000)
        assert os.environ["TMPDIR"] in inner
    assert not os.path.exists(inner)


def test_run_summary_follows_the_result_protocol(tmp_path):
    """RunSummary: .table (the lines of print(summary)), to_html, _repr_html_, save(output_dir)."""
    import pandas as pd

    from mlprod.pipelines.runner import RunSummary

    s = RunSummary("penguin", "/r", "/r/metadata.sqlite", run_id="run-7", accuracy=0.97, trivial_baseline=0.44,
                   blessed=True, pushed_model="/srv/m/3", executions={"Trainer": "COMPLETE", "SchemaGen": "CACHED"},
                   data_checks={"SkewValidator": "FAILED on [culmen_length_mm]; report r.html"},
                   warnings=["the model does not beat the trivial baseline"])
    table = s.table.set_index("item")["value"]
    assert table["blessed"] == "True" and table["pushed model"] == "/srv/m/3"
    assert table["eval accuracy"].startswith("0.9700 (trivial baseline 0.4400")
    assert table["data check"].startswith("SkewValidator: FAILED") and table["warning"].startswith("the model")
    assert [f"{k:<16}{v}" for k, v in s.table.itertuples(index=False)] == str(s).splitlines()
    assert s.executions_table.to_dict("list") == {"component": ["SchemaGen", "Trainer"],
                                                  "state": ["CACHED", "COMPLETE"], "cached": [True, False]}
    page = s.to_html()
    assert page.startswith("<!DOCTYPE html>") and "blessed and pushed" in page and "culmen_length_mm" in page
    assert s._repr_html_().startswith('<div class="mlprod-report">')
    written = s.save(tmp_path / "out")
    assert set(written) == {"table", "report", "executions"}
    assert pd.read_csv(written["table"])["item"].tolist() == s.table["item"].tolist()
    assert pd.read_csv(written["executions"])["state"].tolist() == ["CACHED", "COMPLETE"]
