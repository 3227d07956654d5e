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

Then three checks of the Korean itself (/work/shared/design/korean-style.md, issue 21), on the
prose of every README.ko.md, notebooks/README.ko.md included, and of the markdown cells of every
Korean notebook, notebooks/ko/*.ipynb (fenced code blocks are left out; a notebook's code cells are
the English ones, compared in tests/test_notebooks.py):

4. Particles after code. A particle after a code span is chosen by how the code is read aloud:
   `make check STEP=2` ends in "이" (a vowel), so 는/가/를/로/와; `flask run` ends in "런" (a
   consonant), so 은/이/을/으로/과; a final ㄹ ("URL", "1") takes 로, like a vowel, and the
   consonant forms otherwise. Only a span whose last word the tables below can read is checked:
   a number, a single letter, or a word in SOUNDS; every other span is skipped, never guessed.
5. No English gloss in parentheses after a common term: 토큰(token), 쿠키(cookie), 테스트(test),
   데비안(Debian) add nothing. A gloss is allowed after a rarer term, once per file.
6. One register. Prose sentences end in 합니다체 (…니다., …십시오.) or in 해요체 (…요., …죠.),
   never both in one file.
"""

import json
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


# --- The Korean itself: particles after code, glosses, register ---------------------------------

KOREAN_NOTEBOOKS = sorted(path.relative_to(ROOT).as_posix() for path in ROOT.glob("notebooks/ko/*.ipynb"))
KOREAN = [twin_of(english) for english in ENGLISH] + ["notebooks/README.ko.md"] + KOREAN_NOTEBOOKS

VOWEL, RIEUL, CONSONANT = "vowel", "rieul", "consonant"

# How the last word of a code span is read aloud in Korean, by its final sound. A word whose
# reading is disputed (`sub`: 서브 or 섭?) is left out, so it is never checked.
SOUNDS = {
    VOWEL: """access activate after alice api authenticate backend bearer check clear cookie data
        database db debug decorators delete encode error exercise expires false flask hint id
        interface jti jwt key lax make manager md me notebook notebooks old parts password png
        post py pytest redis refresh register reqparse required resource revoked samesite secure
        server store test todos true txt user venv""".split(),
    RIEUL: "html model sql url".split(),
    CONSONANT: """algorithm app get json lifetime limit login logout none run screenshot session
        setup step testing time token type unit""".split(),
}
WORD_SOUND = {word: sound for sound, words in SOUNDS.items() for word in words}
# Single letters, as spelled out: 엘, 엠, 엔, 알 end in a consonant; the rest in a vowel.
LETTER_SOUND = {letter: VOWEL for letter in "abcdefghijkopqstuvwxyz"} | {
    "l": RIEUL,
    "r": RIEUL,
    "m": CONSONANT,
    "n": CONSONANT,
}
# The last digit as read: 일, 칠, 팔 end in ㄹ; 이, 사, 오, 구 in a vowel; 삼, 육 in a consonant.
DIGIT_SOUND = dict(
    zip("123456789", [RIEUL, VOWEL, CONSONANT, VOWEL, VOWEL, CONSONANT, RIEUL, RIEUL, VOWEL], strict=True)
)

# Each particle pair: (after a consonant, after a vowel), and which one ㄹ takes.
PARTICLES = {
    "은": ("은", "는"),
    "는": ("은", "는"),
    "이": ("이", "가"),
    "가": ("이", "가"),
    "을": ("을", "를"),
    "를": ("을", "를"),
    "과": ("과", "와"),
    "와": ("과", "와"),
    "으로": ("으로", "로"),
    "로": ("으로", "로"),
}
PARTICLE_AFTER_CODE = re.compile(r"`([^`\n]+)`(으로|은|는|이|가|을|를|과|와|로)(?![가-힣])")
WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


def final_sound(code):
    """VOWEL, RIEUL or CONSONANT for how `code` ends when read aloud, or None when unsure."""
    code = code.removesuffix("()")
    if not code[-1:].isalnum():
        return None  # `{"msg": ...}`, `GET /`: no single reading
    last = WORDS.findall(code)[-1]
    if last.isdigit():
        zeros = len(last) - len(last.rstrip("0"))
        if zeros == len(last):
            return CONSONANT  # 영
        return CONSONANT if zeros else DIGIT_SOUND[last[-1]]  # 십, 백, 천, 만 / the last digit
    last = last.lower()
    if len(last) == 1:
        return LETTER_SOUND[last]
    return WORD_SOUND.get(last)


def expected_particle(particle, sound):
    after_consonant, after_vowel = PARTICLES[particle]
    if sound == VOWEL or (sound == RIEUL and after_consonant == "으로"):
        return after_vowel
    return after_consonant


def prose(text):
    """(line number, line) for every line outside fenced code blocks."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if FENCE.match(line):
            inside = not inside
        elif not inside:
            yield number, line


def wrong_particles(text):
    problems = []
    for number, line in prose(text):
        for match in PARTICLE_AFTER_CODE.finditer(line):
            code, particle = match.groups()
            sound = final_sound(code)
            if sound is None:
                continue
            right = expected_particle(particle, sound)
            if particle != right:
                problems.append(f"{number}: `{code}`{particle} should be `{code}`{right}")
    return problems


COMMON_TERMS = set(
    """토큰 쿠키 테스트 데비안 세션 헤더 페이로드 클레임 서명 만료 키 리소스 엔드포인트 데코레이터
    미들웨어 픽스처 퍼징 멱등 해시 본문 변수 폐기 뷰 폼 딕셔너리 레거시 인덱스 브라우저 데이터베이스 비밀번호
    사용자 요청 응답 서버 클라이언트 라이브러리 팩토리 백엔드 저장소 프로세스 설정""".split()
)
GLOSS = re.compile(r"([가-힣]+)\(([A-Za-z][A-Za-z .\-]*)\)")
CODE_SPAN = re.compile(r"`[^`\n]*`")


def needless_glosses(text):
    problems, seen = [], set()
    for number, line in prose(text):
        for word, gloss in GLOSS.findall(CODE_SPAN.sub("", line)):
            if word in COMMON_TERMS:
                problems.append(f"{number}: {word}({gloss}) -> {word}")
            elif (word, gloss) in seen:
                problems.append(f"{number}: {word}({gloss}) again: gloss a term at its first use only")
            seen.add((word, gloss))
    return problems


# A sentence end: before . ! ? or the end of a line or table cell. 필요, 중요, 주요, 개요 are
# nouns, not 해요체.
END = r"(?=[.!?]|\s*\||\s*$)"
HAPSHO = re.compile(r"(?:니다|니까|십시오|시오)" + END)
HAEYO = re.compile(r"(?:(?![필중주개])[가-힣]요|죠)" + END)


def mixed_register(text):
    formal, polite = [], []
    for number, line in prose(text):
        line = CODE_SPAN.sub("", line)
        formal += [number] * len(HAPSHO.findall(line))
        polite += [number] * len(HAEYO.findall(line))
    if formal and polite:
        minority, name = (polite, "해요체") if len(polite) <= len(formal) else (formal, "합니다체")
        return [
            f"{len(formal)} sentence(s) in 합니다체 and {len(polite)} in 해요체; the {name} ones are on line(s) "
            + ", ".join(map(str, sorted(set(minority))))
        ]
    return []


def korean_prose(relative):
    """A README whole, or a notebook's markdown cells one after another: its prose."""
    text = read(relative)
    if not relative.endswith(".ipynb"):
        return text
    cells = json.loads(text)["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "markdown")


@pytest.mark.parametrize("korean", KOREAN)
@pytest.mark.parametrize(
    "check", [wrong_particles, needless_glosses, mixed_register], ids=lambda check: check.__name__
)
def test_the_korean_reads_as_written_in_korean(korean, check):
    problems = check(korean_prose(korean))
    if problems:
        where = " (line numbers count the markdown cells only, joined in order)" if korean.endswith(".ipynb") else ""
        pytest.fail(
            f"{korean}, {check.__name__.replace('_', ' ')}{where}:\n" + "\n".join(f"  {p}" for p in problems),
            pytrace=False,
        )


def test_the_particle_check_reads_code_as_it_is_said():
    # The issue's own examples, and their fixes.
    assert wrong_particles("`make check STEP=2`은 알려 줍니다.") == [
        "1: `make check STEP=2`은 should be `make check STEP=2`는"
    ]
    assert wrong_particles("`make exercise STEP=4`은 만듭니다.")
    assert not wrong_particles(
        "`make check STEP=2`는 `make exercise STEP=4`는 `make hint STEP=1`은 만듭니다."
    )
    # Consonants, ㄹ, letters, numbers with zeros, camelCase, and a trailing ().
    assert not wrong_particles(
        "`flask run`을 `GET /me`는 `REDIS_URL`이 `REDIS_URL`로 `STEP=N`으로 `401`로 `500`이 `10`은"
    )
    assert (
        wrong_particles("`flask run`를") and wrong_particles("`REDIS_URL`으로") and wrong_particles("`500`가")
    )
    assert not wrong_particles("`@jwt_required()`로 `AttributeError`가 `JWTManager`는 `PostgreSQL`로")
    assert wrong_particles("`@jwt_required()`으로") and wrong_particles("`AttributeError`이")
    # Unsure readings are skipped, not guessed; code blocks are not prose.
    assert not wrong_particles('`{"msg": ...}`로 `sub`를 `sub`을 `frobnicate`은')
    assert not wrong_particles("```sh\n`make check STEP=2`은\n```")
    # A particle is a particle only at a word's end: `TESTING`이라면 is not checked as 이.
    assert not wrong_particles("`TESTING`이라면 `run`으로서")


def test_the_gloss_check_catches_common_terms_and_repeats():
    assert needless_glosses("토큰(token)과 쿠키(session cookie), 데비안(Debian)") == [
        "1: 토큰(token) -> 토큰",
        "1: 쿠키(session cookie) -> 쿠키",
        "1: 데비안(Debian) -> 데비안",
    ]
    assert not needless_glosses("세션 고정(session fixation)을 막습니다. `f(x)`도 됩니다. 단계(E3)")
    assert needless_glosses("세션 고정(session fixation)\n다시 세션 고정(session fixation)")


def test_the_register_check_catches_a_mix():
    assert not mixed_register("실행합니다.\n확인하십시오.\n| 표 | 설명합니다 |")
    assert not mixed_register("실행해요.\n확인하세요.\n정말 필요해요?")
    assert mixed_register("실행합니다.\n자세한 내용은 루트 README를 보세요.") == [
        "1 sentence(s) in 합니다체 and 1 in 해요체; the 해요체 ones are on line(s) 2"
    ]
    assert not mixed_register("실행합니다. 이것이 필요.\n| 중요 | 주요 |\n추가 주의가 필요 |")
    assert mixed_register("실행합니다.\n그렇죠.")
