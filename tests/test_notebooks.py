"""The instructor notebooks (notebooks/*.ipynb) run from top to bottom and are committed clean.

Each notebook is executed in a fresh kernel of this virtual environment, with the notebooks
folder as its working directory, as `make notebooks` opens them. A cell may raise only if it
is tagged "raises-exception" and its first line says which exception ("# Fails on purpose:
KeyError"); it must then raise exactly that one, so that a post mistake a notebook shows
cannot quietly stop failing, or start failing for another reason.

The text may not drift from the output under it: every answer a notebook prints goes through
`show(response, expect=...)`, which fails the cell when the status (or message) is not the one
expected, and a status the text names must be one the code next to it expects. And the output
must read on a projector: no cell prints more than MAX_OUTPUT_LINES lines, nothing goes to
stderr (a server log there splits an answer into two boxes), no HTML page is printed.
"""

import ast
import asyncio
import re
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOKS_DIR.glob("*.ipynb"))
# The Korean twins: notebooks/ko/<the English one's name>, the same code cells, Korean prose.
KOREAN_DIR = NOTEBOOKS_DIR / "ko"
KOREAN_NOTEBOOKS = sorted(KOREAN_DIR.glob("*.ipynb"))
ALL_NOTEBOOKS = NOTEBOOKS + KOREAN_NOTEBOOKS
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


# What fits on a projector under a cell.
MAX_OUTPUT_LINES = 25
# HTTP statuses the notebooks' text may name; a number from this set in a markdown cell is a claim.
STATUSES = {200, 201, 204, 400, 401, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def code_cells(notebook):
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def expected_error(cell):
    """The exception a cell says it raises on purpose, or None."""
    first_line = cell.source.split("\n", 1)[0]
    match = FAILS_ON_PURPOSE.fullmatch(first_line.strip())
    return match and match.group(1)


def notebook_id(path):
    """01_jwt_setup, ko/01_jwt_setup"""
    return path.relative_to(NOTEBOOKS_DIR).with_suffix("").as_posix()


# How the instructor layer is written, in each language: regular expressions, so that the
# Korean twins may say it in more than one natural way.
MARKERS = {
    "en": {
        "objectives": r"By the end",
        "minutes": r"\| Minutes \|",
        "cut": r"If short on time",
        "prompt": r"\*\*Try it yourself \((\d)\)\.\*\*",
        "predict": r"\*\*Predict",
        "plan": r"90 minutes",
    },
    "ko": {
        "objectives": r"이 시간이 끝나면|학습 목표|배울 것",
        "minutes": r"\|\s*(분|시간 ?\(분\)|소요 시간)\s*\|",
        "cut": r"모자라면|부족하면|모자랄 때|부족할 때",
        "prompt": r"\*\*(?:직접 해 ?보기|스스로 해 ?보기|해 ?보기) ?\((\d)\)\.?\*\*",
        "predict": r"\*\*예측",
        "plan": r"90 ?분",
    },
}


def language(path):
    return "ko" if path.parent == KOREAN_DIR else "en"


def notebook_for(step_folder):
    """step3_protected_resource -> notebooks/03_protected_resource.ipynb"""
    number, name = step_folder.removeprefix("step").split("_", 1)
    return NOTEBOOKS_DIR / f"{int(number):02d}_{name}.ipynb"


async def execute(notebook, folder):
    """Run the notebook in a fresh kernel of this venv, from `folder` as Jupyter would; raises
    CellExecutionError at the first cell that fails without the tag. A coroutine, so that
    several run at once in one thread (Python 3.11's ast module is not safe across threads)."""
    nbformat = load_nbformat()
    from nbclient import NotebookClient

    notebook.cells.append(nbformat.v4.new_code_cell(KERNEL_PROBE))
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=60,
        startup_timeout=60,
        resources={"metadata": {"path": str(folder)}},
    )
    await client.async_execute()
    probe = notebook.cells.pop()
    assert probe.outputs[0]["text"].strip() == sys.prefix, "the kernel is not this venv's Python"


