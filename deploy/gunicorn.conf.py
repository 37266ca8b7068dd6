"""gunicorn settings for the Teachbox web app (``teachbox web`` / ``make run``).

gthread workers: an upload of a thousand images or a page polling a job holds a thread,
not a whole process, so one slow client does not block the others.
"""

import os

bind = f"{os.environ.get('TEACHBOX_HOST', '127.0.0.1')}:{os.environ.get('TEACHBOX_PORT', '8000')}"
worker_class = "gthread"
# WEB_CONCURRENCY is gunicorn's own convention for the worker count; two cores here.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 8
# Uploads stream to storage; a large one over a slow link needs longer than the default 30 s.
timeout = 120
graceful_timeout = 30
accesslog = "-"
errorlog = "-"
