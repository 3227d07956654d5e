"""Display helpers for the notebooks, so that each cell shows one thing, short enough for a
projector, in one piece.

- `show(response, expect=...)`: an HTTP answer in one printed block (status, the headers that
  matter, the JSON body, the server's log in one line), then a check that the status (and the
  message) are the ones the text above the cell promises.
- `source(module, name)` and `lines(module, containing)`: the step's real code, with its line
  numbers, read from the file the app runs, so the notebook cannot show other code than the
  step has.
- `show_jwt(token, key)`: a JWT's three parts side by side, decoded, and the signature's verdict,
  worked out here, offline.
- `Clock`: a clock that stands in for `time.time`, so that "31 minutes later" is one cell, not
  31 minutes.
- `timeline(config)`: the lifetimes an app is configured with, drawn as an SVG.
"""

import base64
import html
import importlib
import inspect
import json
import logging
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

import jwt as pyjwt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import PythonLexer

ROOT = Path(__file__).resolve().parent.parent
HEADERS = ("Content-Type", "WWW-Authenticate", "Set-Cookie", "Cache-Control")
LONG = 60  # characters: longer words in a body or a cookie are shown shortened
MONOSPACE = "font-family: monospace; line-height: 1.3"


# The server's log, one line per record. Flask prints a whole traceback to stderr when a view
# fails; in a notebook that is 40 lines in another output box. A handler on the root logger
# keeps Flask from adding its own (it adds one only when no handler would see the record), and
# `show` prints what was logged under the answer it belongs to.
class OneLineLog(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        line = f"server log: {record.levelname} {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
            line += f" -> {type(error).__name__}: {error}"
        self.lines.append(line)

    def take(self):
        lines, self.lines = self.lines, []
        return lines


SERVER_LOG = next((h for h in logging.getLogger().handlers if isinstance(h, OneLineLog)), None)
if SERVER_LOG is None:
    SERVER_LOG = OneLineLog()
    if "ipykernel" in sys.modules:  # in a notebook; imported by a test, leave logging alone
        logging.getLogger().addHandler(SERVER_LOG)


def shorten(text):
    """A long word (a token, a cookie) cut to its ends; text with spaces is left whole."""
    if len(text) <= LONG or " " in text:
        return text
    return f"{text[:20]}…{text[-6:]} ({len(text)} chars)"


def shorten_strings(value):
    if isinstance(value, str):
        return shorten(value)
    if isinstance(value, dict):
        return {key: shorten_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shorten_strings(item) for item in value]
    return value


def shorten_cookie(header):
    name, _, rest = header.partition("=")
    value, sep, attributes = rest.partition(";")
    return f"{name}={shorten(value)}{sep}{attributes}"


def json_text(body):
    """One line when short; a list one item a line; else indented."""
    line = json.dumps(body, ensure_ascii=False)
    if len(line) <= 100:
        return line
    if isinstance(body, list) and all(len(json.dumps(item)) <= 100 for item in body):
        return "[\n" + ",\n".join(f"  {json.dumps(item, ensure_ascii=False)}" for item in body) + "\n]"
    return json.dumps(body, ensure_ascii=False, indent=2)


def answer_text(response):
    """An answer as a client sees it, in a few lines."""
    lines = [f"HTTP {response.status}" + (f"   [clock: {Clock.running.label()}]" if Clock.running else "")]
    for name in HEADERS:
        for value in response.headers.getlist(name):
            lines.append(f"{name}: {shorten_cookie(value) if name == 'Set-Cookie' else value}")
    if response.status_code == 204 or not response.data.strip():
        lines.append("(no body)")
    elif response.is_json:
        lines.append(json_text(shorten_strings(response.get_json())))
    elif response.mimetype == "text/html":
        lines.append(f"(an HTML page of {len(response.data)} bytes, not shown)")
    else:
        lines.append(shorten(response.get_data(as_text=True)))
    lines.extend(SERVER_LOG.take())
    return "\n".join(lines)


def show(response, expect):
    """Print an answer in one block, then check it: `expect` is a status, or (status, message)."""
    status, message = expect if isinstance(expect, tuple) else (expect, None)
    # One write, so that the answer is one output block, never split by the kernel's buffering.
    sys.stdout.write(answer_text(response) + "\n\n")
    sys.stdout.flush()
    if response.status_code != status:
        raise AssertionError(f"expected {status}, got {response.status_code}")
    if message is not None:
        said = (response.get_json(silent=True) or {}).get("message")
        if said != message:
            raise AssertionError(f"expected the message {message!r}, got {said!r}")


# The step's code, as the app runs it.


class Listing:
    """Lines of a source file with their numbers: highlighted in Jupyter, plain elsewhere."""

    def __init__(self, path, first, text):
        self.path, self.first, self.text = path, first, text.rstrip("\n")

    def where(self):
        last = self.first + self.text.count("\n")
        return f"{self.path.relative_to(ROOT)}, lines {self.first}-{last}"

    def __repr__(self):
        width = len(str(self.first + self.text.count("\n")))
        numbered = [f"{n:>{width}}  {line}" for n, line in enumerate(self.text.split("\n"), self.first)]
        return "\n".join([f"# {self.where()}", *numbered])

    def _repr_html_(self):
        formatter = HtmlFormatter(
            linenos="inline", linenostart=self.first, noclasses=True, prestyles=MONOSPACE
        )
        code = highlight(self.text, PythonLexer(), formatter)
        return f"<div style='font-size:0.95em'><b><code>{html.escape(self.where())}</code></b>{code}</div>"


def find(module_name, qualified_name):
    target = importlib.import_module(module_name)
    for part in qualified_name.split("."):
        target = getattr(target, part)
    return inspect.unwrap(target)


def source(module_name, qualified_name, start=None, stop=None):
    """The source of a function or class, e.g. source("step3_protected_resource.app", "Api.handle_error").

    `start` and `stop`, when given, are texts of the first and the last line to show, so that a
    long function can be shown in part without counting lines.
    """
    target = find(module_name, qualified_name)
    lines, first = inspect.getsourcelines(target)
    path = Path(inspect.getsourcefile(target)).resolve()
    begin = line_with(lines, start, 0, qualified_name) if start else 0
    end = line_with(lines, stop, begin, qualified_name) + 1 if stop else len(lines)
    return Listing(path, first + begin, "".join(lines[begin:end]))


def line_with(lines, text, begin, where):
    """The index of the first line from `begin` that contains `text`: when the step's code
    changed, an error that says what to look for, not a StopIteration."""
    for i in range(begin, len(lines)):
        if text in lines[i]:
            return i
    raise LookupError(f"no line containing {text!r} in {where}: the step's code changed")


def lines(module_name, containing, before=0, after=0):
    """The line of a module that contains a text, with `before` and `after` lines around it."""
    module = importlib.import_module(module_name)
    path = Path(inspect.getsourcefile(module)).resolve()
    text = path.read_text().split("\n")
    at = line_with(text, containing, 0, module_name)
    begin = max(at - before, 0)
    return Listing(path, begin + 1, "\n".join(text[begin : at + after + 1]))


# A JWT, taken apart.


def unb64url(part):
    """base64url text without its '=' padding (as in JWTs and Flask cookies) back to bytes."""
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def b64url(data):
    """bytes, or anything JSON, to base64url text without padding."""
    if not isinstance(data, bytes):
        data = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def human(seconds):
    """3 s, 15 min, 24 h, 365 days: the largest unit that divides it, roughly."""
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.0f} s"


