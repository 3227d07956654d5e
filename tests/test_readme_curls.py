"""Every curl in a step's README answers what the README says it answers.

Each step's README.md is read as a learner reads it, top to bottom, against one `flask run` of the
step with a new database, the default settings and a cookie jar: each command that talks to
localhost:5000 runs in bash, in order, and the answer shown under it must be the one that comes.
The Korean READMEs carry every line of these code blocks (test_translations.py): this covers them too.

What a README shows under a command, and how it is compared:
- a ```console block: the lines after `$ command`; an ```sh block: the `# ` comments after it;
- `...` stands for any text (a token, the rest of a long answer);
- a status after two spaces (`# 401`, `401: spent`) is the answer's HTTP status (curl is given
  `-w` to print it, when the command does not print it itself);
- `NAME=...` (or `NAME=eyJ...`) means "paste the token": NAME gets the access token of the
  last answer, or its refresh token when NAME says REFRESH.
Not checked: the Exercises section (its before/after curls run against the learner's copy, each
after a fresh login), and a `for` loop of login attempts (what it shows depends on where in the
minute of the login limit it runs; test_security_pass2.py checks the limit itself).
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
    command = command.replace("localhost:5000", f"localhost:{port}")
    printed_status = "-w" in command or "-i" in command.split() or "-si" in command or "|" in command
    if command.startswith("curl") and not printed_status:
        command += " -w '\\n%{http_code}'"
    done = subprocess.run(
        ["bash", "-c", command], cwd=folder, env=variables, capture_output=True, text=True, timeout=30
    )
    output = done.stdout
    status = None
    if command.startswith("curl") and not printed_status:
        output, _, code = output.rpartition("\n")
        status = int(code)
    return output.strip(), status


def last_tokens(output):
    try:
        answer = json.loads(output)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


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
                tokens |= last_tokens(output)
                pattern, expected_status = expectation(shown)
                where = f"{readme.name} of {step_dir.name}: {command}"
                if expected_status is not None and status is not None:
                    assert status == expected_status, f"{where}\nanswered {status}: {output}"
                if pattern:  # one line shown for a one-line answer: all of it; else in order, within it
                    whole = len(shown) == 1 and "\n" not in output
                    found = re.fullmatch if whole else re.search
                    flat = " ".join(output.split("\n"))
                    assert found(pattern, flat, re.DOTALL), f"{where}\nshows {shown}\nanswered {output}"
                checked += 1
    assert checked >= 5, f"only {checked} curls found in {readme}"
