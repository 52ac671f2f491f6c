"""`digitedge VERB ...`: one short function per stage; each checks its arguments and calls the library.

Imports are lazy so `classify` and `live` start without loading torch or matplotlib.
"""

from __future__ import annotations

import argparse
import difflib
import os
import signal
import sys
import traceback

from . import __version__
from .errors import DigitedgeError
from .files import shown
from .options import file_stem, number, whole

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
MAX_THREADS = 256  # = runtime.model.MAX_THREADS (not imported: that would load onnxruntime for `train --help`)
MNIST_TRAIN, MNIST_VAL = 60_000, 5_000
OPSETS = (18, 25)  # the dynamo exporter's lowest; the highest this onnxruntime loads (checked in the tests)
CALIB_MIN = 50  # one calibration batch
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "seed", "data_dir", "device")  # flags that map onto TrainConfig


class UserError(DigitedgeError):
    """A mistake the user can fix: printed as one line, exit code 2."""


def cmd_train(a):
    from .training.config import TrainConfig
    from .training.train import train

    if a.resume:
        given = [k for k in TRAIN_FLAGS if getattr(a, k) is not None]
        if given:
            raise UserError(f"--resume continues a run with its saved config; drop {', '.join('--' + g.replace('_', '-') for g in given)}")
        train(resume=a.resume)
        return EXIT_OK
    overrides = {k: getattr(a, k) for k in TRAIN_FLAGS if getattr(a, k) is not None}
    if a.subset is not None:
        overrides["limit"] = a.subset
    if a.no_augment:
        overrides["augment"] = False
    train(TrainConfig(**overrides), out=a.out)
    return EXIT_OK


def cmd_evaluate(a):
    if a.real or a.synth:
        if a.real:
            from .tools.realeval import evaluate_real

            evaluate_real(a.real, model=a.model, out=a.out)
        if a.synth:
            from .tools.syntheval import evaluate_synth

            evaluate_synth(a.synth, model=a.model, data_dir=a.data_dir)
        return EXIT_OK
    if not a.model:
        raise UserError("evaluate needs MODEL (a .pt checkpoint or .onnx file), or --real DIR / --synth N")
    from .training.evaluate import evaluate

    evaluate(a.model, out=a.out, data_dir=a.data_dir)
    return EXIT_OK


def cmd_export(a):
    from .export.exporter import export

    ok = export(a.checkpoint, out=a.out, quantize=a.quantize, opset=a.opset, calib=a.calib, check=not a.no_check,
                data_dir=a.data_dir, calib_method=a.calib_method, name=a.name)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_classify(a):
    from .runtime.classify import classify_paths

    return classify_paths(a.paths, model=a.model, fmt=a.format, save=a.save, threshold=a.conf, threads=a.threads)


def cmd_live(a):
    from .runtime.live import run_live

    return run_live(a.source, model=a.model, save=a.save, display=not a.no_display, threads=a.threads, fmt=a.format)


def cmd_bench(a):
    from .tools.bench import run_bench

    return run_bench(model=a.model, threads=a.threads, seconds=a.seconds, fmt=a.format, data_dir=a.data_dir,
                     checkpoint=a.checkpoint)


def cmd_serve(a):
    from .serve.config import ServeConfig
    from .serve.supervisor import serve

    return serve(ServeConfig(model=a.model, host=a.host, port=a.port, workers=a.workers,
                             token=a.token or os.environ.get("DIGITEDGE_TOKEN") or None, threads=a.threads,
                             queue=a.queue, timeout=a.timeout, max_body_mb=a.max_body_mb,
                             max_pixels_mp=a.max_pixels, access_log=a.access_log))