def when(seconds, now):
    moment = datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S UTC")
    delta = seconds - now
    if abs(delta) < 0.5:
        return f"{moment}, now"
    return f"{moment}, in {human(delta)}" if delta > 0 else f"{moment}, {human(-delta)} ago"


def signature_verdict(token, key):
    if key is None:
        return "not checked (no key given)", None
    try:
        pyjwt.decode(
            token,
            key,
            algorithms=["HS256"],
            options={"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_sub": False},
        )
    except pyjwt.InvalidSignatureError:
        return "INVALID: it does not match header.payload under this key", False
    except pyjwt.InvalidTokenError as error:
        return f"INVALID: {type(error).__name__}: {error}", False
    return "valid: HMAC-SHA256 of header.payload under this key", True


class TokenView:
    """A JWT's three parts side by side, as the well-known web debuggers show them."""

    COLOURS = ("#c0392b", "#8e44ad", "#2471a3")

    def __init__(self, token, key=None, now=None):
        self.token = token
        self.parts = token.split(".")
        self.header = json.loads(unb64url(self.parts[0]))
        self.payload = json.loads(unb64url(self.parts[1]))
        self.now = time.time() if now is None else now
        self.verdict, self.valid = signature_verdict(token, key)

    def times(self):
        names = [name for name in ("iat", "nbf", "exp") if name in self.payload]
        return [f"{name} = {when(self.payload[name], self.now)}" for name in names]

    def expiry(self):
        if "exp" not in self.payload:
            return "no exp: it never expires"
        return "expired" if self.payload["exp"] <= self.now else "not expired"

    def __repr__(self):
        return "\n".join(
            [
                f"header:    {json.dumps(self.header)}",
                f"payload:   {json.dumps(self.payload)}",
                *[f"           {line}" for line in self.times()],
                f"signature: {len(unb64url(self.parts[2]))} bytes, {self.verdict}",
                f"expiry:    {self.expiry()}",
            ]
        )

    def _repr_html_(self):
        decoded = [
            json.dumps(self.header, indent=2),
            "\n".join([json.dumps(self.payload, indent=2), "", *self.times()]),
            f"{len(unb64url(self.parts[2]))} bytes\n\n{self.verdict}",
        ]
        titles = ("HEADER", "PAYLOAD", "SIGNATURE")
        cells = "".join(
            f"<td style='vertical-align:top;border:1px solid #ccc;padding:6px;width:33%;text-align:left'>"
            f"<b style='color:{colour}'>{title}</b>"
            f"<div style='color:{colour};word-break:break-all;{MONOSPACE};font-size:0.8em'>"
            f"{html.escape(part)}</div>"
            f"<pre style='margin-top:6px;white-space:pre-wrap;{MONOSPACE}'>{html.escape(text)}</pre></td>"
            for title, colour, part, text in zip(titles, self.COLOURS, self.parts, decoded, strict=True)
        )
        colour = "#1e8449" if self.valid else "#c0392b"
        verdict = f"signature {self.verdict.split(':')[0]}, {self.expiry()}"
        return (
            f"<table style='border-collapse:collapse;width:100%'><tr>{cells}</tr></table>"
            f"<p style='color:{colour};font-weight:bold'>{html.escape(verdict)}</p>"
        )


