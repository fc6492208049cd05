"""Statistics of CSV files read by pyarrow on the workers equal TFDV's own CSV decoder's."""
import pytest

from mlprod import datasets
from mlprod.io.files import list_files
from mlprod.io.sources import read_on_workers, tfxio_sources
from mlprod.validation.stats import compute_statistics, stats_options

BEAM = ["--direct_running_mode=in_memory"]


def _tfdv_csv(files, tmp_path):
    import apache_beam as beam
    import tensorflow_data_validation as tfdv

    with beam.Pipeline() as p:
        _ = (read_on_workers(p, tfxio_sources(files, "csv")) | tfdv.GenerateStatistics(stats_options())
             | tfdv.WriteStatisticsToBinaryFile(str(tmp_path / "tfdv.pb")))
    return tfdv.load_stats_binary(str(tmp_path / "tfdv.pb"))


def _summary(stats):
    out = {}
    for f in stats.datasets[0].features:
        if f.HasField("num_stats"):
            n = f.num_stats
            out[f.path.step[0]] = (n.common_stats.num_missing, n.common_stats.num_non_missing, round(n.mean, 3),
                                   round(n.min, 3), round(n.max, 3))
        else:
            s = f.string_stats
            out[f.path.step[0]] = (s.common_stats.num_missing, s.common_stats.num_non_missing, s.unique)
    return out


def test_taxi_csv_statistics_match_tfdv_decoder(tmp_path):
    files = list_files(datasets.path("chicago_taxi"))
    ours = compute_statistics(datasets.path("chicago_taxi"), beam_args=BEAM)
    theirs = _tfdv_csv(files, tmp_path)
    assert ours.datasets[0].num_examples == theirs.datasets[0].num_examples == 15002
    a, b = _summary(ours), _summary(theirs)
    assert a.keys() == b.keys()
    assert a == b  # missing counts, means, ranges, distinct strings
    types = {f.path.step[0]: f.type for f in ours.datasets[0].features}
    tfdv_types = {f.path.step[0]: f.type for f in theirs.datasets[0].features}
    # only a column with no value in the sample may differ (read as float64; TFDV: INT)
    assert {k for k in types if types[k] != tfdv_types[k]} <= {"pickup_census_tract"}


def test_a_value_unlike_the_sample_falls_back_to_tfdv_decoder(tmp_path):
    (tmp_path / "a.csv").write_text("n,s\n" + "".join(f"{i},x\n" for i in range(50)))
    (tmp_path / "b.csv").write_text("n,s\n" + "".join(f"{i},y\n" for i in range(49)) + "not a number,z\n")
    stats = compute_statistics(tmp_path, beam_args=BEAM)
    assert stats.datasets[0].num_examples == 100
    n = next(f for f in stats.datasets[0].features if f.path.step[0] == "n")
    assert n.HasField("string_stats") and n.string_stats.unique == 51  # 0..49 and the text: typed from all rows, nothing lost


def test_an_empty_csv_file_is_a_clear_error(tmp_path):
    from mlprod.errors import DataError

    (tmp_path / "bad.csv").write_text("")
    with pytest.raises(DataError):
        compute_statistics(tmp_path, beam_args=BEAM)


def test_hidden_files_in_a_folder_are_left_out(tmp_path):
    # a marker such as ".rows-100" or ".DS_Store" beside the shards is not data, and must not make
    # the call read every row in the driver either (file_pattern gives the runner "[!.]*")
    from mlprod.io.files import file_pattern

    (tmp_path / "a.csv").write_text("n,s\n" + "".join(f"{i},x\n" for i in range(60)))
    (tmp_path / "b.csv").write_text("n,s\n" + "".join(f"{i},y\n" for i in range(40)))
    (tmp_path / ".rows-100").write_bytes(b"\x00\xffnot,csv\n")
    assert file_pattern(tmp_path, list_files(tmp_path)) == f"{tmp_path}/[!.]*"
    stats = compute_statistics(tmp_path, beam_args=BEAM)
    assert stats.datasets[0].num_examples == 100
    s = next(f for f in stats.datasets[0].features if f.path.step[0] == "s")
    assert s.string_stats.unique == 2


def test_a_remote_folder_leaves_hidden_files_out_too():
    """A URI folder (here TensorFlow's in-memory ``ram://`` file system, as gs:// or s3:// would be)
    is listed without its hidden files, and the runner's pattern leaves them out as well."""
    import re

    import tensorflow as tf
    from apache_beam.io.filesystem import FileSystem

    from mlprod.io.files import file_pattern

    folder = "ram://mlprod-test-remote/parts"
    tf.io.gfile.makedirs(folder)
    for name in ("a.csv", "b.csv", ".DS_Store"):
        with tf.io.gfile.GFile(f"{folder}/{name}", "w") as f:
            f.write("x\n1\n")
    files = list_files(folder)
    assert [f.rsplit("/", 1)[1] for f in files] == ["a.csv", "b.csv"]
    pattern = file_pattern(folder, files)
    assert pattern == f"{folder}/[!.]*"
    regex = FileSystem.translate_pattern(pattern)  # how Beam's file systems match it on the workers
    assert [n for n in ("a.csv", "b.csv", ".DS_Store") if re.match(regex, f"{folder}/{n}")] == ["a.csv", "b.csv"]
