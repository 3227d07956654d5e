"""The steps read as a course: `diff -ru stepN stepN+1` is the concept of step N+1.

Each step's README lists, in its "What changed" table, the code files that differ from the
step before; these tests hold the table to the real folders, in both languages. What every
step shares and no lesson is about lives in validation.py, the same file in every step, so
no diff shows it. A step's code marks only its own exercises (tests/test_exercises.py), and
no step overrides a private method of a library's class.
"""

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = sorted(path for path in ROOT.glob("step[0-9]_*") if path.is_dir())
PAIRS = list(zip(FOLDERS, FOLDERS[1:], strict=False))
MARKER_BEGIN = re.compile(r"^\s*# BEGIN EXERCISE \w+: ")
MARKER_END = re.compile(r"^\s*# END EXERCISE$")
TABLE_ROW = re.compile(r"^\| `([\w/]+\.py)` \|")


def without_markers(text):
    """The code as a learner compares it: an exercise's marker lines (its BEGIN line and the
    instruction that goes on in the comment lines after it, and its END line) are in its own
    step only, so the next step's diff shows them going; that is not a change of code."""
    kept, in_instruction = [], False
    for line in text.split("\n"):
        if MARKER_BEGIN.match(line):
            in_instruction = True
            continue
        if in_instruction and line.lstrip().startswith("#") and not MARKER_END.match(line):
            continue
        in_instruction = False
        if not MARKER_END.match(line):
            kept.append(line)
    return "\n".join(kept)


def code_files(folder):
    return {
        path.relative_to(folder).as_posix(): without_markers(path.read_text(encoding="utf-8"))
        for path in folder.rglob("*.py")
    }


def changed_files(before, after):
    """The code files added, removed or changed between two step folders, markers aside."""
    old, new = code_files(before), code_files(after)
    return {name for name in old.keys() | new.keys() if old.get(name) != new.get(name)}


def what_changed_table(readme):
    """The files in the first table after the line that names the `diff -ru` (in either language)."""
    lines = readme.read_text(encoding="utf-8").split("\n")
    after = next(i for i, line in enumerate(lines) if "`diff -ru " in line)
    start = next(i for i in range(after, len(lines)) if lines[i].startswith("|"))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if match := TABLE_ROW.match(line):
            rows.append(match[1])
    return rows


@pytest.mark.parametrize("before, after", PAIRS, ids=[after.name for _, after in PAIRS])
@pytest.mark.parametrize("language", ["README.md", "README.ko.md"])
def test_each_steps_table_lists_exactly_the_files_its_diff_changes(before, after, language):
    listed = what_changed_table(after / language)
    assert len(listed) == len(set(listed)), f"{after.name}/{language} lists a file twice"
    assert set(listed) == changed_files(before, after), f"{after.name}/{language}'s table"


def test_validation_is_the_same_file_in_every_step_from_its_first():
    copies = [folder / "validation.py" for folder in FOLDERS if (folder / "validation.py").exists()]
    assert copies and copies[0].parent == FOLDERS[0]
    assert {path.read_bytes() for path in copies} == {copies[0].read_bytes()}
    assert [path.parent for path in copies] == FOLDERS  # once there, never gone
    first_line = copies[0].read_text(encoding="utf-8").split("\n")[0]
    assert "safe to skip on a first read" in first_line


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda folder: folder.name)
def test_no_step_overrides_a_private_method(folder):
    """A leading-underscore method in a class of ours would override a library's private one
    (or be mistaken for it): a minor upgrade of the library could break it silently."""
    found = []
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    name = getattr(item, "name", "")
                    if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                        found.append(f"{path.name}: {node.name}.{name}")
    assert found == []


def test_no_module_hands_a_client_over_through_app_extensions():
    """Each store's client comes from its owner module (redis_client.py), never stashed in
    app.extensions by one module and picked up by another."""
    for folder in FOLDERS:
        for path in folder.rglob("*.py"):
            assert "extensions[" not in path.read_text(encoding="utf-8"), path


EXERCISES = tomllib.loads((ROOT / "exercises.toml").read_text(encoding="utf-8"))["exercise"]


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda exercise: exercise["name"])
def test_each_exercise_has_a_curl_in_its_steps_readme(exercise):
    """Its step README shows, under the exercise's name, a curl against the step's own app
    whose answer changes once the exercise is solved."""
    [folder] = [folder for folder in FOLDERS if folder.name.startswith(f"step{exercise['step']}_")]
    for language in ("README.md", "README.ko.md"):
        text = (folder / language).read_text(encoding="utf-8")
        sections = text.split("\n## ")
        exercises = next(part for part in sections if part.startswith(("Exercises", "연습 문제")))
        heading = f"\n### `{exercise['name']}`"
        assert heading in exercises, f"{folder.name}/{language} has no {heading.strip()}"
        block = exercises.split(heading, 1)[1].split("\n### ", 1)[0]
        assert re.search(r"```sh\n(.*\n)*?curl .*localhost:5000", block), f"{folder.name}/{language}: no curl"
