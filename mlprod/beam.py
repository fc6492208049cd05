"""Beam runner arguments and the worker environment: the one place mlprod builds them.

Every Beam-powered call (``compute_statistics``, ``analyze_and_transform``, ``evaluate``, the
pipelines' StatisticsGen/Transform/Evaluator) runs on whatever runner its ``beam_args`` name.
Workers need what the driver has: ``TF_USE_LEGACY_KERAS=1`` (SavedModels and tfmot use Keras 2)
and mlprod importable. :func:`worker_args` adds ``--beam_plugins=mlprod`` so every SDK worker
started by Beam's boot code (Dataflow, Flink, Spark containers) imports mlprod, which sets the
variable, before any user code; :data:`WORKER_ENV` is set on processes we start ourselves (the
local worker pool) and in the Dockerfile.

``beam_args`` is always a list of strings (a tuple is accepted). The one default, for every
call and pipeline given none, is :func:`default_args`: DirectRunner in memory, or
multi-processing from :data:`MULTIPROCESS_BYTES` of input data on (:func:`choose_default` also
says why).

Runners:

- :func:`direct_args` -- DirectRunner, in-process or multi-processing.
- :func:`prism_args` -- Beam's Prism, a real portable runner (the Fn API that Flink and Dataflow
  Runner v2 speak), with workers in this process (``LOOPBACK``) or in a worker pool
  (:func:`worker_pool`), e.g. an isolated one with its own ``/tmp``, the checkout hidden and no
  mlprod but the wheel staged with the job (:func:`build_wheel`, ``--extra_package``): such
  workers share only what a cluster's workers share (the storage), which is how the tests prove
  that no step depends on a driver-local file and that the package workers install is complete.
- :func:`flink_args`, :func:`spark_args` and :func:`mlprod.pipelines.cloud.dataflow_beam_args`
  -- clusters (see docs/pipelines.md).

Example:
    >>> direct_args(2)
    ['--direct_running_mode=multi_processing', '--direct_num_workers=2', '--beam_plugins=mlprod']
    >>> flink_args("flink:8081", image="registry/mlprod:0.1")[:2]
    ['--runner=FlinkRunner', '--flink_master=flink:8081']
"""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from mlprod.errors import ConfigError

#: Environment every Beam worker needs (set by ``import mlprod`` too; here for processes we start).
WORKER_ENV = {"TF_USE_LEGACY_KERAS": "1"}
PLUGIN = "mlprod"  # imported first by every SDK worker Beam's boot code starts (--beam_plugins)
_LOCAL_RUNNERS = ("", "directrunner", "direct", "interactiverunner")
#: from this much input data on, the default DirectRunner mode is multi-processing (in memory below:
#: 731 rows took 133 s multi-processing and 37 s in memory, worker start-up being most of it)
MULTIPROCESS_BYTES = 50 * 2**20
IN_MEMORY = "--direct_running_mode=in_memory"


def worker_args(beam_args: Sequence[str] | None) -> list[str]:
    """``beam_args`` plus what workers need (``--beam_plugins=mlprod``), each added once.

    Example:
        >>> worker_args(["--runner=PrismRunner"])
        ['--runner=PrismRunner', '--beam_plugins=mlprod']
        >>> worker_args(worker_args([]))
        ['--beam_plugins=mlprod']
    """
    if isinstance(beam_args, str):
        raise ConfigError(f"beam_args must be a list of flags, e.g. ['--runner=PrismRunner'], not the string "
                          f"{beam_args!r}.")
    args = list(beam_args or [])
    plugins = [a.split("=", 1)[1] for a in args if a.startswith("--beam_plugins=")]
    if not any(PLUGIN in p.split(",") for p in plugins):
        args.append(f"--beam_plugins={PLUGIN}")
    return args