# The Korean twins are not run again here: their code cells are the English ones, byte for byte
# (test_each_notebook_has_a_korean_twin_with_the_same_code), so they would print the same answers
# for twice the time. What differs is the folder they run from, which only the first cell looks
# at: test_the_korean_twins_find_the_repository_from_their_folder runs that cell from ko/.
@pytest.fixture(scope="module")
def executed():
    """{path: (the notebook after its run, the error that stopped it or None)}, the notebooks
    run side by side, each in its own kernel, one event loop driving them all: most of a run is waiting (for a kernel to start,
    for a token to expire), which the others fill. Each test below reports its own notebook."""

    async def run(path):
        notebook = read(path)
        try:
            await execute(notebook, path.parent)
        except Exception as error:  # noqa: BLE001 -- raised again by the notebook's test
            return notebook, error
        return notebook, None

    async def run_all():
        return await asyncio.gather(*map(run, NOTEBOOKS))

    return dict(zip(NOTEBOOKS, asyncio.run(run_all()), strict=True))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[notebook_id(path) for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, executed):
    notebook, error = executed[path]
    if error:
        raise error
    for cell in code_cells(notebook):
        tagged = RAISES in cell.metadata.get("tags", [])
        expected = expected_error(cell)
        assert tagged == bool(expected), f"tag and '# Fails on purpose' must go together:\n{cell.source}"
        raised = [output["ename"] for output in cell.outputs if output["output_type"] == "error"]
        if tagged:
            assert raised == [expected], f"expected {expected}, got {raised or 'no error'}:\n{cell.source}"
        check_readable_on_a_projector(cell)


# What in a code cell could depend on the folder the notebook runs from.
FOLDER_BOUND = re.compile(r"cwd|chdir|__file__|\bopen\(|Path\(|os\.path|[\"']\.{1,2}/|[\"']\.\.[\"']|^\s*[%!]", re.MULTILINE)


def test_the_korean_twins_find_the_repository_from_their_folder():
    """Only the first code cell of a notebook looks at the folder it runs from (it finds the
    repository above it); run from ko/, the twins' first cells find the same root, teach.py and
    the steps."""
    nbformat = load_nbformat()
    firsts = []
    for path in KOREAN_NOTEBOOKS:
        first, *rest = code_cells(read(path))
        for cell in rest:
            assert not FOLDER_BOUND.search(cell.source), f"{notebook_id(path)}: a later cell uses the folder:\n{cell.source}"
        if first.source not in firsts:
            firsts.append(first.source)
    check = "import step1_jwt_setup, teach\nprint(ROOT.resolve(), Path(teach.__file__).parent.parent.resolve())"
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in [*firsts, check]])
    asyncio.run(execute(notebook, KOREAN_DIR))
    assert notebook.cells[-1].outputs[0]["text"].split() == [str(ROOT), str(ROOT)]


def output_text(output):
    """What an output shows as text: a stream, an error's traceback, or a result's text/plain."""
    if output["output_type"] == "stream":
        return output["text"]
    if output["output_type"] == "error":
        return ANSI.sub("", "\n".join(output["traceback"]))
    return output.get("data", {}).get("text/plain", "")


def check_readable_on_a_projector(cell):
    lines = sum(len(output_text(output).strip("\n").splitlines()) for output in cell.outputs)
    assert lines <= MAX_OUTPUT_LINES, f"{lines} lines of output (at most {MAX_OUTPUT_LINES}):\n{cell.source}"
    for output in cell.outputs:
        text = output_text(output)
        assert not (output["output_type"] == "stream" and output["name"] == "stderr"), (
            f"stderr output (a log or a warning) splits the answer:\n{text}\n{cell.source}"
        )
        assert not re.search(r"<!doctype|<html", text, re.IGNORECASE), f"an HTML page printed:\n{cell.source}"
        if output["output_type"] == "stream" and re.search(r"^HTTP \d{3} ", text, re.MULTILINE):
            assert text.startswith("HTTP "), f"an answer split over two outputs:\n{text}"


def show_calls(notebook):
    """Every show(...) call of a notebook's code, parsed."""
    for cell in code_cells(notebook):
        tree = ast.parse("\n".join(line for line in cell.source.split("\n") if not line.startswith("%")))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "show":
                yield cell, node


def named_constants(notebook):
    """Module-level `name = literal` assignments of a notebook, such as `wrong = (401, "...")`."""
    names = {}
    for cell in code_cells(notebook):
        tree = ast.parse("\n".join(line for line in cell.source.split("\n") if not line.startswith("%")))
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                try:
                    names[node.targets[0].id] = ast.literal_eval(node.value)
                except ValueError:
                    pass
    return names


def expected_statuses(notebook, cells):
    """The statuses that the show(...) calls in these cells expect."""
    names, statuses = named_constants(notebook), set()
    ids = {id(cell) for cell in cells}
    for cell, call in show_calls(notebook):
        if id(cell) not in ids:
            continue
        expect = next(keyword.value for keyword in call.keywords if keyword.arg == "expect")
        value = names[expect.id] if isinstance(expect, ast.Name) else ast.literal_eval(expect)
        statuses.add(value[0] if isinstance(value, tuple) else value)
    return statuses


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[notebook_id(path) for path in ALL_NOTEBOOKS])
def test_every_answer_shown_is_checked(path):
    """show(response) alone would print whatever came back, and the text above could say otherwise."""
    for cell, call in show_calls(read(path)):
        assert any(keyword.arg == "expect" for keyword in call.keywords), f"show() without expect=:\n{cell.source}"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[notebook_id(path) for path in ALL_NOTEBOOKS])
