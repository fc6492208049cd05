"""The docs site builds in strict mode (no broken links, API reference from docstrings)."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_mkdocs_builds_strict(tmp_path):
    out = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path)],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (tmp_path / "api" / "index.html").read_text().count("mlprod.pipelines.tabular") > 0


# ---- the docs' code blocks run (issue 16) -------------------------------------------------------
import re  # noqa: E402

import pytest  # noqa: E402

NOT_RUN = "# not run in tests:"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
# what a page's examples take as given (a user's model and data), built small and real
SETUP = {
    "validation.md": """
from mlprod import datasets
taxi = datasets.chicago_taxi()
last_month_df, this_month_df = taxi[taxi.trip_start_month == 1], taxi[taxi.trip_start_month == 2]
""",
    "evaluation.md": """
import tf_keras as keras
from mlprod import datasets
df = datasets.chicago_taxi().sample(2000, random_state=0).dropna(subset=["trip_miles", "fare", "trip_seconds"])
df["big_tipper"] = (df["tips"] > 0.2 * df["fare"]).astype("int64")
x = df[["trip_miles", "fare", "trip_seconds", "trip_start_hour"]].to_numpy("float32")
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.layers.Normalization(input_shape=(4,)), keras.layers.Dense(1, activation="sigmoid")])
model.layers[0].adapt(x)
model.compile("adam", "binary_crossentropy")
model.fit(x, df["big_tipper"].to_numpy(), epochs=2, verbose=0)
""",
    "optimization.md": """
import mlprod
import tf_keras as keras
from sklearn.datasets import load_digits
d = load_digits()
x, y = (d.data / 16).astype("float32"), d.target
x_train, y_train, x_test, y_test = x[:1400], y[:1400], x[1400:], y[1400:]
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.layers.Dense(32, activation="relu", input_shape=(64,)),
                          keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x_train, y_train, epochs=3, verbose=0)
""",
    "preprocessing.md": """
import mlprod
from mlprod import datasets
df_or_csv_or_tfrecord = datasets.chicago_taxi().head(500)
""",
    "tuning.md": """
import mlprod
from mlprod import datasets
df = datasets.penguins()
x, y = df.drop(columns="species").to_numpy("float32"), df["species"].to_numpy()
space = mlprod.DenseSpace(input_shape=(4,), num_classes=3, depth=(1, 2), width=(8, 32, 8))
""",
}
PAGES = sorted(p for p in (ROOT / "docs").glob("*.md") if "```python" in p.read_text())


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_docs_code_blocks_run(page, tmp_path, monkeypatch):
    """Every python block of a page runs, in order, in one namespace; a block that needs a whole
    pipeline or a pipeline's channels says so on its first line (and names the test covering it)."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(SETUP.get(page.name, ""), f"{page.name} setup", "exec"), namespace)
    for i, code in enumerate(BLOCK.findall(page.read_text()), 1):
        compiled = compile(code, f"{page.name} block {i}", "exec")  # every block at least parses
        if code.lstrip().startswith(NOT_RUN):
            assert re.search(r"tests/\S+\.py", code.splitlines()[0]), f"{page.name} block {i}: name the test"
            continue
        exec(compiled, namespace)


def test_skipped_docstring_examples_name_the_test_that_covers_them():
    """+SKIP only where an example needs a pipeline; then its docstring names the covering test."""
    import ast

    missing = []
    for path in sorted((ROOT / "mlprod").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in [tree, *[n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]]:
            doc = ast.get_docstring(node) or ""
            if "+SKIP" in doc and not re.search(r"tests/\S+\.py", doc):
                missing.append(f"{path.relative_to(ROOT)}:{getattr(node, 'name', '<module>')}")
    assert not missing, missing
