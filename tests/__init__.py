"""The test package. Importing it, before any fixture or module of the service,
points VAR_DIR at a folder of this test process.

The Celery app is built at import from the process's settings, and without
REDIS_URL its broker is the folder `VAR_DIR/broker`. With the default `./var`, a
test whose job re-queues itself (a purge stopped by its time budget) left purge
messages in the checkout's var/broker/queue, and the next `make run` worker
executed them against the developer's own database. A folder per test process
keeps every such message out of the checkout; `tests/conftest.py` fails the run
if anything appears there all the same.
"""

import atexit
import os
import shutil
import tempfile

_VAR_DIR = tempfile.mkdtemp(prefix="irtest-var-")
os.environ["VAR_DIR"] = _VAR_DIR
atexit.register(shutil.rmtree, _VAR_DIR, ignore_errors=True)