def show_jwt(token, key=None, now=None):
    """A token, decoded, with the signature checked against `key` (when given)."""
    return TokenView(token, key, now)


# Time, made short.


class Clock:
    """Stands in for time.time() while it runs: `clock.advance(minutes=31)` is 31 minutes later
    for everything that asks time.time(), Flask's session cookie and the step's code alike."""

    running = None

    def __init__(self):
        self.start_time = self.now = time.time()
        self.patch = mock.patch("time.time", self)

    def __call__(self):
        return self.now

    def start(self):
        if Clock.running is not None:
            Clock.running.stop()  # a cell run twice: one fake clock at a time
        self.patch.start()
        Clock.running = self
        return self

    def stop(self):
        if Clock.running is self:
            self.patch.stop()
            Clock.running = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def advance(self, **duration):
        self.now += timedelta(**duration).total_seconds()

    def label(self):
        minutes = round((self.now - self.start_time) / 60)
        hours, minutes = divmod(minutes, 60)
        return f"+{hours} h {minutes:02d} min" if hours else f"+{minutes} min"


# Lifetimes, drawn.

LIFETIMES = (
    ("JWT_ACCESS_TOKEN_EXPIRES", "access token", "#2471a3"),
    ("PERMANENT_SESSION_LIFETIME", "session, idle (each request renews it)", "#1e8449"),
    ("SESSION_ABSOLUTE_LIFETIME", "session, absolute (nothing renews it)", "#b9770e"),
    ("JWT_REFRESH_TOKEN_EXPIRES", "refresh token", "#8e44ad"),
)


def duration(delta):
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60} h" if minutes % 60 == 0 and minutes >= 60 else f"{minutes} min"


class Timeline:
    def __init__(self, bars):
        self.bars = bars  # (label, timedelta, colour)

    def __repr__(self):
        return "\n".join(f"{label:42} {duration(delta):>7}" for label, delta, _ in self.bars)

    def _repr_svg_(self):
        width, left, row = 760, 10, 34
        span = max(delta for _, delta, _ in self.bars).total_seconds()
        scale = (width - left - 40) / span  # room for the last tick's label
        height = row * len(self.bars) + 40
        out = [
            f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' "
            "font-family='sans-serif' font-size='13'>"
        ]
        for hour in range(0, int(span // 3600) + 1, 3 if span > 6 * 3600 else 1):
            x = left + hour * 3600 * scale
            out.append(f"<line x1='{x:.1f}' y1='4' x2='{x:.1f}' y2='{height - 24}' stroke='#ddd'/>")
            out.append(f"<text x='{x:.1f}' y='{height - 8}' text-anchor='middle' fill='#555'>{hour} h</text>")
        for i, (label, delta, colour) in enumerate(self.bars):
            y, w = 8 + i * row, max(delta.total_seconds() * scale, 3)
            text = html.escape(f"{label}: {duration(delta)}")
            out.append(f"<rect x='{left}' y='{y}' width='{w:.1f}' height='18' fill='{colour}'/>")
            anchor, x = ("end", left + w - 6) if w > width / 2 else ("start", left + w + 6)
            fill = "white" if anchor == "end" else "#222"
            out.append(f"<text x='{x:.1f}' y='{y + 14}' text-anchor='{anchor}' fill='{fill}'>{text}</text>")
        out.append("</svg>")
        return "".join(out)


def timeline(config, *keys):
    """The lifetimes a configuration sets, from login at 0 h: the settings named, or all four."""
    keys = keys or [key for key, _, _ in LIFETIMES]
    return Timeline([(label, config[key], colour) for key, label, colour in LIFETIMES if key in keys])
