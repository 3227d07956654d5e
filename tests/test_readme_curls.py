"""Every curl in a step's README answers what the README says it answers.

Each step's README.md is read as a learner reads it, top to bottom, against one `flask run` of the
step with a new database, the default settings and a cookie jar: each command that talks to
localhost:5000 runs in bash, in order, and the answer shown under it must be the one that comes.
The Korean READMEs carry every line of these code blocks (test_translations.py): this covers them too.

What a README shows under a command, and how it is compared:
- a ```console block: the lines after `$ command`; an ```sh block: the `# ` comments after it;
- `...` stands for any text (a token, the rest of a long answer);
- a status after two spaces (`# 401`, `401: spent`) is the answer's HTTP status (curl is given
  `-w` to print it, when the command does not print it itself); a status alone is what the
  command's own `-w '%{http_code}'` prints;
- `NAME=...` (or `NAME=eyJ...`) means "paste the token": NAME gets the access token of the
  latest answer that had tokens, or its refresh token when NAME says REFRESH.
Every command shown with an answer must have it compared. Not checked: the Exercises section
(its before/after curls run against the learner's copy, each after a fresh login), and the `for`
loop of login attempts in step 1 (it shows a new minute's count, and says that a wrong password
just before brings the 429 sooner; test_security_pass2.py checks the limit itself).
"""

import json
import os
import re
import shutil
import subprocess

import pytest
from databases import missing_server
from server import flask_run

pytestmark = pytest.mark.server

FENCE = re.compile(r"^```(sh|console)\n(.*?)^```", re.MULTILINE | re.DOTALL)
PLACEHOLDER = re.compile(r"^([A-Z_]+)=\S*\.\.\.")
STATUS = re.compile(r"^(\d{3})\b")
ANNOTATION = re.compile(r"\s{2,}(?:#\s*)?(?=\S)")  # what follows the answer: a status, a remark


def commands(block, kind):
    """[(command, [lines the README shows as its answer])] of a code block."""
    found, lines = [], block.split("\n")
    number = 0
    while number < len(lines):
        line = lines[number]
        prompt = kind == "console"
        if prompt and not line.startswith("$ "):
            number += 1
            continue
        if not prompt and (not line.strip() or line.startswith("#")):
            number += 1
            continue
        command = line[2:] if prompt else line
        while command.endswith("\\") and number + 1 < len(lines):
            number += 1
            command = command[:-1] + " " + lines[number].strip()
        number += 1
        shown = []
        while number < len(lines) and lines[number].strip() and not lines[number].startswith("$ "):
            if not prompt and not lines[number].startswith("# "):
                break
            shown.append(lines[number][2:] if not prompt else lines[number])
            number += 1
        found.append((command.split("  #")[0].strip() if not prompt else command, shown))
    return found


def expectation(shown):
    """(a pattern for the answer, the status or None) from the lines the README shows."""
    texts, status = [], None
    for line in shown:
        line = line.strip()
        text, *remark = ANNOTATION.split(line, maxsplit=1)
        if re.fullmatch(r"\d{3}(:.*)?", text):  # only a status, as -w '%{http_code}' prints it
            text, remark = "", [text]
        if remark and (code := STATUS.match(remark[0])):
            status = int(code.group(1))
        if text:
            texts.append(text)
    pattern = ".*?".join(".*?".join(map(re.escape, text.split("..."))) for text in texts)
    return pattern, status


def run(command, port, variables, folder):
    """(what the command printed, the answer's status or None)."""
    command = command.replace("localhost:5000", f"localhost:{port}")
    own_status = "%{http_code}" in command  # it prints the status itself, last
    add_status = command.startswith("curl") and not own_status and "-i" not in command and "|" not in command
    if add_status:
        command += " -w '\\n%{http_code}'"
    done = subprocess.run(
        ["bash", "-c", command], cwd=folder, env=variables, capture_output=True, text=True, timeout=30
    )
    output, status = done.stdout.strip(), None
    if add_status:
        output, _, code = output.rpartition("\n")
        status = int(code)
    elif own_status:
        status = int(output.split()[-1])
    return output.strip(), status


def last_tokens(output):
    """The tokens of an answer, {} for one without."""
    try:
        answer = json.loads(output)
    except ValueError:
        return {}
    return {k: v for k, v in answer.items() if k.endswith("_token")} if isinstance(answer, dict) else {}


@pytest.mark.steps(1, 2, 3, 4)
def test_every_curl_in_the_readme_answers_as_shown(step, step_dir, tmp_path, keys):
    if shutil.which("curl") is None:
        missing_server("curl", "apt-get install curl")
    readme = step_dir / "README.md"  # a learner's copy has one too: their app, its README
    env = {**keys, "DATABASE_URL": f"sqlite:///{tmp_path / 'readme.sqlite3'}"}
    variables = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # and the tokens pasted
    checked = 0
    with flask_run(step_dir, env=env) as base:
        port = base.rsplit(":", 1)[1]
        tokens = {}
        for kind, block in FENCE.findall(readme.read_text().split("\n## Exercises")[0]):
            if "localhost:5000" not in block:
                continue
            for command, shown in commands(block, kind):
                if placeholder := PLACEHOLDER.match(command):
                    name = placeholder.group(1)
                    variables[name] = tokens.get("refresh_token" if "REFRESH" in name else "access_token", "")
                    continue
                if "localhost:5000" not in command or command.startswith("for "):
                    continue
                output, status = run(command, port, variables, tmp_path)
                # What the next NAME=... pastes: the tokens of the latest answer that had any.
                tokens = last_tokens(output) or tokens
                pattern, expected_status = expectation(shown)
                where = f"{readme.name} of {step_dir.name}: {command}"
                compared = False
                if expected_status is not None:
                    assert status is not None, f"{where}\nshows a status that this command does not print"
                    assert status == expected_status, f"{where}\nanswered {status}: {output}"
                    compared = True
                if pattern:  # one line shown for a one-line answer: all of it; else in order, within it
                    whole = len(shown) == 1 and "\n" not in output
                    found = re.fullmatch if whole else re.search
                    flat = " ".join(output.split("\n"))
                    assert found(pattern, flat, re.DOTALL), f"{where}\nshows {shown}\nanswered {output}"
                    compared = True
                assert compared or not shown, f"{where}\nshows {shown}, which this test cannot compare"
                checked += compared
    assert checked >= 5, f"only {checked} answers compared in {readme}"
