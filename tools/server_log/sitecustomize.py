"""Imported at start-up by the Python processes a `check` starts (tools/exercises.py puts this
folder on PYTHONPATH). In a `flask run` server it copies each exception the app logs (Flask
logs a 500's exception before answering) to $EXERCISE_SERVER_LOGS, where the test process
that started the server (tools/exercise_report.py) finds which exercise the 500 came from."""

import logging
import os
import sys
import traceback
from pathlib import Path

logged = logging.Logger.handle


def handle(logger, record):
    """Logger.handle, which every logger calls with each record it keeps. Not a handler: one on
    the root logger would change what the server prints (Flask skips its own handler when it
    finds one, and Python's last-resort output of warnings goes once any handler exists)."""
    # The test process reads its own exceptions directly (see exercise_report.py).
    if record.exc_info and record.levelno >= logging.ERROR and "pytest" not in sys.modules:
        folder = Path(os.environ["EXERCISE_SERVER_LOGS"])
        folder.mkdir(exist_ok=True)
        with open(folder / f"{os.getpid()}.log", "a", encoding="utf-8") as log:
            log.write("".join(traceback.format_exception(*record.exc_info)) + "\n\f\n")
    return logged(logger, record)


if os.environ.get("EXERCISE_SERVER_LOGS"):
    logging.Logger.handle = handle