def test_statuses_the_text_names_are_the_ones_the_code_expects(path):
    """A markdown cell that says "401" sits next to code that expects a 401: the code just before
    it (the answer it explains) or just after it (the answer it announces)."""
    notebook = read(path)
    cells = notebook.cells
    for i, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        before = []
        for other in reversed(cells[:i]):
            if other.cell_type != "code":
                break
            before.append(other)
        after = []
        for other in cells[i + 1 :]:
            if other.cell_type != "code":
                break
            after.append(other)
        if not (before or after):
            continue  # a plan or a summary between two texts, not a claim about an answer
        # Not the diagrams and headings (summaries), nor the questions asked before a cell runs.
        prose = re.sub(r"```.*?```", "", cell.source, flags=re.DOTALL)
        prose = re.sub(r"^(#.*|\*\*(Predict|예측).*(\n.+)*)$", "", prose, flags=re.MULTILINE)
        named = {int(number) for number in re.findall(r"(?<![\w.-])(\d{3})(?![\w-])", prose)}
        named &= STATUSES
        expected = expected_statuses(notebook, before + after)
        if not expected:
            continue  # next to code that sends no request: not about an answer
        assert named <= expected, f"the text names {sorted(named - expected)}, the code expects {sorted(expected)}:\n{cell.source}"


STEP_NOTEBOOKS = [path for path in ALL_NOTEBOOKS if path.stem != "00_overview"]


@pytest.mark.parametrize("path", STEP_NOTEBOOKS, ids=[notebook_id(path) for path in STEP_NOTEBOOKS])
def test_each_step_notebook_can_be_taught_from(path):
    """Objectives and minutes first, a diagram of the flow, the step's own code shown, and an
    answer for every "try it yourself"."""
    notebook = read(path)
    words = MARKERS[language(path)]
    first = notebook.cells[0].source
    for marker in ("objectives", "minutes", "cut"):
        assert re.search(words[marker], first), f"the first cell lacks its {marker}: {words[marker]!r}"
    markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
    assert "```mermaid\nsequenceDiagram" in markdown
    step = path.stem.split("_", 1)[1]
    code = "\n".join(cell.source for cell in code_cells(notebook))
    assert re.search(rf'teach\.(source|lines)\("step\d_{step}\.', code), "no code of the step shown"
    prompts = re.findall(words["prompt"], markdown)
    answers = re.findall(r"^\*\*\((\d)\)\*\*", markdown, re.MULTILINE)
    assert prompts and prompts == answers, f"prompts {prompts}, answers {answers}"
    assert re.search(words["predict"], markdown), "no question to predict"


@pytest.mark.parametrize("folder, readme", [(NOTEBOOKS_DIR, "README.md"), (KOREAN_DIR, "README.ko.md")])
def test_the_overview_has_the_plan_and_the_timeline(folder, readme):
    words = MARKERS["ko" if folder == KOREAN_DIR else "en"]
    overview = read(folder / "00_overview.ipynb")
    text = "\n".join(cell.source for cell in overview.cells)
    assert re.search(words["plan"], text) and "teach.timeline(" in text
    assert re.search(words["plan"], (NOTEBOOKS_DIR / readme).read_text())


HANGUL = re.compile(r"[\uac00-\ud7a3]")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.stem for path in NOTEBOOKS])
def test_each_notebook_has_a_korean_twin_with_the_same_code(path):
    """notebooks/ko/<name> has the English notebook's code cells, byte for byte and with the same
    tags, in the same order, so the twins cannot teach different code or print different
    answers; and its text is Korean, with an answer for each of the same "try it yourself"."""
    twin_path = KOREAN_DIR / path.name
    assert twin_path.is_file(), f"no Korean twin {twin_path.relative_to(ROOT)}"
    english, twin = read(path), read(twin_path)

    def code(notebook):
        return [(cell.source, cell.metadata.get("tags", [])) for cell in code_cells(notebook)]

    assert code(twin) == code(english), "the code cells differ from the English notebook's"
    for cell in twin.cells:
        if cell.cell_type == "markdown":
            assert HANGUL.search(cell.source), f"a text cell with no Korean in it:\n{cell.source}"

    def prompts(notebook, words):
        markdown = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "markdown")
        return re.findall(words["prompt"], markdown)

    assert prompts(twin, MARKERS["ko"]) == prompts(english, MARKERS["en"])
    assert english.metadata.get("kernelspec") == twin.metadata.get("kernelspec")


