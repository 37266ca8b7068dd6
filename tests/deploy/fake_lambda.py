"""AWS Lambda's Invoke API on a loopback HTTP port, for the AWS-mode end-to-end test.

moto can only run a Lambda function inside Docker, which this machine does not have. This
server answers the same REST call boto3 makes (``POST /2015-03-31/functions/<name>/invocations``)
so the web app's real ``LambdaInvoker`` talks real HTTP: ``Event`` invocations are recorded for
the test to deliver to the handler, ``RequestResponse`` ones run the real handler at once.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

__all__ = ["FakeLambda", "Invocation"]

_PATH = re.compile(r"^/2015-03-31/functions/([^/?]+)/invocations")

Handler = Callable[[dict, Any], dict]


@dataclass
class Invocation:
    function: str
    invocation_type: str
    payload: dict
    result: dict | None = None


@dataclass
class FakeLambda:
    handlers: dict[str, Handler]
    invocations: list[Invocation] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._request_handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeLambda:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def events(self, function: str) -> list[dict]:
        return [i.payload for i in self.invocations
                if i.function == function and i.invocation_type == "Event"]

    def _request_handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                match = _PATH.match(self.path)
                name = unquote(match.group(1)) if match else ""
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if name not in fake.handlers:
                    self._answer(404, {"Type": "User", "message": f"Function not found: {name}"},
                                 {"x-amzn-ErrorType": "ResourceNotFoundException"})
                    return
                invocation = Invocation(name, self.headers.get("X-Amz-Invocation-Type", "RequestResponse"),
                                        json.loads(body or b"{}"))
                fake.invocations.append(invocation)
                if invocation.invocation_type == "Event":
                    self._answer(202, None)
                    return
                invocation.result = fake.handlers[name](invocation.payload, None)
                self._answer(200, invocation.result, {"X-Amz-Executed-Version": "$LATEST"})

            def _answer(self, status: int, body: dict | None, headers: dict | None = None) -> None:
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        return Handler
