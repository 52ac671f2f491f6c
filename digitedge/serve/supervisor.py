"""`digitedge serve`: binds the port, starts the worker processes, forwards SIGTERM/SIGINT, restarts a crashed one.

Why processes, each with its own listening socket: the digit finder is Python and numpy between OpenCV calls,
so threads in one process share one core's worth of GIL. On Linux every worker gets its own SO_REUSEPORT
socket and the kernel spreads connections across them; with one shared socket whichever process wakes first
accepts every connection waiting (asyncio loops on accept() up to the listen backlog) and can leave another idle.

Standard library only: this process never loads onnxruntime, OpenCV or FastAPI.
"""

from __future__ import annotations

import errno
import importlib.util
import ipaddress
import os
import select
import signal
import socket
import subprocess
import sys
import time

from .config import CONFIG_ENV, EXIT_RECYCLE, ConfigError, ServeConfig

REUSEPORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")  # balanced only on Linux
BACKLOG = 1024
READY_TIMEOUT_S = 120.0
MAX_RESTARTS, RESTART_WINDOW_S = 5, 60.0  # more crashes than this in the window: give up, exit 1
NEEDS = ("fastapi", "uvicorn", "multipart")


def say(message: str) -> None:
    print(f"digitedge serve: {message}", file=sys.stderr, flush=True)


def resolve(host: str, port: int) -> tuple[int, tuple]:
    try:
        family, _, _, _, addr = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(f"--host {host}: cannot resolve it ({e})") from None
    return family, addr


def bind(family: int, addr: tuple, reuseport: bool) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart at once past TIME_WAIT connections
        if reuseport:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(addr)
        sock.listen(BACKLOG)
    except OSError as e:
        sock.close()
        where = f"{addr[0]}:{addr[1]}"
        raise ConfigError({errno.EADDRINUSE: f"{where} is already in use; stop the other server or pick another --port",
                           errno.EACCES: f"{where}: ports below 1024 need root; pick another --port",
                           errno.EADDRNOTAVAIL: f"{where}: no network interface has that address (--host)"}
                          .get(e.errno, f"cannot listen on {where}: {e.strerror}")) from None
    sock.set_inheritable(True)
    return sock


def url(host: str, port: int) -> str:
    return f"http://{'[' + host + ']' if ':' in host else host}:{port}/"


