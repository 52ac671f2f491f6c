"""Signal handlers for the length of a `with` block, put back after it. Python runs handlers in the main thread
only: elsewhere the block runs under the process's handlers as they are."""

from __future__ import annotations

import contextlib
import signal
import threading


@contextlib.contextmanager
def handling(signals, handler):
    """`handler` (a function, or signal.SIG_IGN) for each of `signals` inside the block."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in signals}
    try:
        yield
    finally:
        for sig, before in previous.items():
            signal.signal(sig, before)


def raise_interrupt(signum, frame):
    """A handler that ends the run like Ctrl-C (SIGTERM from systemd, docker or kill), so `finally` blocks run."""
    raise KeyboardInterrupt