def pipeline_options(beam_args: Sequence[str] | None, default: Sequence[str] | None = None) -> Any:
    """``PipelineOptions`` of ``beam_args`` (or ``default`` when none: :func:`default_args`) with
    :func:`worker_args` added.

    Example:
        >>> pipeline_options(["--runner=DirectRunner"]).get_all_options()["beam_plugins"]
        ['mlprod']
    """
    from apache_beam.options.pipeline_options import PipelineOptions

    return PipelineOptions(worker_args(list(beam_args or (default_args() if default is None else default))))


def runner_name(beam_args: Sequence[str] | None) -> str:
    """The runner ``beam_args`` name, lower case, ``""`` for the default DirectRunner.

    Example:
        >>> runner_name(["--runner=PrismRunner"]), runner_name(None)
        ('prismrunner', '')
    """
    value = ""
    args = list(beam_args or [])
    for i, a in enumerate(args):
        if a.startswith("--runner="):
            value = a.split("=", 1)[1]
        elif a == "--runner" and i + 1 < len(args):
            value = args[i + 1]
    return value.lower()


def is_local(beam_args: Sequence[str] | None) -> bool:
    """True when the workers share the driver's disk (DirectRunner, or Prism with LOOPBACK workers).

    Example:
        >>> is_local(None), is_local(prism_args("localhost:50000", prism="/bin/true"))
        (True, False)
    """
    args = list(beam_args or [])
    if runner_name(args) in _LOCAL_RUNNERS:
        return True
    env = [a.split("=", 1)[1].upper() for a in args if a.startswith("--environment_type=")]
    return runner_name(args) in ("prismrunner", "prism") and env in ([], ["LOOPBACK"])


def option(beam_args: Sequence[str] | None, name: str) -> str | None:
    """The value of ``--name=VALUE`` in ``beam_args`` (last wins), or None.

    Example:
        >>> option(["--temp_location=gs://b/tmp"], "temp_location")
        'gs://b/tmp'
    """
    found = None
    for a in beam_args or []:
        if a.startswith(f"--{name}="):
            found = a.split("=", 1)[1]
    return found


def direct_args(workers: int | None = None) -> list[str]:
    """DirectRunner in multi-processing mode with ``workers`` processes (default: cores, at most 4).

    Example:
        >>> direct_args(1)[:2]
        ['--direct_running_mode=multi_processing', '--direct_num_workers=1']
    """
    n = workers or max(1, min(4, os.cpu_count() or 1))
    return worker_args(["--direct_running_mode=multi_processing", f"--direct_num_workers={n}"])


def choose_default(data_bytes: int | None = None, cores: int | None = None) -> tuple[list[str], str]:
    """The default ``beam_args`` for ``data_bytes`` of input (None: unknown, small), and a note saying which and why.

    Below :data:`MULTIPROCESS_BYTES` (or on one core) the DirectRunner runs in memory: starting
    worker processes for every Beam step costs far more than it saves on small data. Above, it
    runs multi-processing with one worker per core (at most 4).

    Example:
        >>> choose_default(40_000, cores=4)[0]
        ['--direct_running_mode=in_memory', '--beam_plugins=mlprod']
        >>> choose_default(2**30, cores=4)[0][:2]
        ['--direct_running_mode=multi_processing', '--direct_num_workers=4']
    """
    cores = cores or os.cpu_count() or 1
    if data_bytes is None:
        return worker_args([IN_MEMORY]), "Beam DirectRunner in memory (set beam_args to choose)"
    size = f"{data_bytes / 2**20:.1f} MiB" if data_bytes >= 2**20 else f"{data_bytes / 1024:.0f} KiB"
    if data_bytes < MULTIPROCESS_BYTES or cores < 2:
        why = "one core" if cores < 2 else f"under {MULTIPROCESS_BYTES // 2**20} MiB"
        return worker_args([IN_MEMORY]), f"Beam DirectRunner in memory ({size} of CSV, {why}; set beam_args to choose)"
    return direct_args(min(4, cores)), (f"Beam DirectRunner multi-processing with {min(4, cores)} workers ({size} "
                                        "of CSV; set beam_args to choose)")


