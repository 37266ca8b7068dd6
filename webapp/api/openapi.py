"""The OpenAPI 3.1 description of /api/v1, served at /api/v1/openapi.json.

Written by hand next to the routes; tests/api/test_openapi.py holds the two together: every
documented path and method is a real route and every route is documented, and real responses
are validated against these schemas with openapi-core.
"""

from __future__ import annotations

from copy import deepcopy

from webapp.api.errors import API_PREFIX, CODES

__all__ = ["openapi_document"]

_STR = {"type": "string"}
_NULL_STR = {"type": ["string", "null"]}
_NULL_NUM = {"type": ["number", "null"]}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(properties: dict, required: list[str] | None = None) -> dict:
    return {"type": "object", "properties": properties,
            "required": list(properties) if required is None else required}


_SCHEMAS = {
    "Error": _obj({"error": {"type": "string", "enum": sorted(set(CODES.values()))},
                   "message": _STR}),
    "VersionSummary": _obj({
        "version": _STR, "created": _STR, "dataset_id": _STR, "job_id": _STR,
        "accuracy": _NULL_NUM, "macro_f1": _NULL_NUM, "url": {"type": "string", "format": "uri"},
    }),
    "Project": _obj({
        "id": _STR, "name": _STR, "kind": {"enum": ["image", "text"]},
        "class_names": {"type": "array", "items": _STR}, "owner": _STR, "created": _STR,
        "current_version": _NULL_STR,
        "metrics": {"type": "object", "description": "model.json metrics of the current version"},
        "versions": {"type": "array", "items": _ref("VersionSummary")},
    }),
    "NewProject": _obj({
        "name": _STR, "kind": {"enum": ["image", "text"]},
        "class_names": {"type": "array", "items": _STR, "minItems": 2},
    }),
    "ExportFile": _obj({"name": _STR, "size": {"type": "integer"}, "media_type": _STR,
                        "description": _STR, "url": {"type": "string", "format": "uri"}}),
    "Version": {"allOf": [_ref("VersionSummary"), _obj({
        "class_names": {"type": "array", "items": _STR}, "current": {"type": "boolean"},
        "metrics": {"type": "object"},
        "exports": {"type": "array", "items": _ref("ExportFile"),
                    "description": "empty until the trainer has written them"},
    })]},
    "UploadAccepted": _obj({"upload_id": _STR, "state": {"const": "validating"},
                            "status_url": {"type": "string", "format": "uri"}}),
    "Upload": _obj({
        "upload_id": _STR, "state": {"enum": ["validating", "queued", "rejected", "error"]},
        "message": _STR,
        "problems": {"type": "array", "items": _obj(
            {"field": _STR, "class_name": _STR, "item": _STR, "reason": _STR, "fix": _STR, "message": _STR},
            required=["message"])},
        "progress": {"type": "object"}, "notes": {"type": "array", "items": _STR},
        "job_id": _NULL_STR, "job_url": {"type": ["string", "null"], "format": "uri"},
    }),
    "TrainAccepted": _obj({
        "state": {"enum": ["queued", "validating"]},
        "job_id": {"type": ["string", "null"], "description": "the queued job (no pending examples)"},
        "upload_id": {"type": ["string", "null"],
                      "description": "pending examples from the Inference page go through preprocess first"},
        "status_url": {"type": "string", "format": "uri", "description": "the job, or the upload"},
    }),
    "Job": _obj({
        "job_id": _STR,
        "state": {"enum": ["queued", "training", "succeeded", "failed", "cancelled"]},
        "terminal": {"type": "boolean"}, "phase": _STR, "percent": {"type": "number"},
        "queue_position": {"type": "integer"}, "created": _STR, "started": _NULL_STR,
        "finished": _NULL_STR, "error": _NULL_STR, "model_version": _NULL_STR,
    }),
    "PredictJson": {
        "type": "object",
        "description": "One of text or image_b64, each a single value or a list (at most 32).",
        "properties": {
            "text": {"oneOf": [_STR, {"type": "array", "items": _STR}]},
            "image_b64": {"oneOf": [_STR, {"type": "array", "items": _STR}],
                          "description": "base64 of an image file; a data: URL prefix is accepted"},
            "top_k": {"type": "integer", "minimum": 1, "default": 3},
            "version": {"type": "string", "description": "a model version such as v2; default: current"},
        },
    },
    "Prediction": _obj({
        "project_id": _STR, "version": _STR, "kind": {"enum": ["image", "text"]},
        "predictions": {"type": "array", "items": _obj({
            "label": _STR, "confidence": {"type": "number"},
            "top": {"type": "array", "items": _obj({"label": _STR, "probability": {"type": "number"}})},
        })},
    }),
    "Token": _obj({"token_id": _STR, "project_id": _STR, "name": _STR, "owner": _STR, "created": _STR}),
    "NewToken": _obj({"name": {"type": "string", "maxLength": 60}}),
    "TokenCreated": _obj({"token_id": _STR, "name": _STR, "project_id": _STR,
                          "secret": {"type": "string", "description": "shown once; send as Bearer"}}),
}

