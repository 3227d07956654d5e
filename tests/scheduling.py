"""The order of the suite under `make test`'s two workers (pytest-xdist, `--dist loadfile`).

A few test modules take most of the time: the exercise round trips (one module fixture runs a
dozen pytest processes), the notebook kernels, fuzzing, the tests run again on PostgreSQL.
Each module runs on one worker (so `runs` is built once); the longest go first, so that the
last one to finish is a short one. xdist's own order (most tests first) would leave the
exercises and the notebooks to the end: `make test` passes --no-loadscope-reorder.
"""

import pytest

LONG_FIRST = ("exercises", "notebook", "fuzz", "postgresql", "server", "load")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    if not hasattr(config, "workerinput"):  # only on xdist's workers
        return
    rank = {name: n for n, name in enumerate(LONG_FIRST)}

    def first(item):
        return min((rank[mark.name] for mark in item.iter_markers() if mark.name in rank), default=len(rank))

    items.sort(key=first)  # stable: the rest keeps its order