def default_args(data_bytes: int | None = None, cores: int | None = None) -> list[str]:
    """The one default ``beam_args`` of mlprod (:func:`choose_default` without the note).

    Example:
        >>> default_args()
        ['--direct_running_mode=in_memory', '--beam_plugins=mlprod']
    """
    return choose_default(data_bytes, cores)[0]


def check_beam_args(beam_args: Any, where: str = "beam_args") -> list[str] | None:
    """``beam_args`` as a list of strings (a tuple is accepted; None stays None).

    Raises:
        ConfigError: a string (not a list of flags) or items that are not strings.

    Example:
        >>> check_beam_args(("--runner=PrismRunner",))
        ['--runner=PrismRunner']
    """
    if beam_args is None:
        return None
    if isinstance(beam_args, str) or not isinstance(beam_args, (list, tuple)) or \
            not all(isinstance(a, str) for a in beam_args):
        raise ConfigError(f"{where}={beam_args!r} must be a list of flags (strings), e.g. ['--runner=PrismRunner'].")
    return list(beam_args)


def _executable(env: str, name: str) -> str | None:
    """``$env``, else ``name`` on PATH, when it is an executable file (else None)."""
    loc = os.environ.get(env) or shutil.which(name)
    return loc if loc and os.access(loc, os.X_OK) else None


def prism_location() -> str | None:
    """Path of Beam's Prism binary: ``$MLPROD_PRISM``, else ``prism`` on PATH (the environment builds it).

    Example:
        >>> loc = prism_location()
        >>> loc is None or os.access(loc, os.X_OK)
        True
    """
    return _executable("MLPROD_PRISM", "prism")


def prism_args(worker_pool: str | None = None, *, prism: str | None = None, packages: Sequence[str | Path] = (),
               extra: Sequence[str] = ()) -> list[str]:
    """Beam args for the Prism portable runner.

    Args:
        worker_pool: ``HOST:PORT`` of a Python SDK worker pool (see :func:`worker_pool`); None runs
            the workers in this process (``LOOPBACK``).
        prism: the Prism binary (default :func:`prism_location`).
        packages: wheels or sdists the workers install before running any step (``--extra_package``),
            e.g. mlprod's own from :func:`build_wheel`: an isolated pool's workers have no mlprod.
        extra: more Beam args.

    Raises:
        ConfigError: no Prism binary found.

    Example:
        >>> prism_args("localhost:50000", prism="/usr/bin/prism")[1:4]
        ['--prism_location=/usr/bin/prism', '--environment_type=EXTERNAL', '--environment_config=localhost:50000']
    """
    loc = prism or prism_location()
    if not loc:
        raise ConfigError("Beam's Prism runner binary was not found: run `scripts/mlprod-env ensure` (it builds it "
                          "with Go), or `go install github.com/apache/beam/sdks/v2/go/cmd/prism@v<beam version>` "
                          "and set MLPROD_PRISM=/path/to/prism.")
    env = (["--environment_type=EXTERNAL", f"--environment_config={worker_pool}"] if worker_pool
           else ["--environment_type=LOOPBACK"])
    # Beam 2.7x's DirectRunner first tries Prism itself (downloading it from GitHub); when that
    # fails it leaves a broken job server in Prism's process-wide singleton, which a later
    # PrismRunner would reuse: each of our Prism pipelines gets its own server instead.
    return worker_args(["--runner=PrismRunner", f"--prism_location={loc}", *env,
                        "--experiments=disable_prism_server_singleton",
                        *[f"--extra_package={p}" for p in packages], *extra])


def flink_args(flink_master: str, *, image: str, parallelism: int | None = None,
               extra: Sequence[str] = ()) -> list[str]:
    """Beam args for a Flink cluster; workers run in ``image`` (built from the repository's Dockerfile).

    Example:
        >>> flink_args("flink:8081", image="img", parallelism=4)[2:]
        ['--environment_type=DOCKER', '--environment_config=img', '--parallelism=4', '--beam_plugins=mlprod']
    """
    if not flink_master or not image:
        raise ConfigError("Flink needs the JobManager address (e.g. 'flink:8081') and the worker image "
                          "(built from the repository's Dockerfile).")
    args = ["--runner=FlinkRunner", f"--flink_master={flink_master}", "--environment_type=DOCKER",
            f"--environment_config={image}"]
    return worker_args(args + ([f"--parallelism={parallelism}"] if parallelism else []) + list(extra))


