"""Static checks run inside `make test` (issue 16): ruff and mypy must be clean, and a broken
docstring example or a type error makes the suite fail (shown on a throwaway module)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=900)


def test_ruff_is_clean():
    out = _run("ruff", "check", "mlprod", "tests", "benchmarks")
    assert out.returncode == 0, out.stdout[-3000:]


def test_mypy_is_clean():
    out = _run("mypy", "mlprod")
    assert out.returncode == 0, out.stdout[-3000:]


def test_a_broken_example_and_a_type_error_fail_the_checks(tmp_path):
    mod = tmp_path / "throwaway.py"
    mod.write_text('''"""A module with a rotten example and a type error."""


def double(x: int) -> str:
    """Twice ``x``.

    Example:
        >>> double(2)
        5
    """
    return x * 2
''')
    doctests = _run("pytest", "--doctest-modules", "-p", "no:cacheprovider", "-o", "addopts=", str(mod),
                    cwd=tmp_path)
    assert doctests.returncode == 1 and "1 failed" in doctests.stdout
    types = _run("mypy", "--no-incremental", str(mod), cwd=tmp_path)
    assert types.returncode == 1 and "Incompatible return value type" in types.stdout
