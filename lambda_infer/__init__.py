"""The inference handler: top-k answers from a project's promoted model, warm across calls.

``handle(payload, storage, settings)`` is what the web app's Invoker calls; ``predict`` is the
core function; ``lambda_infer.handler.handler`` is the Lambda entry point.
"""

from lambda_infer.service import handle, predict

__all__ = ["handle", "predict"]