class Parser(argparse.ArgumentParser):
    """No prefix matching, so a typo is an error with a suggestion, never a guess; an error is one line."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {shown(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="digitedge", description="Handwritten digits from MNIST training to int8 ONNX at the edge.",
                                allow_abbrev=False)
    p.add_argument("--version", action="version", version=f"digitedge {__version__}")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)

    t = sub.add_parser("train", help="train SimpleCNN on MNIST and write the report")
    t.add_argument("--epochs", type=whole(1, 1000))
    t.add_argument("--batch-size", type=whole(1, 8192))
    t.add_argument("--lr", type=number(0, 1, lo_open=True), help="peak learning rate, in (0, 1]")
    t.add_argument("--seed", type=whole(0, 2**32 - 1))
    t.add_argument("--device", choices=["auto", "cpu", "cuda"])
    t.add_argument("--data-dir", help="MNIST folder (default $DIGITEDGE_DATA, else the user cache; downloaded if missing)")
    t.add_argument("--out", default="runs/train", help="parent of the run folders (default runs/train)")
    t.add_argument("--resume", metavar="RUN", help="continue an interrupted run folder (or its last.pt)")
    t.add_argument("--subset", type=whole(1, MNIST_TRAIN - MNIST_VAL), metavar="N", help="train on only N images (smoke runs)")
    t.add_argument("--no-augment", action="store_true", help="train on clean images only")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="MNIST test accuracy and report for a .pt or .onnx, or --real DIR")
    e.add_argument("model", nargs="?", help="checkpoint (.pt) or model (.onnx)")
    e.add_argument("--out", help="report folder (default: a new runs/evaluate/expN)")
    e.add_argument("--data-dir")
    e.add_argument("--real", metavar="DIR", help="evaluate the runtime on a realdigits folder (labels.csv)")
    e.add_argument("--synth", type=whole(1, 100_000), metavar="N", help="evaluate the runtime on N camera-style frames from MNIST test")
    e.set_defaults(func=cmd_evaluate)

    x = sub.add_parser("export", help="checkpoint -> ONNX (fp32, and int8 with --quantize), parity-checked")
    x.add_argument("checkpoint", nargs="?", help="default: the newest run's best.pt")
    x.add_argument("--quantize", action="store_true", help="also write a static int8 (QDQ) model")
    x.add_argument("--out", help="output folder (default: the checkpoint's folder)")
    x.add_argument("--name", type=file_stem, help="file stem (default: the checkpoint's, e.g. best -> best.onnx)")
    x.add_argument("--opset", type=whole(*OPSETS), default=18, help="ONNX opset, 18 (the dynamo exporter's lowest) to 25")
    x.add_argument("--calib", type=whole(CALIB_MIN, MNIST_TRAIN), default=2000,
                   help=f"training images used for int8 calibration ({CALIB_MIN} to {MNIST_TRAIN})")
    x.add_argument("--calib-method", default="minmax", choices=["minmax", "entropy", "percentile"])
    x.add_argument("--no-check", action="store_true", help="skip the parity checks")
    x.add_argument("--data-dir")
    x.set_defaults(func=cmd_export)

    c = sub.add_parser("classify", help="read the digits in images, folders or globs")
    c.add_argument("paths", nargs="+", metavar="PATH")
    c.add_argument("--model", help="an .onnx model (default: the shipped int8 model)")
    c.add_argument("--format", choices=["table", "json"], default="table")
    c.add_argument("--save", metavar="DIR", help="write annotated copies here")
    c.add_argument("--conf", type=number(0, 1), help="reject digits below this confidence, in [0, 1] (default 0.5)")
    c.add_argument("--threads", type=whole(1, MAX_THREADS))
    c.set_defaults(func=cmd_classify)

    lv = sub.add_parser("live", help="read digits live from a camera, video file or stream")
    lv.add_argument("--source", default="0", help="camera index, video file or stream URL (default 0)")
    lv.add_argument("--model")
    lv.add_argument("--save", metavar="OUT.mp4")
    lv.add_argument("--no-display", action="store_true", help="no window; JSON Lines on stdout")
    lv.add_argument("--format", choices=["table", "json"], default=None, help="json: JSON Lines also with a window")
    lv.add_argument("--threads", type=whole(1, MAX_THREADS))
    lv.set_defaults(func=cmd_live)

    b = sub.add_parser("bench", help="CPU latency and throughput of every installed backend, side by side")
    b.add_argument("--model", help="fp32 .onnx (its .int8.onnx twin is benchmarked too); default: shipped")
    b.add_argument("--checkpoint", help="the .pt the model came from, for the PyTorch row (default: found by sha256)")
    b.add_argument("--threads", type=whole(1, MAX_THREADS), help="'all cores' thread count (default: os.cpu_count())")
    b.add_argument("--seconds", type=number(0, 600, lo_open=True), default=2.0, help="time budget per measurement, in (0, 600]")
    b.add_argument("--format", choices=["table", "json"], default="table")
    b.add_argument("--data-dir")
    b.set_defaults(func=cmd_bench)

    v = sub.add_parser("serve", help="HTTP API and camera web page (pip install 'digitedge[serve]')")
    v.add_argument("--model", help="an .onnx model (default: the shipped int8 model)")
    v.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    v.add_argument("--port", type=int, default=8000, help="default 8000; 0 picks a free one")
    v.add_argument("--workers", type=int, default=1, help="inference processes, one core each (default 1)")
    v.add_argument("--token", help="require 'Authorization: Bearer TOKEN' on /v1/* (or set $DIGITEDGE_TOKEN)")
    v.add_argument("--threads", type=int, default=1, help="onnxruntime and OpenCV threads per worker (default 1)")
    v.add_argument("--queue", type=int, default=32, help="requests a worker holds before answering 503 (default 32)")
    v.add_argument("--timeout", type=float, default=10.0, help="seconds per request, body included (default 10)")
    v.add_argument("--max-body-mb", type=float, default=10.0, help="request size limit in MB (default 10)")
    v.add_argument("--max-pixels", type=float, default=50.0, help="image size limit in megapixels (default 50)")
    v.add_argument("--access-log", action="store_true", help="log every request")
    v.set_defaults(func=cmd_serve)
    return p


def parse(argv, parser):
    """argparse, plus a 'did you mean' for unknown options instead of a bare error."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        verb = sub_parser(parser, args.verb)
        options = [o for action in verb._actions for o in action.option_strings] if verb else []
        hints = [difflib.get_close_matches(u.split("=")[0], options, n=1) for u in unknown]
        hint = "; ".join(f"{u} (did you mean {h[0]}?)" if h else u for u, h in zip(unknown, hints))
        (verb or parser).error(f"unrecognised arguments: {hint}")
    return args


