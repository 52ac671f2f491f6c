"""User-facing errors: each message is one line naming the file and the problem. The CLI prints it
without a traceback and exits 2 (a bad input inside a batch is one line and exit 1; see cli.py)."""


class DigitedgeError(Exception):
    """Base of every error a user can fix."""


class DataError(DigitedgeError):
    """MNIST files missing, corrupt or truncated; a labelled folder of digits that cannot be used."""


class CheckpointError(DigitedgeError):
    """A checkpoint that is missing, unreadable or not a SimpleCNN checkpoint."""


class ModelError(DigitedgeError):
    """An .onnx model that is missing, unreadable, lacks digitedge metadata or breaks the input/output contract."""


class InputError(DigitedgeError):
    """A file or value that cannot be read as the input it was given as (a FIFO, a device, too large...)."""


class OutputError(DigitedgeError):
    """An output that cannot be written where it was asked for (read-only, full disk, a file in the way...)."""
