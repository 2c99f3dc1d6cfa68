"""Serve an ASGI app on a real loopback HTTP server (uvicorn in a background thread, port 0).

    with serve_app(app) as base_url:
        httpx.get(f"{base_url}/v2/locations", ...)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1", startup_timeout: float = 15.0) -> Iterator[str]:
    config = uvicorn.Config(app, host=host, port=0, log_level="warning", access_log=False, lifespan="off",
                            loop="asyncio", http="h11")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, name="serve-app", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