def import_teach():
    if str(NOTEBOOKS_DIR) not in sys.path:
        sys.path.insert(0, str(NOTEBOOKS_DIR))
    import teach

    return teach


def test_the_token_view_checks_the_signature():
    import jwt as pyjwt

    teach = import_teach()
    key = "k" * 32
    token = pyjwt.encode({"sub": "1", "exp": int(time.time()) + 60}, key, algorithm="HS256")
    header, payload, signature = token.split(".")
    forged = ".".join([header, teach.b64url({"sub": "2", "exp": int(time.time()) + 60}), signature])
    assert "valid" in repr(teach.show_jwt(token, key)) and "INVALID" not in repr(teach.show_jwt(token, key))
    assert "INVALID" in repr(teach.show_jwt(forged, key))
    assert "expired" in repr(teach.show_jwt(token, key, now=time.time() + 120))
    assert "<table" in teach.show_jwt(token, key)._repr_html_()


def test_show_prints_one_block_and_checks_the_status(capsys):
    from flask import Flask

    teach = import_teach()
    app = Flask("t")
    app.get("/")(lambda: {"message": "hi", "token": "x" * 200})
    teach.show(app.test_client().get("/"), expect=(200, "hi"))
    printed = capsys.readouterr().out
    assert printed.startswith("HTTP 200 OK\n") and '"message": "hi"' in printed and "(200 chars)" in printed
    with pytest.raises(AssertionError, match="expected 401, got 200"):
        teach.show(app.test_client().get("/"), expect=401)
    with pytest.raises(AssertionError, match="expected the message"):
        teach.show(app.test_client().get("/"), expect=(200, "bye"))


def test_source_listings_are_the_files_lines():
    teach = import_teach()
    listing = teach.source("step1_jwt_setup.app", "create_app")
    path = ROOT / "step1_jwt_setup" / "app.py"
    lines = path.read_text().split("\n")
    numbered = repr(listing).split("\n")[1:]
    for row in numbered:
        number, _, text = row.strip().partition("  ")
        assert lines[int(number) - 1].strip() == text.strip()
    assert "def create_app" in repr(listing)


def test_the_clock_stands_in_for_time_time():
    teach = import_teach()
    before = time.time()
    with teach.Clock() as clock:
        clock.advance(hours=12)
        assert time.time() - before >= 12 * 3600
        assert clock.label() == "+12 h 00 min"
    assert time.time() - before < 3600


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=[notebook_id(path) for path in ALL_NOTEBOOKS])
def test_notebook_is_committed_without_outputs(path):
    """Stored outputs go stale and bloat diffs: `.venv/bin/nbstripout notebooks/*.ipynb notebooks/ko/*.ipynb`."""
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


def test_the_korean_notebooks_are_twins_of_english_ones():
    """The twin test runs once per English notebook; a Korean notebook with no English one is a
    stray (a renamed notebook whose twin was left behind)."""
    assert {path.name for path in KOREAN_NOTEBOOKS} <= {path.name for path in NOTEBOOKS}


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


def test_the_notebooks_readme_has_a_korean_twin():
    """notebooks/README.ko.md follows notebooks/README.md as tests/test_translations.py has the
    other READMEs follow theirs: links both ways, as many sections, every command copied."""
    english = (NOTEBOOKS_DIR / "README.md").read_text(encoding="utf-8")
    korean = (NOTEBOOKS_DIR / "README.ko.md").read_text(encoding="utf-8")
    assert "](README.ko.md)" in english and "](README.md)" in korean

    def code_and_headings(text):
        code, headings, inside = set(), 0, False
        for line in text.splitlines():
            if line.lstrip().startswith("```"):
                inside = not inside
            elif inside and line.strip():
                code.add(line.strip())
            elif not inside and re.match(r"#+ ", line):
                headings += 1
        return code, headings

    english_code, english_headings = code_and_headings(english)
    korean_code, korean_headings = code_and_headings(korean)
    assert english_headings == korean_headings
    assert english_code <= korean_code, f"commands missing from README.ko.md: {english_code - korean_code}"


def test_the_code_the_readmes_and_helpers_name_exists():
    """An example such as teach.source("step3_protected_resource.app", "Api.handle_error") in the
    notebooks' READMEs or in teach.py names code the steps still have, after any re-cut."""
    teach = import_teach()
    texts = [(NOTEBOOKS_DIR / name).read_text(encoding="utf-8") for name in ("README.md", "README.ko.md", "teach.py")]
    named = {match for text in texts for match in re.findall(r'source\("(step\w+\.\w+)", "([\w.]+)"\)', text)}
    assert named, "no example found: the pattern above went stale"
    for module, name in sorted(named):
        teach.find(module, name)  # AttributeError names what went missing