def spark_args(spark_master: str, *, image: str, extra: Sequence[str] = ()) -> list[str]:
    """Beam args for a Spark cluster (``spark://HOST:7077``); workers run in ``image``.

    Example:
        >>> spark_args("spark://m:7077", image="img")[1]
        '--spark_master_url=spark://m:7077'
    """
    if not spark_master.startswith("spark://") or not image:
        raise ConfigError(f"Spark needs a master URL like 'spark://HOST:7077' (got {spark_master!r}) and the "
                          "worker image (built from the repository's Dockerfile).")
    return worker_args(["--runner=SparkRunner", f"--spark_master_url={spark_master}",
                        "--environment_type=DOCKER", f"--environment_config={image}", *extra])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return int(s.getsockname()[1])


def boot_location() -> str | None:
    """Path of Beam's Python SDK boot program: ``$MLPROD_BEAM_BOOT``, else ``beam-python-boot`` on PATH.

    It is the entrypoint of Beam's Python SDK container images (Dataflow's, Flink's and Spark's
    workers run it): it fetches the job's staged files (``--extra_package``, ``--setup_file``,
    ``--requirements_file``), installs them with pip, then starts the SDK worker. The mlprod
    environment builds it with Go, pinned to the installed Beam version, as it builds Prism.

    Example:
        >>> loc = boot_location()
        >>> loc is None or os.access(loc, os.X_OK)
        True
    """
    return _executable("MLPROD_BEAM_BOOT", "beam-python-boot")


def source_checkout() -> Path | None:
    """The source checkout this process imports mlprod from (the folder with ``pyproject.toml``), or None.

    None when mlprod is installed from a wheel (site-packages), as on workers and in the image.

    Example:
        >>> root = source_checkout()
        >>> root is None or (root / "pyproject.toml").is_file()
        True
    """
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "mlprod" / "beam.py").is_file() else None


def build_wheel(dest: str | Path) -> str:
    """Build a wheel of the mlprod checkout this process imports into ``dest``; return its path.

    Pass it to workers that do not have mlprod (stock Beam workers, :func:`worker_pool`'s) as
    ``--extra_package=WHEEL`` (``prism_args(pool, packages=[wheel])``): Beam stages the file with
    the job and each worker's boot program pip-installs it before it runs any step. The checkout
    is copied first, so the build leaves nothing in it; nothing is downloaded (no dependencies,
    no build isolation: setuptools comes from this environment).

    Raises:
        ConfigError: mlprod is not imported from a source checkout (then pass the wheel or sdist
            it was installed from, or run workers from the image built by the Dockerfile), or
            the build failed.

    Example:
        (Takes seconds; tests/test_portable.py runs this path.)
        >>> wheel = build_wheel("/var/tmp/mlprod-dist")                      # doctest: +SKIP
        >>> Path(wheel).name                                                 # doctest: +SKIP
        'mlprod-0.1.0-py3-none-any.whl'
    """
    root = source_checkout()
    if root is None:
        raise ConfigError(f"mlprod is imported from {Path(__file__).resolve().parent}, not from a source checkout, so "
                          "there is nothing to build: pass the wheel or sdist you installed it from as "
                          "--extra_package=..., or run the workers in the image built from the repository's Dockerfile.")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mlprod-wheel-") as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(root / "mlprod", src / "mlprod",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"))
        for name in ("pyproject.toml", "setup.cfg", "README.md"):
            if (root / name).is_file():
                shutil.copy2(root / name, src / name)
        out = Path(tmp) / "dist"
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
               "--disable-pip-version-check", "-q", "-w", str(out), str(src)]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = sorted(out.glob("mlprod-*.whl"))
        if done.returncode != 0 or len(wheels) != 1:
            raise ConfigError(f"building a wheel of {root} failed (exit {done.returncode}): "
                              f"{(done.stderr or done.stdout)[-2000:]}")
        target = dest / wheels[0].name
        shutil.move(str(wheels[0]), target)
    return str(target)


