"""The instructor notebooks (notebooks/*.ipynb) run from top to bottom and are committed clean.

Each notebook is executed in a fresh kernel of this virtual environment, with the notebooks
folder as its working directory, as `make notebooks` opens them. A cell may raise only if it
is tagged "raises-exception" and its first line says which exception ("# Fails on purpose:
KeyError"); it must then raise exactly that one, so that a post mistake a notebook shows
cannot quietly stop failing, or start failing for another reason.
"""

import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
STEP_FOLDERS = sorted(path.name for path in ROOT.glob("step[0-9]_*") if path.is_dir())

RAISES = "raises-exception"
FAILS_ON_PURPOSE = re.compile(r"# Fails on purpose: (\w+)")
# Appended to each notebook before it runs: which Python the kernel really is.
KERNEL_PROBE = "import sys\nprint(sys.prefix)"


def load_nbformat():
    """nbformat, imported on first use: collecting this module (as `make unit` does, only to
    deselect it) should not pay for it.

    nbformat loads jsonschema, which, when rfc3987-syntax is installed (jupyter brings it),
    imports it and so builds some forty Lark parsers for its "iri" and "iri-reference" format
    checks: seconds on this machine, for checks the notebook schema never uses. Hidden while
    nbformat loads, it is skipped, and jsonschema has just those two checks fewer here.
    """
    skip = "rfc3987_syntax" not in sys.modules
    if skip:
        sys.modules["rfc3987_syntax"] = None  # `import rfc3987_syntax` raises ImportError now
    try:
        import nbformat
    finally:
        if skip:
            del sys.modules["rfc3987_syntax"]
    return nbformat


def read(path):
    return load_nbformat().read(path, as_version=4)


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def expected_error(cell):
    """The exception a cell says it raises on purpose, or None."""
    first_line = cell.source.split("\n", 1)[0]
    match = FAILS_ON_PURPOSE.fullmatch(first_line.strip())
    return match and match.group(1)


def notebook_for(step_folder):
    """step3_protected_resource -> notebooks/03_protected_resource.ipynb"""
    number, name = step_folder.removeprefix("step").split("_", 1)
    return NOTEBOOKS_DIR / f"{int(number):02d}_{name}.ipynb"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path):
    nbformat = load_nbformat()
    from nbclient import NotebookClient

    notebook = read(path)
    notebook.cells.append(nbformat.v4.new_code_cell(KERNEL_PROBE))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=60,
        startup_timeout=60,
        resources={"metadata": {"path": str(NOTEBOOKS_DIR)}},
    )
    # Raises CellExecutionError at the first cell that fails without the tag.
    client.execute()

    probe = notebook.cells.pop()
    assert probe.outputs[0]["text"].strip() == sys.prefix, "the kernel is not this venv's Python"
    for cell in code_cells(notebook):
        tagged = RAISES in cell.metadata.get("tags", [])
        expected = expected_error(cell)
        assert tagged == bool(expected), f"tag and '# Fails on purpose' must go together:\n{cell.source}"
        raised = [output["ename"] for output in cell.outputs if output["output_type"] == "error"]
        if tagged:
            assert raised == [expected], f"expected {expected}, got {raised or 'no error'}:\n{cell.source}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    """Stored outputs go stale and bloat diffs: `.venv/bin/nbstripout notebooks/*.ipynb`."""
    notebook = read(path)
    load_nbformat().validate(notebook)
    for cell in code_cells(notebook):
        assert cell.outputs == [], f"stored output in:\n{cell.source}"
        assert cell.execution_count is None, f"stored execution count in:\n{cell.source}"


@pytest.mark.parametrize("step_folder", STEP_FOLDERS)
def test_every_step_has_its_notebook(step_folder):
    path = notebook_for(step_folder)
    assert path.is_file(), f"{step_folder} has no notebook {path.relative_to(ROOT)}"
    sources = [cell.source for cell in code_cells(read(path))]
    assert any(f"from {step_folder} import create_app" in source for source in sources)


def test_the_overview_and_steps_1_to_4_have_notebooks():
    """The test above runs once per step folder; this one fails if those folders went missing."""
    expected = {
        "00_overview.ipynb",
        "01_jwt_setup.ipynb",
        "02_user_model.ipynb",
        "03_protected_resource.ipynb",
        "04_sessions.ipynb",
    }
    assert expected <= {path.name for path in NOTEBOOKS}
    assert expected - {"00_overview.ipynb"} <= {notebook_for(step).name for step in STEP_FOLDERS}