def sub_parser(parser, verb):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(verb)
    return None


def main(argv=None) -> int:
    parser = build_parser()
    try:
        args = parse(sys.argv[1:] if argv is None else argv, parser)
    except SystemExit as e:  # --help, --version, or a usage error already printed as one line
        return e.code
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USAGE
    previous = signal.signal(signal.SIGTERM, interrupt) if argv is None else None  # finally blocks clean up
    try:
        return finish(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `digitedge classify ... | head`: the reader left; say nothing more
        quiet_stdout()
        return EXIT_FAILED
    except DigitedgeError as e:
        print(f"digitedge {args.verb}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as e:  # a write the library did not expect to fail: stdout on a full disk, a file vanishing
        what = shown(e.filename) if e.filename else "standard output"  # file writes all name their file
        print(f"digitedge {args.verb}: error: {what}: {e.strerror or e}", file=sys.stderr)
        quiet_stdout()
        return EXIT_FAILED
    except Exception as e:  # a bug: one line, and the traceback when asked for
        if os.environ.get("DIGITEDGE_DEBUG"):
            traceback.print_exc()
        print(f"digitedge {args.verb}: internal error: {e.__class__.__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''} "
              "(a bug: please report it; DIGITEDGE_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def interrupt(signum, frame):
    raise KeyboardInterrupt


def finish(code: int) -> int:
    """Flush stdout now, so a full disk or a closed pipe is reported here rather than at interpreter exit."""
    sys.stdout.flush()
    return code


def quiet_stdout() -> None:
    """Point stdout at /dev/null: what is still buffered cannot be written, and Python would say so at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
