"""``pos-sync api serve``: the HTTP API on uvicorn. Its first stdout line is one JSON object
``{"url": "http://HOST:PORT"}`` (``--port 0`` binds a free port) and nothing else goes to stdout;
logs are JSON lines on stderr. ``--workers N`` (default ``WEB_CONCURRENCY``, else 1): N uvicorn
worker processes sharing the one socket bound here (the URL printed is theirs)."""

from __future__ import annotations

import argparse
import gc
import json
import socket
import sys


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from pos_sync.api import logs
    from pos_sync.api.app import create_app
    from pos_sync.settings import load_settings

    settings = load_settings()
    port = settings.port if args.port is None else args.port
    workers = settings.web_concurrency if args.workers is None else args.workers
    if workers < 1:
        sys.stderr.write(f"error: --workers must be at least 1, got {workers}\n")
        return 2
    sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, port))
    sock.listen(2048)  # connections made as soon as the URL is printed wait for uvicorn to accept them
    host, bound = sock.getsockname()[:2]
    logs.configure()
    app = create_app(settings) if workers == 1 else None
    sys.stdout.write(json.dumps({"url": f"http://{host}:{bound}"}) + "\n")
    sys.stdout.flush()
    log_config = {"version": 1, "disable_existing_loggers": False,
                  "handlers": {"stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}},
                  "loggers": {"uvicorn": {"handlers": ["stderr"], "level": "WARNING"},
                              "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}}}
    if app is not None:
        server = uvicorn.Server(uvicorn.Config(app, log_config=log_config, access_log=False, proxy_headers=True))
        gc.freeze()  # the framework, the app and its models live as long as the process (see worker_app)
        server.run(sockets=[sock])
        return 0
    from uvicorn.supervisors import Multiprocess

    # each worker (a spawned process) builds the app from the same environment: worker_app()
    config = uvicorn.Config("pos_sync.api.app:worker_app", factory=True, workers=workers, log_config=log_config,
                            access_log=False, proxy_headers=True)
    Multiprocess(config, sockets=[sock]).run()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    api = subparsers.add_parser("api", help="the HTTP API", description="The service's HTTP API (FastAPI).")
    actions = api.add_subparsers(dest="api_command", metavar="ACTION", required=True)
    serve = actions.add_parser(
        "serve", help="serve the API on uvicorn",
        description="Serve the API. The first stdout line is {\"url\": \"http://HOST:PORT\"}; logs are JSON on "
                    "stderr. OpenAPI at /docs and /openapi.json; /healthz and /readyz need no credentials.")
    serve.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default: PORT, else 8013; 0: a free port)")
    serve.add_argument("--workers", type=int, default=None,
                       help="uvicorn worker processes sharing the socket (default: WEB_CONCURRENCY, else 1)")
    serve.set_defaults(func=_serve)

