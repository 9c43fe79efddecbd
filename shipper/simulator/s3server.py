"""A local S3 over real HTTP: moto's server mode in a daemon thread, one request at a time.

Why: the shipper's exactly-once protocol rests on S3 conditional writes (``If-None-Match: *``,
``If-Match``) being atomic. moto's backend is not thread-safe on its own, so every request
goes through a WSGI middleware holding one lock for the whole request; several threads or
processes writing to the same key then see the same outcome real S3 would give. The middleware
also counts requests by method (the benchmarks report S3 PUTs per MB shipped).

moto is an optional dependency (``pip install 'rds-log-shipper[demo]'``), imported only when a
``LocalS3`` starts. Its state is process-global: two ``LocalS3`` in one process share buckets.
"""

from __future__ import annotations

import threading
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

INSTALL_HINT = "LocalS3 needs moto's server mode: pip install 'rds-log-shipper[demo]'"


class S3Stats:
    """Requests by HTTP method and bytes in/out (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._methods: Counter[str] = Counter()
        self._bytes_in = 0
        self._bytes_out = 0

    def _record(self, method: str, bytes_in: int, bytes_out: int) -> None:
        with self._lock:
            self._methods[method] += 1
            self._bytes_in += bytes_in
            self._bytes_out += bytes_out

    def reset(self) -> None:
        with self._lock:
            self._methods.clear()
            self._bytes_in = self._bytes_out = 0

    @property
    def methods(self) -> dict[str, int]:
        with self._lock:
            return dict(self._methods)

    @property
    def puts(self) -> int:
        with self._lock:
            return self._methods["PUT"]

    @property
    def gets(self) -> int:
        with self._lock:
            return self._methods["GET"]

    @property
    def heads(self) -> int:
        with self._lock:
            return self._methods["HEAD"]

    @property
    def bytes_in(self) -> int:
        with self._lock:
            return self._bytes_in

    @property
    def bytes_out(self) -> int:
        with self._lock:
            return self._bytes_out

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"methods": dict(self._methods), "bytes_in": self._bytes_in,
                    "bytes_out": self._bytes_out}


class _Serialised:
    """WSGI middleware: one request at a time, body fully produced inside the lock."""

    def __init__(self, app: WSGIApp, stats: S3Stats) -> None:
        self.app = app
        self.stats = stats
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]
                 ) -> list[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                body = b"".join(result)
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
        self.stats._record(str(environ.get("REQUEST_METHOD", "?")),
                           int(environ.get("CONTENT_LENGTH") or 0), len(body))
        return [body]


class LocalS3:
    """moto S3 at ``endpoint_url``; ``with LocalS3() as s3: s3.create_bucket("b")``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.stats = S3Stats()

    def start(self) -> LocalS3:
        if self._server is not None:
            return self
        try:
            from moto.moto_server.werkzeug_app import (
                DomainDispatcherApplication,
                create_backend_app,
            )
            from werkzeug.serving import WSGIRequestHandler, make_server
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise RuntimeError(INSTALL_HINT) from exc
        base: type[WSGIRequestHandler] = WSGIRequestHandler
        try:  # moto >= 5.2.5 keeps metadata headers with underscores, which werkzeug drops;
            # the shipper's metadata names have none, so older moto serves it as well.
            from moto.moto_server.werkzeug_app import MotoRequestHandler

            base = MotoRequestHandler
        except ImportError:
            pass

        class QuietHandler(base):  # type: ignore[valid-type, misc]
            def log_request(self, *args: Any, **kwargs: Any) -> None:
                pass

        app = _Serialised(DomainDispatcherApplication(create_backend_app), self.stats)
        self._server = make_server(self._host, self._port, app, threaded=True,
                                   request_handler=QuietHandler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-s3",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> LocalS3:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LocalS3 not started")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        host = self._host if self._host not in ("", "0.0.0.0") else "127.0.0.1"  # noqa: S104
        return f"http://{host}:{self.port}"

    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL_S3": self.endpoint_url}

    def client(self, **kwargs: Any) -> Any:
        """A boto3 S3 client for this server (path-style, dummy credentials)."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {
            "endpoint_url": self.endpoint_url, "region_name": "us-east-1",
            "aws_access_key_id": "testing", "aws_secret_access_key": "testing",
            "config": Config(s3={"addressing_style": "path"}),
        }
        options.update(kwargs)
        return boto3.client("s3", **options)

    def create_bucket(self, name: str) -> None:
        self.client().create_bucket(Bucket=name)

    def reset(self) -> None:
        """Forget every bucket and object (moto's reset API; state is process-wide)."""
        url = f"{self.endpoint_url}/moto-api/reset"
        req = urllib.request.Request(url, method="POST")  # noqa: S310 - our own http URL
        with urllib.request.urlopen(req, timeout=10) as resp:  # noqa: S310
            resp.read()
