"""scripts/mlprod-env: the environment is keyed on the dependency lists, nothing else."""
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _hash(repo: Path) -> str:
    out = subprocess.run(["bash", str(repo / "scripts" / "mlprod-env"), "info"], capture_output=True,
                         text=True, check=True, env={"PATH": "/usr/bin:/bin", "HOME": str(repo)}).stdout
    return re.search(r"deps_hash=(\w+)", out).group(1)


def test_hash_changes_with_dependencies_only(tmp_path):
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "mlprod-env", tmp_path / "scripts")
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    base = _hash(tmp_path)
    assert base == _hash(tmp_path)  # stable

    text = (tmp_path / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(text.replace("line-length = 110", "line-length = 100"))
    assert _hash(tmp_path) == base  # tool settings do not rebuild the environment

    (tmp_path / "pyproject.toml").write_text(text.replace('"pyyaml",', '"pyyaml>=6",'))
    assert _hash(tmp_path) != base  # a dependency change does


def test_unknown_subcommand_is_one_line_and_exit_2():
    out = subprocess.run(["bash", str(ROOT / "scripts" / "mlprod-env"), "frobnicate"], capture_output=True,
                         text=True)
    assert out.returncode == 2
    assert out.stderr.strip().startswith("mlprod-env: usage:")
