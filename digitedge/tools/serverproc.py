"""`digitedge serve` as a child process on 127.0.0.1 and a free port: for the tests, the load test and the page
screenshot. Its stderr is collected (and echoed with `echo=True`) so callers can check what it logged."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

SERVING = re.compile(r"serving on (http://\S+)")
START_TIMEOUT_S = 60.0


class ServerProcess:
    def __init__(self, *args: str, env: dict | None = None, echo: bool = False):
        self.cmd = [sys.executable, "-m", "digitedge.cli", "serve", "--host", "127.0.0.1", "--port", "0", *args]
        self.env, self.echo = env, echo
        self.lines: list[str] = []
        self.url = ""
        self.proc: subprocess.Popen | None = None
        self._seen = threading.Event()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(self.cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                                     env={**os.environ, **(self.env or {})}, cwd=Path(__file__).resolve().parents[2])
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._seen.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop(signal.SIGKILL)
                raise RuntimeError(f"digitedge serve did not start ({' '.join(self.cmd[3:])}):\n{self.log}")
        return self

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)
            if self.echo:
                sys.stderr.write(line)
            m = SERVING.search(line)
            if m and not self.url:
                self.url = m[1].rstrip("/")
                self._seen.set()

    def pids(self) -> list[int]:
        """The supervisor and its workers (Linux /proc)."""
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *map(int, children)]

    def rss_mb(self) -> float:
        """Resident memory of the supervisor and all workers together, MB."""
        total = 0
        for pid in self.pids():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status)[1])
        return total / 1024

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the supervisor and wait; the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.wait(timeout)

    def wait(self, timeout: float) -> int:
        """The exit code, once the process has exited and everything it logged is in `log`."""
        code = self.proc.wait(timeout)
        self._reader.join(timeout)
        return code

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
