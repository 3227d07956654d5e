"""The Korean READMEs (README.ko.md) stay in step with the English ones (README.md).

Which files: the root README.md and every step*/README.md. The root and the four step READMEs
must have a README.ko.md twin in the same folder; any other README.md these globs find must too.

For each pair, three rules, all plain text (no app is built, so this runs in milliseconds):

1. Commands. A "command" is any non-empty line of any fenced code block (between two lines
   that start, after any indentation, with ```) in the English file, with surrounding whitespace stripped: shell
   commands, code, their output, and comments alike, `# {"id": 1}` included. Code blocks are
   copied verbatim into the Korean twin, never translated, so every such line must appear, also
   stripped, as a line inside a fenced code block of the Korean file. Order, block boundaries
   and the Korean file's extra lines are not checked. To explain a comment in Korean, do it in
   the prose around the block, not inside it.
2. Sections. Both files have the same number of markdown headings: lines outside fenced code
   blocks that start with one or more '#' followed by a space.
3. Links. The English file links its twin, `](README.ko.md)`, and the Korean one links back,
   `](README.md)`, each in the same folder.

A failure names the file to fix and what is off in it, so whoever changes one README without
the other knows what to bring across.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = (
    "README.md",
    "step1_jwt_setup/README.md",
    "step2_user_model/README.md",
    "step3_protected_resource/README.md",
    "step4_sessions/README.md",
)
FOUND = [path.relative_to(ROOT).as_posix() for path in [ROOT / "README.md", *ROOT.glob("step*/README.md")]]
ENGLISH = sorted(set(REQUIRED) | set(FOUND))

FENCE = re.compile(r"^\s*```")
HEADING = re.compile(r"^#+ ")


def twin_of(english):
    return english.removesuffix("README.md") + "README.ko.md"


def read(relative):
    path = ROOT / relative
    if not path.is_file():
        pytest.fail(
            f"{relative} is missing: the root and every step folder need README.md and README.ko.md",
            pytrace=False,
        )
    return path.read_text(encoding="utf-8")


def split(text):
    """The (line number, stripped line) pairs inside fenced code blocks, the (line number,
    heading) pairs outside them, and whether a block is left open at the end."""
    code, headings = [], []
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            inside = not inside
        elif inside:
            if line.strip():
                code.append((number, line.strip()))
        elif HEADING.match(line):
            headings.append((number, line.rstrip()))
    return code, headings, inside


def parse(relative):
    code, headings, unclosed = split(read(relative))
    if unclosed:
        pytest.fail(f"{relative}: a fenced code block (```) is opened and never closed", pytrace=False)
    return code, headings


@pytest.mark.parametrize("english", ENGLISH)
def test_every_readme_has_a_korean_twin(english):
    read(english)
    korean = twin_of(english)
    if not (ROOT / korean).is_file():
        pytest.fail(
            f"{english} has no Korean twin: create {korean}, a full Korean version of it "
            "(this module's docstring says what must match)",
            pytrace=False,
        )


@pytest.mark.parametrize("english", ENGLISH)
def test_every_code_line_of_the_english_readme_is_in_the_korean_one(english):
    korean = twin_of(english)
    english_code, _ = parse(english)
    korean_code = {line for _, line in parse(korean)[0]}
    missing = [f"  {english}:{number}: {line}" for number, line in english_code if line not in korean_code]
    if missing:
        pytest.fail(
            f"{korean} lacks {len(missing)} code-block line(s) of {english}; copy each, unchanged, "
            f"into a fenced code block of {korean}:\n" + "\n".join(missing),
            pytrace=False,
        )


@pytest.mark.parametrize("english", ENGLISH)
def test_both_readmes_have_the_same_number_of_sections(english):
    korean = twin_of(english)
    _, english_headings = parse(english)
    _, korean_headings = parse(korean)
    if len(english_headings) == len(korean_headings):
        return
    listing = [f"  {english}:{number}: {heading}" for number, heading in english_headings]
    listing += [f"  {korean}:{number}: {heading}" for number, heading in korean_headings]
    pytest.fail(
        f"{english} has {len(english_headings)} sections but {korean} has {len(korean_headings)}: "
        "a section was added or removed on one side only. The headings:\n" + "\n".join(listing),
        pytrace=False,
    )


@pytest.mark.parametrize("english", ENGLISH)
def test_each_readme_links_the_other(english):
    korean = twin_of(english)
    problems = []
    if "](README.ko.md)" not in read(english):
        problems.append(
            f"{english} does not link its Korean twin: add `[한국어](README.ko.md)` under its first heading"
        )
    if "](README.md)" not in read(korean):
        problems.append(f"{korean} does not link back: add `[English](README.md)` under its first heading")
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_the_parser_counts_only_what_is_outside_or_inside_code_blocks():
    text = "# Title\n\n```sh\n# not a heading\n  make run  \n\n```\n## Section\n#no-space\n"
    assert split(text) == (
        [(4, "# not a heading"), (5, "make run")],
        [(1, "# Title"), (8, "## Section")],
        False,
    )
    assert split("```\nopen\n")[2]
