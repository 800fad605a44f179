"""An OpenAI-compatible server (completions and chat API) in a thread that answers from a script: the tests of
self-instruct and of the synthesis aimed at the API know every answer, and so every outcome, in advance."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

Action = tuple  # ("ok", text) ("length", text) ("status", code) ("sleep", seconds) ("badjson",) ("html",) ("empty",)


class ScriptedServer:
    """An OpenAI-compatible server (completions and chat) in a thread. `script(key, attempt, query)` returns the
    action for a request; `key` is what `key_of(query)` makes of the query (the last user turn, or the completion
    prompt's last few-shot example), `attempt` counts that key's requests from 0."""

    def __init__(self, script: Callable[[object, int, str], Action], key_of: Callable[[str], object]):
        self.script, self.key_of = script, key_of
        self.hits: Counter = Counter()
        self.log: list = []  # the key of every request, in arrival order
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                chat = self.path.endswith("/chat/completions")
                query = body["messages"][-1]["content"] if chat else body["prompt"].rsplit("## Example", 1)[-1]
                key = server.key_of(query)
                with server.lock:
                    attempt = server.hits[key]
                    server.hits[key] += 1
                    server.log.append(key)
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                    self.answer(server.script(key, attempt, query), chat)

            def do_GET(self):  # the model list, as `client.models.list()` reads it
                models = [{"id": "scripted", "object": "model", "created": 0, "owned_by": "tests"}]
                self.send(200, json.dumps({"object": "list", "data": models}))

            def answer(self, action: Action, chat: bool):
                kind = action[0]
                if kind == "sleep":
                    time.sleep(action[1])
                    action = ("ok", "late")
                    kind = "ok"
                if kind == "status":
                    return self.send(action[1], json.dumps({"error": {"message": f"scripted {action[1]}"}}))
                if kind == "badjson":
                    return self.send(200, '{"choices": [')
                if kind == "html":
                    return self.send(200, "<html>busy</html>", "text/html")
                if kind == "empty":
                    return self.send(200, json.dumps({"id": "x", "object": "text_completion", "choices": []}))
                text, finish = action[1], "length" if kind == "length" else "stop"
                if chat:
                    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": finish}
                else:
                    choice = {"index": 0, "text": text, "finish_reason": finish, "logprobs": None}
                self.send(200, json.dumps({"id": "x", "object": "x", "created": 0, "model": "m", "choices": [choice]}))

            def send(self, status: int, text: str, content_type: str = "application/json"):
                data = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
