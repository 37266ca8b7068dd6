"""The preprocess step: validate, normalize, split and snapshot an upload, then queue training.

The invoker calls ``handle(payload, storage, settings)`` (in-process in local mode); the Lambda
entry point ``lambda_preprocess.handler.handler`` parses the event and calls the same function.
"""

from lambda_preprocess.preprocess import PreprocessRequest, StagedFile, handle, preprocess

__all__ = ["PreprocessRequest", "StagedFile", "handle", "preprocess"]
