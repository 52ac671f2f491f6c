"""User-facing errors: each message is one line naming the file and the problem. The CLI prints it
without a traceback and exits 2."""


class DigitedgeError(Exception):
    """Base of every error a user can fix."""


class DataError(DigitedgeError):
    """MNIST files missing, corrupt or truncated."""


class CheckpointError(DigitedgeError):
    """A checkpoint that is missing, unreadable or not a SimpleCNN checkpoint."""


class ModelError(DigitedgeError):
    """An .onnx model that is missing, unreadable or lacks digitedge metadata."""