_ERROR_TEXT = {
    400: "The request is malformed; the message says what to change.",
    401: "No credentials, or a token that is wrong, revoked or made for another project.",
    403: "A project token used where only the signed-in site session may act.",
    404: "No such project (or not yours), version, job, upload, export or token.",
    409: "Nothing to train on yet.",
    413: "The upload or input is over a limit.",
}


def _errors(*statuses: int) -> dict:
    content = {"application/json": {"schema": _ref("Error")}}
    return {str(s): {"description": _ERROR_TEXT[s], "content": content} for s in statuses}


def _ok(status: int, description: str, schema: str | None = None, content_type: str = "application/json",
        location: bool = False) -> dict:
    answer: dict = {"description": description}
    if schema:
        answer["content"] = {content_type: {"schema": _ref(schema)}}
    if location:
        answer["headers"] = {"Location": {"schema": {"type": "string"}, "description": "the status URL"}}
    return {str(status): answer}


def _json_body(schema: str) -> dict:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema)}}}


_PROJECT = {"name": "project_id", "in": "path", "required": True, "schema": {"type": "string"}}


def _path_params(*names: str) -> list[dict]:
    return [_PROJECT] + [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                         for n in names]


_SESSION_ONLY = [{"session": []}]

_PATHS = {
    "/projects": {"post": {
        "summary": "Create an empty project (site session only)", "operationId": "createProject",
        "security": _SESSION_ONLY, "requestBody": _json_body("NewProject"),
        "responses": {**_ok(201, "Created", "Project"), **_errors(400, 401, 403)},
    }},
    "/projects/{project_id}": {"get": {
        "summary": "Project details, its versions and the current version's metrics",
        "operationId": "getProject", "parameters": _path_params(),
        "responses": {**_ok(200, "The project", "Project"), **_errors(401, 404)},
    }},
    "/projects/{project_id}/versions/{version}": {"get": {
        "summary": "One model version: metrics and export files", "operationId": "getVersion",
        "parameters": _path_params("version"),
        "responses": {**_ok(200, "The version", "Version"), **_errors(401, 404)},
    }},
    "/projects/{project_id}/versions/{version}/exports/{name}": {"get": {
        "summary": "Download an export: model.onnx, model.torchscript.pt, classes.txt, README.md, "
                   "tokenizer.json (text)", "operationId": "downloadExport",
        "parameters": _path_params("version", "name"),
        "responses": {"200": {"description": "The file, as an attachment", "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "text/plain": {"schema": _STR}, "text/markdown": {"schema": _STR},
            "application/json": {"schema": {"type": "object"}}}}, **_errors(401, 404)},
    }},
    "/projects/{project_id}/examples": {"post": {
        "summary": "Add examples and retrain: one multipart part per file, named examples[<class name>]; "
                   "a new class name adds a class", "operationId": "addExamples",
        "parameters": _path_params(),
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
            "type": "object", "additionalProperties": {"type": "string", "format": "binary"},
            "properties": {"augment": {"type": "string", "enum": ["true", "false"]},
                           "model": {"type": "string", "description": "backbone to train with from now "
                                     "on (docs/models.md): lite0, lite1, lite2; minilm, minilm-tuned"}}}}}},
        "responses": {**_ok(202, "Staged; poll status_url", "UploadAccepted", location=True),
                      **_errors(400, 401, 404, 413)},
    }},
    "/projects/{project_id}/examples/archive": {"post": {
        "summary": "Add examples from a zip with one folder per class (text: or one CSV per class) and "
                   "retrain; a new folder name adds a class", "operationId": "addExamplesArchive",
        "parameters": _path_params(),
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": _obj(
            {"archive": {"type": "string", "format": "binary"}})}}},
        "responses": {**_ok(202, "Staged; poll status_url", "UploadAccepted", location=True),
                      **_errors(400, 401, 404, 413)},
    }},
    "/projects/{project_id}/export": {"get": {
        "summary": "The whole project as one zip: project.json, datasets, every model version; import "
                   "it with 'teachbox project import' or the Import a project page",
        "operationId": "exportProject",
        "parameters": _path_params(),
        "responses": {"200": {"description": "The project export, as an attachment", "content": {
            "application/zip": {"schema": {"type": "string", "format": "binary"}}}}, **_errors(401, 404)},
    }},
    "/projects/{project_id}/uploads/{upload_id}": {"get": {
        "summary": "Upload status: validating, then queued (with job) or rejected (with every problem)",
        "operationId": "getUpload", "parameters": _path_params("upload_id"),
        "responses": {**_ok(200, "The upload", "Upload"), **_errors(401, 404)},
    }},
    "/projects/{project_id}/train": {"post": {
        "summary": "Retrain on the latest dataset, with the pending examples if there are any",
        "operationId": "train", "parameters": _path_params(),
        "responses": {**_ok(202, "Queued (a job) or validating (an upload); poll status_url", "TrainAccepted",
                            location=True),
                      **_errors(401, 404, 409)},
    }},
    "/projects/{project_id}/jobs/{job_id}": {"get": {
        "summary": "Training job status", "operationId": "getJob", "parameters": _path_params("job_id"),
        "responses": {**_ok(200, "The job", "Job"), **_errors(401, 404)},
    }},
    "/projects/{project_id}/predict": {"post": {
        "summary": "Classify images or texts with the current (or a named) version",
        "operationId": "predict", "parameters": _path_params(),
        "requestBody": {"required": True, "content": {
            "application/json": {"schema": _ref("PredictJson")},
            "multipart/form-data": {"schema": {"type": "object", "description": (
                "image files in any part, or 'text' fields; optional top_k and version fields")}}}},
        "responses": {**_ok(200, "Top labels of each input", "Prediction"),
                      **_errors(400, 401, 404, 413)},
    }},
    "/projects/{project_id}/tokens": {
        "get": {"summary": "List the project's API tokens (site session only)", "operationId": "listTokens",
                "security": _SESSION_ONLY, "parameters": _path_params(),
                "responses": {"200": {"description": "Live tokens, oldest first", "content": {
                    "application/json": {"schema": _obj({"tokens": {"type": "array",
                                                                    "items": _ref("Token")}})}}},
                              **_errors(401, 403, 404)}},
        "post": {"summary": "Create an API token; its secret is shown only in this answer",
                 "operationId": "createToken", "security": _SESSION_ONLY, "parameters": _path_params(),
                 "requestBody": _json_body("NewToken"),
                 "responses": {**_ok(201, "Created", "TokenCreated"), **_errors(400, 401, 403, 404)}},
    },
    "/projects/{project_id}/tokens/{token_id}": {"delete": {
        "summary": "Revoke a token: it stops working at once", "operationId": "revokeToken",
        "security": _SESSION_ONLY, "parameters": _path_params("token_id"),
        "responses": {**_ok(204, "Revoked"), **_errors(401, 403, 404)},
    }},
    "/openapi.json": {"get": {
        "summary": "This document", "operationId": "openapi", "security": [],
        "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {
            "schema": {"type": "object"}}}}},
    }},
}

_DOCUMENT = {
    "openapi": "3.1.0",
    "info": {
        "title": "Teachbox API",
        "version": "1",
        "description": (
            "Train and call image and text classifiers from code. Authenticate with a project API token "
            "('Authorization: Bearer <token>', made under 'Use from code' on the project page) or the site "
            "session (send the page's CSRF token as X-CSRFToken on POST and DELETE). Errors are always "
            '{"error": code, "message": sentence}.'
        ),
    },
    "servers": [{"url": API_PREFIX}],
    "security": [{"bearer": []}, {"session": []}],
    "components": {
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "a project API token"},
            "session": {"type": "apiKey", "in": "cookie", "name": "session",
                        "description": "the site's sign-in session"},
        },
        "schemas": _SCHEMAS,
    },
    "paths": _PATHS,
}


def openapi_document() -> dict:
    """A copy of the document (callers may not change the shared one)."""
    return deepcopy(_DOCUMENT)
