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


# ---- mounts: a command's mounts vanish with it; deleting the env never reaches the repository ----
import os  # noqa: E402
import time  # noqa: E402

import pytest  # noqa: E402

_needs_root = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("chroot"),
                                 reason="the chroot mode needs root, unshare and chroot")


def _mini_env(tmp_path: Path, env_name: str = "env") -> tuple[Path, Path, dict]:
    """A throwaway repository and a tiny chroot (sh, env, cat, sleep) that mlprod-env accepts as built."""
    repo = tmp_path / "repo"
    (repo / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "mlprod-env", repo / "scripts")
    shutil.copy(ROOT / "pyproject.toml", repo)
    (repo / "SENTINEL").write_text("still here")
    env_dir = tmp_path / env_name
    rootfs = env_dir / "rootfs"
    for tool in ("sh", "env", "cat", "sleep"):
        src = Path(shutil.which(tool)).resolve()
        libs = re.findall(r"(/\S+\.so[.\d]*)", subprocess.run(["ldd", str(src)], capture_output=True,
                                                                text=True).stdout)
        for f in [str(src), *libs]:
            dst = rootfs / f.lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(f, dst)
    for d in ("bin", "usr/bin"):
        (rootfs / d).mkdir(parents=True, exist_ok=True)
    for tool in ("sh", "env"):
        for d in ("bin", "usr/bin"):
            if not (rootfs / d / tool).exists():
                shutil.copy(shutil.which(tool), rootfs / d / tool)
    (rootfs / "usr/bin/python3").write_text("")
    (rootfs / "usr/bin/python3").chmod(0o755)
    (rootfs / "etc").mkdir(exist_ok=True)
    packages = re.search(r'^ROOTFS_PACKAGES="(.*)"', (ROOT / "scripts" / "mlprod-env").read_text(), re.M).group(1)
    (rootfs / ".mlprod-rootfs-ok").write_text(packages + "\n")
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(tmp_path), "MLPROD_ENV_DIR": str(env_dir),
           "MLPROD_ENV_MODE": "chroot"}
    info = subprocess.run(["bash", str(repo / "scripts" / "mlprod-env"), "info"], capture_output=True, text=True,
                          check=True, env=env).stdout
    venv = rootfs / "opt" / "mlprod-venv"
    venv.mkdir(parents=True)
    (venv / ".mlprod-deps").write_text(re.search(r"deps_hash=(\w+)", info).group(1) + "\n")
    return repo, env_dir, env


def _mounts_under(path: Path) -> list[str]:
    root = str(path.resolve())
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        mp = line.split()[1].encode().decode("unicode_escape")
        if mp == root or mp.startswith(root + "/"):
            out.append(mp)
    return out


@_needs_root
def test_commands_leave_no_mount_and_deleting_the_env_spares_the_repository(tmp_path):
    repo, env_dir, env = _mini_env(tmp_path)
    script = ["bash", str(repo / "scripts" / "mlprod-env")]
    # the repository is reachable inside the chroot, at its own path, while a command runs
    out = subprocess.run([*script, "run", "sh", "-c", 'cat SENTINEL; echo " $PYTHONPATH"'], capture_output=True,
                         text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["still", "here", str(repo)]  # imports come from the calling checkout
    assert _mounts_under(env_dir) == []  # nothing left mounted after the command
    # while a command runs, its mounts are private to it: rm -rf of the env folder does not reach the repo
    proc = subprocess.Popen([*script, "run", "sleep", "30"], env=env)
    try:
        time.sleep(1.5)
        assert proc.poll() is None
        assert _mounts_under(env_dir) == []
        subprocess.run(["rm", "-rf", str(env_dir)], check=True)
    finally:
        proc.kill()
        proc.wait()
    assert (repo / "SENTINEL").read_text() == "still here"
    assert not env_dir.exists()


@_needs_root
def test_purge_unmounts_leftovers_even_in_a_path_with_a_space(tmp_path):
    repo, env_dir, env = _mini_env(tmp_path, "env with space")
    leftover = env_dir / "rootfs" / repo.relative_to("/")
    leftover.mkdir(parents=True)
    # a bind mount of the repository left under the env (as older versions did), then purge
    script = (f'mount --bind "{repo}" "{leftover}" && test -f "{leftover}/SENTINEL" && '
              f'bash "{repo}/scripts/mlprod-env" purge')
    out = subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "bash", "-c", script],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert (repo / "SENTINEL").read_text() == "still here"
    assert not env_dir.exists()


@_needs_root
def test_check_mounts_reports_a_mount_left_under_the_env(tmp_path):
    repo, env_dir, env = _mini_env(tmp_path, "env with space")
    target = env_dir / "rootfs" / "mnt"
    target.mkdir(parents=True)
    script = f'mount --bind "{repo}" "{target}" && bash "{repo}/scripts/mlprod-env" check-mounts'
    out = subprocess.run(["unshare", "--mount", "--propagation", "unchanged", "bash", "-c", script],
                         capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 1 and "mounts left" in out.stderr


@_needs_root
def test_two_clones_sharing_one_environment_each_run_their_own_code(tmp_path):
    """One cached environment, two checkouts: each checkout's commands import that checkout."""
    repo, env_dir, env = _mini_env(tmp_path)
    other = tmp_path / "second clone"
    (other / "scripts").mkdir(parents=True)
    shutil.copy(repo / "scripts" / "mlprod-env", other / "scripts")
    shutil.copy(repo / "pyproject.toml", other)
    (other / "SENTINEL").write_text("second")
    for checkout, sentinel in ((repo, "still here"), (other, "second"), (repo, "still here")):
        out = subprocess.run(["bash", str(checkout / "scripts" / "mlprod-env"), "run", "sh", "-c",
                              'cat SENTINEL; echo; echo "$PYTHONPATH"'], capture_output=True, text=True, env=env,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        assert out.stdout.splitlines() == [sentinel, str(checkout)]


def test_console_script_imports_the_checkout_on_pythonpath(tmp_path):
    """The venv's editable install points at whichever checkout built it; PYTHONPATH (which
    mlprod-env sets to the calling checkout) must win, for ``python -c`` and the ``mlprod`` command."""
    import sys

    clone = tmp_path / "clone"
    shutil.copytree(ROOT / "mlprod", clone / "mlprod", ignore=shutil.ignore_patterns("__pycache__"))
    cli_py = clone / "mlprod" / "cli.py"
    cli_py.write_text(cli_py.read_text() + "\n_main = main\n\n\ndef main(argv=None):\n"
                      "    print('from the clone')\n    return _main(argv)\n")
    env = {**os.environ, "PYTHONPATH": str(clone)}
    out = subprocess.run([sys.executable, "-c", "import mlprod; print(mlprod.__file__)"], capture_output=True,
                         text=True, env=env, cwd=tmp_path)
    assert out.stdout.strip() == str(clone / "mlprod" / "__init__.py"), out.stderr
    script = Path(sys.executable).parent / "mlprod"  # the console script the editable install made
    if not script.exists():
        pytest.skip("mlprod is not installed in this interpreter's environment")
    ran = subprocess.run([str(script), "--version"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == "from the clone"
