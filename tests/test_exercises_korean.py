"""The exercises in Korean: a Korean locale, or `LANG=ko` on make's command line, turns the
hints (exercises.toml's hint_ko) and the messages of tools/exercises.py into Korean; any other
locale keeps English. Each Korean hint names the same code as its English one."""

import importlib.util
import os
import re
import signal
import string
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("exercises_tool", ROOT / "tools" / "exercises.py")
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
EXERCISES = tool.manifest()
HANGUL = re.compile(r"[가-힣]")
# Code in a hint: a quoted literal, a call, a name with an underscore or a dot, CamelCase, or
# None/True/False. ASCII only, so that a Korean particle written after a name is not part of it.
CODE = re.compile(r'"[^"\n]*"|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*(?P<call>\()?')


def code_names(text):
    found = set()
    for match in CODE.finditer(text):
        name = match[0].rstrip("(")
        camel = any(c.isupper() for c in name[1:]) and any(c.islower() for c in name)
        if name.startswith('"') or match["call"] or "_" in name or "." in name or camel:
            found.add(name)
        elif name in ("None", "True", "False"):
            found.add(name)
    return found


def drift(exercise):
    """(code only the English hint names, code only the Korean one names)."""
    english, korean = code_names(exercise["hint"]), code_names(exercise["hint_ko"])
    return english - korean, korean - english


def by_name(exercise):
    return exercise["name"]


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_name)
def test_every_exercise_has_a_korean_hint_in_one_register(exercise):
    hint = exercise.get("hint_ko", "")
    assert HANGUL.search(hint), f"{exercise['name']} has no Korean hint (hint_ko)"
    # 합니다체 throughout: every sentence that ends in Hangul ends in -다, never in 해요체's -요.
    sentences = re.findall(r"([가-힣])\.(?:\s|$)", hint)
    assert sentences and all(last == "다" for last in sentences), exercise["name"]


@pytest.mark.parametrize("exercise", EXERCISES, ids=by_name)
def test_each_korean_hint_names_the_same_code_as_the_english_one(exercise):
    only_english, only_korean = drift(exercise)
    assert not only_english and not only_korean, (exercise["name"], only_english, only_korean)


def test_the_drift_check_catches_a_name_dropped_renamed_or_added():
    for exercise in EXERCISES:
        names = [name for name in code_names(exercise["hint_ko"]) if not name.startswith('"')]
        name = max(sorted(names), key=len)
        dropped = {**exercise, "hint_ko": exercise["hint_ko"].replace(name, "그 함수")}
        assert name in drift(dropped)[0]
        renamed = {**exercise, "hint_ko": exercise["hint_ko"].replace(name, name + "_old")}
        assert drift(renamed) == ({name}, {name + "_old"})
    added = {**EXERCISES[0], "hint_ko": EXERCISES[0]["hint_ko"] + " current_app.config도 씁니다."}
    assert drift(added)[1] == {"current_app.config"}


def test_every_message_has_a_korean_twin_with_the_same_blanks():
    def blanks(text):
        return sorted(field for _, field, _, _ in string.Formatter().parse(text) if field)

    for key, (english, korean) in tool.MESSAGES.items():
        assert HANGUL.search(korean) and not HANGUL.search(english), key
        assert blanks(english) == blanks(korean), key
        # 합니다체 like the hints and the READMEs: 하십시오, never 해요체's 하세요.
        assert not re.search(r"요[.!]?(\s|$)", korean), key


@pytest.mark.parametrize(
    ("env", "korean"),
    [
        ({"LANG": "ko_KR.UTF-8"}, True),
        ({"LANG": "ko"}, True),
        ({"LC_MESSAGES": "ko_KR.UTF-8", "LANG": "C"}, True),
        ({"LC_ALL": "ko_KR.UTF-8", "LANG": "en_US.UTF-8"}, True),
        ({"LC_ALL": "en_US.UTF-8", "LANG": "ko_KR.UTF-8"}, False),  # LC_ALL wins
        ({"EXERCISES_LANG": "ko", "LC_ALL": "C.UTF-8"}, True),  # make ... LANG=ko
        ({"LANG": "C"}, False),
        ({"LANG": "en_US.UTF-8"}, False),
        ({}, False),
    ],
)
def test_the_locale_picks_the_language(env, korean):
    assert tool.korean(env) is korean