def check_installed() -> None:
    missing = [m for m in NEEDS if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(f"serve needs {', '.join(missing)}: pip install 'digitedge[serve]'")


class Supervisor:
    def __init__(self, cfg: ServeConfig):
        self.cfg = cfg
        self.workers: list[subprocess.Popen] = []
        self.stop_signal: int | None = None

    # ------------------------------------------------------------ sockets and workers
    def listen(self) -> list[socket.socket]:
        family, addr = resolve(self.cfg.host, self.cfg.port)
        self.family, self.addr = family, addr
        if REUSEPORT and self.cfg.port:
            # A plain bind first: SO_REUSEPORT alone would silently share the port with another server of ours.
            bind(family, addr, reuseport=False).close()
        first = bind(family, addr, reuseport=REUSEPORT)
        self.addr = (addr[0], first.getsockname()[1], *addr[2:])  # --port 0: the port the kernel picked
        if not REUSEPORT:
            return [first] * self.cfg.workers
        return [first] + [bind(family, self.addr, reuseport=True) for _ in range(self.cfg.workers - 1)]

    def start(self, sock: socket.socket) -> tuple[subprocess.Popen, int]:
        ready_r, ready_w = os.pipe()
        env = {**os.environ, CONFIG_ENV: self.cfg.to_json()}
        # Own session: a terminal's Ctrl-C reaches the supervisor only, which forwards it once to every worker.
        proc = subprocess.Popen([sys.executable, "-m", "digitedge.serve.worker", str(sock.fileno()), str(ready_w)],
                                pass_fds=(sock.fileno(), ready_w), env=env, start_new_session=True)
        os.close(ready_w)
        return proc, ready_r

    def wait_ready(self, ready_r: int, proc: subprocess.Popen) -> str | None:
        """None when the worker is serving, else the reason it is not."""
        with os.fdopen(ready_r) as ready:
            if not select.select([ready], [], [], READY_TIMEOUT_S)[0]:
                proc.kill()
                return f"a worker did not load the model within {READY_TIMEOUT_S:.0f} s"
            line = ready.readline().strip()
        if line == "ready":
            return None
        proc.wait()
        return line.removeprefix("error: ") or f"a worker exited while starting ({describe(proc.returncode)})"

    def spawn_all(self, socks: list[socket.socket]) -> str | None:
        started = []
        for s in socks:  # appended one by one: a signal meanwhile reaches every worker already started
            started.append(self.start(s))
            self.workers.append(started[-1][0])
        if REUSEPORT:  # the workers hold the sockets now; a copy here would keep queueing after they stop
            for s in socks:
                s.close()
        problems = [self.wait_ready(r, p) for p, r in started]
        return next((p for p in problems if p), None)

    def respawn(self, i: int) -> str | None:
        sock = bind(self.family, self.addr, reuseport=True) if REUSEPORT else self.shared
        proc, ready_r = self.start(sock)
        if REUSEPORT:
            sock.close()
        self.workers[i] = proc
        return self.wait_ready(ready_r, proc)

    # ------------------------------------------------------------ signals
    def on_signal(self, sig, frame) -> None:
        first = self.stop_signal is None
        self.stop_signal = sig
        if first:
            say(f"{signal.Signals(sig).name}: finishing the requests in flight, then stopping")
        if not REUSEPORT and first:
            self.shared.close()
        for p in self.workers:
            if p.poll() is None:
                os.kill(p.pid, sig)  # a second Ctrl-C is forwarded too: uvicorn then stops without waiting

    # ------------------------------------------------------------ main loop
    def run(self) -> int:
        check_installed()
        socks = self.listen()
        self.shared = socks[0]
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self.on_signal)
        problem = self.spawn_all(socks)
        if problem or self.stop_signal is not None:
            self.stop_all()
            if self.stop_signal is not None:  # stopped while starting: not an error
                return 0
            raise ConfigError(problem)
        self.announce()
        crashes: list[float] = []
        while self.stop_signal is None:
            for i, p in enumerate(self.workers):
                if p.poll() is not None and self.stop_signal is None:
                    if p.returncode != EXIT_RECYCLE:  # a planned restart (see worker.watchdog) is no crash
                        now = time.monotonic()
                        crashes = [t for t in crashes if now - t < RESTART_WINDOW_S] + [now]
                        if len(crashes) > MAX_RESTARTS:
                            say(f"workers keep exiting ({len(crashes)} in {RESTART_WINDOW_S:.0f} s): stopping")
                            self.stop_all()
                            return 1
                        say(f"worker {i + 1} (pid {p.pid}) exited ({describe(p.returncode)}); starting another")
                    problem = self.respawn(i)
                    if problem:
                        say(f"cannot restart worker {i + 1}: {problem}")
            time.sleep(0.2)
        self.wait_all()
        say("stopped")
        return 0

    def announce(self) -> None:
        cfg, (host, port) = self.cfg, self.addr[:2]
        if not ipaddress.ip_address(host.split("%")[0]).is_loopback:  # before the "serving on" line callers wait for
            say(f"warning: listening on {host}, reachable from other machines"
                + ("" if cfg.token else "; anyone who reaches it can use the API: consider --token")
                + ". Browsers open the camera only over HTTPS or on localhost; picking a file works anywhere")
        say(f"serving on {url(host, port)} ({cfg.workers} worker(s) x {cfg.threads} thread(s), "
            f"model {cfg.model or 'shipped int8'}, queue {cfg.queue} per worker, "
            f"{'bearer token required' if cfg.token else 'no token'}); Ctrl-C stops")

    def wait_all(self) -> None:
        """Workers finish their requests within --timeout; one that does not stop well after that is killed."""
        deadline = time.monotonic() + self.cfg.timeout + 10
        for p in self.workers:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                say(f"worker pid {p.pid} did not stop; killing it")
                p.kill()
                p.wait()

    def stop_all(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                p.terminate()
        self.wait_all()


def describe(code: int | None) -> str:
    if code is not None and code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def serve(cfg: ServeConfig) -> int:
    return Supervisor(cfg.check()).run()
