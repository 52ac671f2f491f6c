"""One worker process: loads the model, then serves the app with uvicorn on a listening socket it inherited.

    python -m digitedge.serve.worker SOCKET_FD READY_FD     (started by the supervisor, never by hand)

The settings come as JSON in $DIGITEDGE_SERVE_CONFIG (not argv: the token would show in `ps`). READY_FD gets
one line, "ready" or "error: ...", so the supervisor can report a bad model instead of a dead worker.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import threading
import time

import uvicorn

from ..errors import DigitedgeError
from .app import create_app
from .config import CONFIG_ENV, EXIT_RECYCLE, ServeConfig
from .inference import Engine

WATCH_S = 0.5
log = logging.getLogger("digitedge.serve")


def watchdog(server: uvicorn.Server, engine: Engine, parent: int) -> None:
    """Shut down like on SIGTERM when the supervisor died (SIGKILL, OOM) rather than serve forever; and when one
    image has kept the inference thread past --timeout. A running thread cannot be stopped, and the digit
    finder's time grows with the number of marks on an image (a 3 MP page of 1,000 digits takes seconds):
    such a worker leaves once its other requests have had their 503s, and the supervisor starts a fresh one."""
    while not server.should_exit:
        if os.getppid() != parent:
            server.should_exit = True
        elif engine.busy_for() > engine.cfg.timeout:
            log.error("digitedge serve: worker pid %d: one image has taken over --timeout %g s; restarting this "
                      "worker", os.getpid(), engine.cfg.timeout)
            engine.stuck = server.should_exit = True
        time.sleep(WATCH_S)


def main(argv: list[str]) -> int:
    sock_fd, ready_fd = int(argv[0]), int(argv[1])
    cfg = ServeConfig.from_json(os.environ.pop(CONFIG_ENV))
    logging.basicConfig(format="%(message)s", level=logging.INFO)
    with os.fdopen(ready_fd, "w") as ready:
        try:
            engine = Engine(cfg)
            app = create_app(cfg, engine)
        except DigitedgeError as e:
            ready.write(f"error: {e}\n")
            return 2
        ready.write("ready\n")
    server = uvicorn.Server(uvicorn.Config(
        # uvicorn's access lines are INFO: quiet unless asked for (an SD card on a Pi fills up).
        app, log_level="info" if cfg.access_log else "warning", access_log=cfg.access_log, server_header=False, lifespan="off",
        # In-flight requests are bounded by --timeout, so SIGTERM waits for them that long and a little more.
        timeout_graceful_shutdown=cfg.timeout + 2, timeout_keep_alive=5))
    threading.Thread(target=watchdog, args=(server, engine, os.getppid()), daemon=True).start()
    server.run(sockets=[socket.socket(fileno=sock_fd)])
    if engine.stuck:
        os._exit(EXIT_RECYCLE)  # not sys.exit: that would wait for the busy inference thread
    engine.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