def _pool_env(isolated: bool, hidden: Sequence[Path] = ()) -> dict[str, str]:
    env = {**os.environ, **WORKER_ENV}
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if isolated:
        # remote workers: no import path into the driver's checkout; mlprod comes from the staged
        # package, which Beam's boot program installs into the (private) worker environment
        env["RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT"] = "1"
        paths = [p for p in paths if not any(Path(p).resolve().is_relative_to(h) for h in hidden)]
    else:
        # a local pool: the workers import mlprod from where this process does (a checkout or an install)
        paths = [str(Path(__file__).resolve().parent.parent), *paths]
    if paths:
        env["PYTHONPATH"] = os.pathsep.join(paths)
    else:
        env.pop("PYTHONPATH", None)
    return env


# Run in the pool's own mount namespace: "$1" the environment (sys.prefix), "$2" its python, then
# the folders to hide up to "--", then the pool's command. Workers get an empty /tmp, a private
# copy-on-write view of the environment with mlprod uninstalled (what Beam's boot program installs
# there is gone with the pool, as a container's writable layer is), and the checkout hidden.
_ISOLATE = r"""set -e
mount -t tmpfs -o mode=1777 mlprod-worker-tmp /tmp
mkdir /tmp/.mlprod-worker-env /tmp/.mlprod-worker-env/upper /tmp/.mlprod-worker-env/work
mount -t overlay mlprod-worker-env -o "lowerdir=$1,upperdir=/tmp/.mlprod-worker-env/upper,workdir=/tmp/.mlprod-worker-env/work" "$1"
env="$1" py="$2"
shift 2
while [ "$1" != -- ]; do
  if [ -d "$1" ]; then mount -t tmpfs -o ro,size=4k,mode=755 mlprod-hidden "$1"; fi
  shift
done
shift
cd /
"$py" -m pip uninstall -y -q --disable-pip-version-check mlprod 2>&1 | grep -v "not installed" >&2 || true
! "$py" -c "import importlib.util, sys; sys.exit(importlib.util.find_spec('mlprod') is None)" || {
  echo "mlprod is still importable in the worker environment ($env)" >&2; exit 3; }
exec "$@"
"""


