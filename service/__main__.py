"""``jpsi-serve [--host H] [--port P] [--workers N]``: run the service under uvicorn.

Flags override the matching ``JPSI_*`` settings.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile

import uvicorn
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess

from service.logs import log_config
from service.metrics import MULTIPROC_ENV
from service.settings import Settings, settings_from_env


def app_factory():
    """Entry for uvicorn's ``--factory`` (every worker builds its app from the env)."""
    from service.app import create_app

    return create_app(settings_from_env())


def main(argv: list[str] | None = None) -> None:
    base = Settings()
    parser = argparse.ArgumentParser(prog="jpsi-serve", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=base.host, help=f"default {base.host} (JPSI_HOST)")
    parser.add_argument("--port", type=int, default=base.port, help=f"default {base.port}")
    parser.add_argument("--workers", type=int, default=base.workers, help="uvicorn workers")
    args = parser.parse_args(argv)
    # workers re-read the environment: pass the overrides on through it
    os.environ.update(JPSI_HOST=args.host, JPSI_PORT=str(args.port), JPSI_WORKERS=str(args.workers))
    settings = settings_from_env()
    metrics_dir = None
    if settings.workers > 1 and MULTIPROC_ENV not in os.environ:
        # shared metrics for all workers; a fresh directory, so no stale counts
        metrics_dir = os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="jpsi-metrics-")
    try:
        serve(settings)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)


class Supervisor(Multiprocess):
    """uvicorn's worker supervisor, letting go of the listening socket at shutdown.

    uvicorn's own keeps its copy open until every worker has drained, so the kernel
    queues new connections that no one accepts and resets them at exit. Closed once
    the workers are told to stop (each closes its own copy at once), the socket
    refuses new clients straight away: they can go elsewhere.
    """

    def terminate_all(self) -> None:
        super().terminate_all()
        for sock in self.sockets:
            sock.close()


def _exit_cleanly(signum, frame) -> None:
    raise SystemExit(0)


BACKLOG = 2048
"""Connections the kernel queues before accept (a burst waits there; capped by somaxconn)."""


def uvicorn_options(settings: Settings) -> dict:
    """What ``serve`` passes to ``uvicorn.Config`` besides the app."""
    return {
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_level": settings.log_level,
        "log_config": log_config(settings),
        # the service logs its own access lines (JPSI_ACCESS_LOG), with the request id
        "access_log": False,
        "loop": "uvloop",
        # httptools plus a deadline and a size cap on the request head, and a connection limit
        # that answers problem+json and lets probes through (service/http.py): uvicorn's own
        # limit_concurrency stays off
        "http": "service.http:GuardedHttpToolsProtocol",
        "timeout_keep_alive": settings.keep_alive_seconds,
        "limit_concurrency": None,
        "backlog": BACKLOG,
        "timeout_graceful_shutdown": 30,
    }


def serve(settings: Settings) -> None:
    """``uvicorn.run``'s dispatch, with the supervisor above and exit status 0 on SIGTERM."""
    config = uvicorn.Config(
        "service.__main__:app_factory", factory=True, **uvicorn_options(settings)
    )
    if config.workers > 1:
        Supervisor(config, sockets=[config.bind_socket()]).run()
        return
    server = uvicorn.Server(config)
    # having drained, uvicorn re-raises SIGTERM to die by it (status 143): exit 0
    # instead, as the multi-worker supervisor does
    signal.signal(signal.SIGTERM, _exit_cleanly)
    server.run()
    if not server.started:
        sys.exit(STARTUP_FAILURE)


if __name__ == "__main__":
    main()
