"""`digitedge serve` settings: one checked record, passed from the supervisor to every worker as JSON.

Standard library only: the supervisor imports it without loading onnxruntime, OpenCV or FastAPI.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from ..errors import DigitedgeError

# The runtime's own decode limit (digitedge.runtime.imageio.MAX_PIXELS, 67 MP; a test checks they agree): the
# server may only lower it. Kept here so checking the options does not load OpenCV.
RUNTIME_MAX_PIXELS = 1 << 26
CONFIG_ENV = "DIGITEDGE_SERVE_CONFIG"  # the settings, as JSON, from the supervisor to its workers
EXIT_RECYCLE = 75  # a worker leaving because one image kept it busy past --timeout: restart it, not a crash
TOKEN_CHARS = (0x21, 0x7E)  # visible ASCII: survives any HTTP header unchanged


class ConfigError(DigitedgeError):
    """An option out of range: printed as one line naming the option and its allowed range."""


# option: (low, high, unit shown in the message); inclusive.
RANGES = {
    "port": (0, 65535, ""),
    "workers": (1, 64, ""),
    "threads": (1, 64, ""),
    "queue": (1, 10_000, ""),
    "timeout": (0.1, 3600.0, " s"),
    "max_body_mb": (0.001, 200.0, " MB"),
    "max_pixels_mp": (0.01, RUNTIME_MAX_PIXELS / 1e6, " MP"),
}
FLAGS = {"max_body_mb": "--max-body-mb", "max_pixels_mp": "--max-pixels"}


@dataclass(frozen=True)
class ServeConfig:
    model: str | None = None  # .onnx path; None = the shipped int8 model
    host: str = "127.0.0.1"
    port: int = 8000  # 0 = any free port (printed at start)
    workers: int = 1  # processes, each with its own onnxruntime session
    token: str | None = None  # bearer token required on /v1/*; None = open
    threads: int = 1  # onnxruntime intra-op and OpenCV threads per worker
    queue: int = 32  # requests one worker holds (receiving, waiting, running) before answering 503
    timeout: float = 10.0  # seconds from arrival to answer; the body must arrive within it too
    max_body_mb: float = 10.0
    max_pixels_mp: float = 50.0  # a 50 MP phone photo passes; decoding one takes ~150 MB
    access_log: bool = False

    @property
    def max_body(self) -> int:
        return int(self.max_body_mb * 1e6)

    @property
    def max_pixels(self) -> int:
        return int(self.max_pixels_mp * 1e6)

    def check(self) -> ServeConfig:
        """Raise ConfigError naming the first bad option and its allowed range; return self."""
        for name, (low, high, unit) in RANGES.items():
            value = getattr(self, name)
            whole = isinstance(low, int)
            flag = FLAGS.get(name, "--" + name.replace("_", "-"))
            kinds = (int,) if whole else (int, float)
            if isinstance(value, bool) or not isinstance(value, kinds) or not low <= value <= high:
                what = "a whole number" if whole else "a number"
                raise ConfigError(f"{flag} must be {what} in {low:g}..{high:g}{unit}, got {value!r}")
        if not self.host.strip():
            raise ConfigError("--host must name an address, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (all)")
        if self.token is not None:
            low, high = TOKEN_CHARS
            if not 8 <= len(self.token) <= 1024 or any(not low <= ord(c) <= high for c in self.token):
                raise ConfigError("--token must be 8..1024 visible ASCII characters (no spaces), "
                                  f"got {len(self.token)} character(s)")
        return self

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServeConfig:
        return cls(**json.loads(text)).check()