@contextlib.contextmanager
def worker_pool(*, isolated: bool = True, port: int | None = None, log: str | Path | None = None,
                start_timeout: float = 120.0, hide: Sequence[str | Path] = ()) -> Iterator[str]:
    """Run a Python SDK worker pool for the length of a ``with`` block; yields ``"localhost:PORT"``.

    Pass the address to :func:`prism_args`. With ``isolated=True`` (the default) the pool stands
    in for remote workers: it runs in its own mount namespace (``unshare -m``; needs root, as
    inside the mlprod environment) where

    - ``/tmp`` is empty, so no worker sees the driver's temporary files;
    - the Python environment is a private copy-on-write view of this one **without mlprod**, and
      the driver's checkout (:func:`source_checkout`) and the ``hide`` folders are hidden: the
      workers get mlprod the way stock remote workers do, from the job's staged package
      (``prism_args(pool, packages=[build_wheel(DIR)])``, i.e. ``--extra_package``), which Beam's
      own boot program (:func:`boot_location`) pip-installs on each worker before any step runs.

    The workers share only the rest of the file system, which stands in for a cluster's shared
    storage (``gs://``, HDFS): put inputs and outputs there, not under ``/tmp`` or in the checkout.
    With ``isolated=False`` the pool's workers run in this environment and import mlprod as this
    process does.

    Raises:
        ConfigError: isolation asked for but not possible (not root, no ``unshare``, no boot
            program), or the pool did not start.

    Example:
        (Needs root and Prism; tests/test_portable.py runs this path.)
        >>> with worker_pool() as pool:                                          # doctest: +SKIP
        ...     args = prism_args(pool, packages=[build_wheel("/var/tmp/dist")])
        ...     stats = mlprod.compute_statistics("/shared/data/*.csv", beam_args=args,
        ...                                       output_dir="/shared/stats")
    """
    port = port or _free_port()
    cmd = [sys.executable, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={port}"]
    hidden: list[Path] = []
    if isolated:
        if os.geteuid() != 0 or not shutil.which("unshare"):
            raise ConfigError("an isolated worker pool needs root and unshare (util-linux): run it inside the mlprod "
                              "environment (scripts/in-env ...), or pass isolated=False.")
        boot = boot_location()
        if boot is None:
            raise ConfigError("an isolated worker pool runs Beam's Python SDK boot program, which installs the job's "
                              "staged packages on each worker, and it was not found: run `scripts/mlprod-env ensure` "
                              "(it builds it with Go), or `go install github.com/apache/beam/sdks/v2/python/"
                              "container@v<beam version>` and set MLPROD_BEAM_BOOT=/path/to/container.")
        checkout = source_checkout()
        hidden = [Path(h).resolve() for h in ([checkout] if checkout else []) + list(hide)]
        cmd = ["unshare", "--mount", "--propagation", "unchanged", "--", "sh", "-c", _ISOLATE, "sh",
               sys.prefix, sys.executable, *map(str, hidden), "--", *cmd, f"--container_executable={boot}"]
    out = open(log, "ab") if log else tempfile.TemporaryFile()
    proc = subprocess.Popen(cmd, env=_pool_env(isolated, hidden), cwd="/" if isolated else None, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                out.seek(0) if not log else None
                tail = out.read()[-2000:].decode(errors="replace") if not log else f"see {log}"
                raise ConfigError(f"the worker pool exited with status {proc.returncode} before serving: {tail}")
            with contextlib.suppress(OSError), socket.create_connection(("localhost", port), timeout=1):
                break
            if time.monotonic() > deadline:
                raise ConfigError(f"the worker pool did not listen on port {port} within {start_timeout:.0f} s.")
            time.sleep(0.2)
        yield f"localhost:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 9)
            proc.wait()
        out.close()


def default_output(beam_args: Sequence[str] | None, prefix: str = "mlprod-") -> str:
    """A new folder for results when the caller named none: local temp, or under ``--temp_location``.

    Raises:
        ConfigError: a runner whose workers do not share this disk, without ``--temp_location``.

    Example:
        >>> os.path.isdir(default_output(None))
        True
        >>> default_output(["--runner=DataflowRunner", "--temp_location=gs://b/tmp"], "x-").startswith("gs://b/tmp/x-")
        True
    """
    import uuid

    if is_local(beam_args):
        return tempfile.mkdtemp(prefix=prefix)
    base = option(beam_args, "temp_location")
    if not base:
        raise ConfigError(f"runner {runner_name(beam_args) or 'DirectRunner'!r} runs workers that do not share this "
                          "machine's disk: add --temp_location=LOCATION (a folder every worker can write, e.g. "
                          "gs://bucket/tmp) to beam_args, or give output_dir=... on shared storage.")
    return f"{base.rstrip('/')}/{prefix}{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def scratch_location(beam_args: Sequence[str] | None, prefix: str = "mlprod-") -> Iterator[str]:
    """A fresh folder the workers write and the driver reads back; removed after the block.

    Local runners (DirectRunner, Prism LOOPBACK) get a local temporary folder. Other runners'
    workers cannot see the driver's disk, so the folder goes under ``--temp_location`` (e.g.
    ``gs://bucket/tmp``), which such runners need anyway.

    Raises:
        ConfigError: a remote runner without ``--temp_location``.

    Example:
        >>> with scratch_location(None) as where:
        ...     os.path.isdir(where)
        True
        >>> os.path.exists(where)
        False
    """
    if is_local(beam_args):
        with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
            yield tmp
        return
    import tensorflow as tf

    where = default_output(beam_args, prefix)
    tf.io.gfile.makedirs(where)
    try:
        yield where
    finally:
        with contextlib.suppress(Exception):
            tf.io.gfile.rmtree(where)