# --- Through make, as a learner runs it -----------------------------------------------------

LOCALE = ("LANG", "LC_ALL", "LC_MESSAGES", "LANGUAGE", "EXERCISES_LANG")
FIRST = EXERCISES[0]


def make(workspace, *args, **locale):
    env = {key: value for key, value in os.environ.items() if key not in LOCALE}
    env.update(locale, EXERCISES_FROM=str(workspace))
    return subprocess.run(
        ["make", "--no-print-directory", "-o", ".venv/.installed-requirements", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        # SIGINT as a terminal leaves it, even when this run was started with `&`: a failing
        # check stops make with it, quietly (see the Makefile's QUIETLY_FAIL).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def flat(text):
    return " ".join(text.split())


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    """A fresh step 1 copy made by `make exercise ... LANG=ko`, then make's hint and check on it,
    in Korean and English locales, at once."""
    if not (ROOT / ".venv" / "bin" / "python").exists():
        pytest.skip("no .venv: make runs .venv/bin/python")
    workspace = tmp_path_factory.mktemp("korean")
    made = make(workspace, "exercise", f"STEP={FIRST['step']}", "LANG=ko", LC_ALL="en_US.UTF-8")
    step = f"STEP={FIRST['step']}"
    runs = {
        "hint_ko_locale": ("hint", step, {"LANG": "ko_KR.UTF-8"}),
        "hint_asked": ("hint", step, "LANG=ko", {"LC_ALL": "en_US.UTF-8", "LANG": "en_US.UTF-8"}),
        "hint_en": ("hint", step, {"LANG": "en_US.UTF-8"}),
        "check_asked": ("check", step, "LANG=ko", {"LANG": "C.UTF-8"}),
    }
    with ThreadPoolExecutor(len(runs)) as pool:
        futures = {key: pool.submit(make, workspace, *run[:-1], **run[-1]) for key, run in runs.items()}
        return {"made": made, **{key: future.result() for key, future in futures.items()}}


@pytest.mark.exercises
def test_make_exercise_with_lang_ko_on_the_command_line_speaks_korean(answers):
    made = answers["made"]
    assert made.returncode == 0, made.stdout + made.stderr
    assert "만들었습니다: " in made.stdout and "Wrote" not in made.stdout


@pytest.mark.exercises
@pytest.mark.parametrize("run", ["hint_ko_locale", "hint_asked"])
def test_make_hint_under_a_korean_locale_or_asked_prints_the_korean_hint(answers, run):
    answer = answers[run]
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert answer.stdout.startswith(f"다음 문제: {FIRST['name']}, 위치 ")
    assert f"아직 작성하지 않은 문제입니다: `{FIRST['name']}`." in answer.stdout
    assert "힌트: " in answer.stdout and flat(answer.stdout).endswith(flat(FIRST["hint_ko"]))
    assert "Hint" not in answer.stdout and "Next" not in answer.stdout


@pytest.mark.exercises
def test_make_hint_stays_english_by_default(answers):
    """Under an English locale (the other locales are test_the_locale_picks_the_language's)."""
    answer = answers["hint_en"]
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert answer.stdout.startswith(f"Next: {FIRST['name']}, at ")
    assert flat(answer.stdout).endswith(flat(FIRST["hint"])) and not HANGUL.search(answer.stdout)


@pytest.mark.exercises
def test_make_check_asked_in_korean_counts_and_fails_in_korean(answers):
    answer = answers["check_asked"]
    first_step = [e for e in EXERCISES if e["step"] == FIRST["step"]]
    assert answer.returncode != 0
    assert f"{len(first_step)}문제 중 0문제 통과" in answer.stdout
    assert flat(FIRST["hint_ko"]) in flat(answer.stdout) and "***" not in answer.stdout + answer.stderr
