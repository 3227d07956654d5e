"""Imported at start-up by the Python processes a `check` starts (tools/exercises.py puts this
folder on PYTHONPATH). In a `flask run` server it copies each exception the app logs (Flask
logs a 500's exception before answering) to $EXERCISE_SERVER_LOGS, where the test process
that started the server (tools/exercise_report.py) finds which exercise the 500 came from."""

import logging
import os
import sys
import traceback
from pathlib import Path


class ServerLog(logging.Handler):
    def emit(self, record):
        # The test process reads its own exceptions directly (see exercise_report.py).
        if not record.exc_info or "pytest" in sys.modules:
            return
        folder = Path(os.environ["EXERCISE_SERVER_LOGS"])
        folder.mkdir(exist_ok=True)
        with open(folder / f"{os.getpid()}.log", "a", encoding="utf-8") as log:
            log.write("".join(traceback.format_exception(*record.exc_info)) + "\n\f\n")


if os.environ.get("EXERCISE_SERVER_LOGS"):
    # At ERROR, so Flask still adds its own handler (it looks for one at the logger's level).
    logging.getLogger().addHandler(ServerLog(logging.ERROR))
