"""`digitedge VERB ...`: one short function per stage; each checks its arguments and calls the library.

Imports are lazy so `classify` and `live` start without loading torch or matplotlib.
"""

from __future__ import annotations

import argparse
import difflib
import logging
import os
import signal
import sys
import traceback

from . import __version__
from .errors import DigitedgeError
from .files import shown
from .options import file_stem, number, whole
from .signals import raise_interrupt
from .training.config import FINETUNE_USER_PER_EPOCH, TrainConfig

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
MAX_THREADS = 256  # = runtime.model.MAX_THREADS (not imported: that would load onnxruntime for `train --help`)
DEVICES = ("cpu", "cuda", "openvino", "auto")  # = runtime.model.DEVICES, likewise
MNIST_TRAIN, MNIST_VAL = 60_000, 5_000
OPSETS = (18, 25)  # the dynamo exporter's lowest; the highest this onnxruntime loads (checked in the tests)
CALIB_MIN = 50  # one calibration batch
TRAIN_FLAGS = ("epochs", "batch_size", "lr", "seed", "data_dir", "device", "scenes", "glyphs", "junk", "data", "weights",
               "mix", "holdout")  # onto TrainConfig


class UserError(DigitedgeError):
    """A mistake the user can fix: printed as one line, exit code 2."""


def say(a):
    """Where a verb's progress and summary lines go: print, or nowhere with -q (results and errors still show)."""
    return (lambda *args, **kwargs: None) if a.quiet else print


def cmd_train(a):
    from .training.config import TrainConfig
    from .training.train import train

    if a.resume:
        given = [k for k in TRAIN_FLAGS if getattr(a, k) is not None]
        if given:
            raise UserError(f"--resume continues a run with its saved config; drop {', '.join('--' + g.replace('_', '-') for g in given)}")
        train(resume=a.resume, log=say(a))
        return EXIT_OK
    alone = [f"--{k}" for k in ("mix", "holdout") if getattr(a, k) is not None]
    if alone and not a.data:
        raise UserError(f"{' and '.join(alone)} shape{'s' if len(alone) == 1 else ''} a fine-tune on your digits: "
                        "add --data DIR")
    overrides = {k: getattr(a, k) for k in TRAIN_FLAGS if getattr(a, k) is not None}
    if a.subset is not None:
        overrides["limit"] = a.subset
    if a.no_augment:
        overrides["augment"] = False
    train(TrainConfig.finetune(**overrides) if a.data else TrainConfig(**overrides), out=a.out, log=say(a))
    return EXIT_OK


def cmd_evaluate(a):
    if a.real or a.synth:
        if a.real:
            from .tools.realeval import evaluate_real

            evaluate_real(a.real, model=a.model, out=a.out, log=say(a))
        if a.synth:
            from .tools.syntheval import evaluate_synth

            evaluate_synth(a.synth, model=a.model, data_dir=a.data_dir, log=say(a))
        return EXIT_OK
    from .training.evaluate import evaluate

    evaluate(a.model, out=a.out, data_dir=a.data_dir, log=say(a))
    return EXIT_OK


def cmd_export(a):
    from .export.exporter import export

    ok = export(a.checkpoint, out=a.out, quantize=a.quantize, opset=a.opset, calib=a.calib, check=not a.no_check,
                data_dir=a.data_dir, calib_method=a.calib_method, name=a.name, log=say(a))
    return EXIT_OK if ok else EXIT_FAILED


def cmd_classify(a):
    from .runtime.classify import classify
    from .runtime.model import shipped_samples

    sources = a.sources + ([str(shipped_samples())] if a.samples else [])
    if not sources:
        raise UserError("classify needs a SOURCE (an image, folder, glob, video, camera index or URL) or --samples")
    if a.ray_address and a.engine != "ray":
        raise UserError("--ray-address joins a Ray cluster: add --engine ray")
    if a.out:
        from .runtime.archive import read_archive

        made = [f for f, on in (("--save", a.save), ("--save-crops", a.save_crops)) if on]
        if made:
            raise UserError(f"--out reads an archive into records; {' and '.join(made)} (files per image) "
                            "are made without --out")
        return read_archive(sources, a.out, model=a.model, threshold=a.conf, device=a.device, threads=a.threads,
                            workers=a.workers, resume=a.resume, engine=a.engine, ray_address=a.ray_address,
                            quiet=a.quiet)
    given = [f for f, on in (("--resume", a.resume), ("--workers", a.workers), ("--engine ray", a.engine == "ray")) if on]
    if given:
        raise UserError(f"{', '.join(given)} go{'es' if len(given) == 1 else ''} with --out (records to a file)")
    return classify(sources, model=a.model, fmt=a.format, save=a.save, threshold=a.conf, threads=a.threads,
                    device=a.device, vid_stride=a.vid_stride, quiet=a.quiet, save_crops=a.save_crops)


def cmd_live(a):
    from .runtime.live import live

    return live(a.source, model=a.model, save=a.save, display=not a.no_display, threads=a.threads, fmt=a.format,
                device=a.device, quiet=a.quiet)


def cmd_bench(a):
    from .tools.bench import run_bench

    return run_bench(model=a.model, threads=a.threads, seconds=a.seconds, fmt=a.format, data_dir=a.data_dir,
                     checkpoint=a.checkpoint, goals=a.goals)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Examples kept as written; every option's default shown: a flag is 'off', an option whose default is not a
    plain value says it in its own help text (a test checks that every option does one or the other)."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not action.option_strings or "default" in text or action.default is argparse.SUPPRESS:
            return text
        if action.nargs == 0:
            return f"{text} (default: off)"
        return text if action.default is None else f"{text} (default: %(default)s)"


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
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {shown(message)} (see {self.prog} --help)\n")


def examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


DATA_HELP = "MNIST folder (default: $DIGITEDGE_DATA, else ~/.cache/digitedge/mnist, downloaded there if missing)"
MODEL_HELP = "an .onnx model (default: the shipped int8 model); a .pt checkpoint is refused: export it first"
DEVICE_HELP = ("onnxruntime execution provider: cpu, cuda (onnxruntime-gpu), openvino (onnxruntime-openvino), or auto "
               "(cuda when this onnxruntime has it, else cpu)")
THREADS_HELP = "threads for onnxruntime and OpenCV (default: 1 for onnxruntime, all cores for OpenCV)"
KEYS = "window keys: q or Esc quit, space pause/resume, s save a snapshot (live_snapshot.png, beside --save or here)"


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="digitedge", description="Handwritten digits from MNIST training to int8 ONNX at the edge.",
               epilog=examples("digitedge classify --samples", "digitedge live --source 0",
                               "digitedge <verb> --help      # each verb's options and examples"))
    p.add_argument("--version", action="version", version=f"digitedge {__version__}")
    common = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    talk = common.add_mutually_exclusive_group()
    talk.add_argument("-q", "--quiet", action="store_true", help="only results and errors: no progress or summary lines")
    talk.add_argument("-v", "--verbose", action="store_true", help="also debug lines (model, provider, source) and the "
                      "traceback of an internal error")
    sub = p.add_subparsers(dest="verb", metavar="VERB", parser_class=Parser)

    def verb(name, help, *lines):
        return sub.add_parser(name, help=help, description=help[0].upper() + help[1:] + ".", parents=[common],
                              epilog=examples(*lines))

    t = verb("train", "train SimpleCNN on MNIST, or fine-tune it on your own digits (--data), and write the report",
             "digitedge train                                   # 30 epochs, ~9 min on 2 cores, >= 99.6 %",
             "digitedge train --epochs 5 --batch-size 256 --lr 3e-3 --seed 1",
             "digitedge train --subset 3000 --epochs 2 --scenes 0 # a smoke run on MNIST alone",
             "digitedge train --data mydigits                   # fine-tune the shipped model on mydigits/<label>/*.png",
             "digitedge train --data mydigits --data forms --weights runs/train/exp/best.pt --mix 5",
             "digitedge train --resume runs/train/exp3          # continue after Ctrl-C")
    d, f = TrainConfig(), TrainConfig.finetune()  # stdlib only: the defaults shown are the ones training uses
    t.add_argument("--epochs", type=whole(1, 1000), help=f"passes over the training split (default: {d.epochs}; with --data "
                   f"{f.epochs}, each {FINETUNE_USER_PER_EPOCH} of your digits and --mix times as many MNIST images)")
    t.add_argument("--batch-size", type=whole(1, 8192), help=f"images per optimiser step (default: {d.batch_size})")
    t.add_argument("--lr", type=number(0, 1, lo_open=True), help=f"peak learning rate, in (0, 1] (default: {d.lr:g}; "
                   f"with --data {f.lr:g})")
    t.add_argument("--seed", type=whole(0, 2**32 - 1), help=f"random seed: the same seed repeats a run (default: {d.seed})")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], help=f"PyTorch device (default: {d.device}: CUDA when present)")
    t.add_argument("--data-dir", help=DATA_HELP)
    t.add_argument("--out", default="runs/train", help="parent of the run folders exp, exp2, ...")
    t.add_argument("--resume", metavar="RUN", help="continue an interrupted run folder (or its last.pt) (default: a new run)")
    t.add_argument("--subset", type=whole(1, MNIST_TRAIN - MNIST_VAL), metavar="N",
                   help=f"train on only N images, for smoke runs (default: all {MNIST_TRAIN - MNIST_VAL:,})")
    t.add_argument("--no-augment", action="store_true", help="train on clean images only")
    t.add_argument("--scenes", type=whole(0, 1_000_000), metavar="N",
                   help=f"generated scenes whose digit-finder crops join training, 0 = MNIST only (default: {d.scenes}; "
                        f"with --data {f.scenes}; the first run with a new finder spends minutes on them, then they are cached)")
    t.add_argument("--glyphs", type=whole(0, 1_000_000), metavar="N",
                   help=f"stroke-drawn digits in styles MNIST lacks: flagged 1, crossed 7, ... (default: {d.glyphs}; "
                        f"with --data {f.glyphs})")
    t.add_argument("--junk", type=whole(0, 1_000_000), metavar="N",
                   help=f"letters and touching pairs the model learns to reject (default: {d.junk}; with --data {f.junk})")
    yours = t.add_argument_group("your own digits (a fine-tune)", "a labelled folder is DIR/<label>/*.png (labels 0-9, "
                                 "and reject for what is not a digit) or DIR/labels.csv (file,label);\nan entry is a 28x28 "
                                 "crop (as classify --save-crops writes them) or a photo of one digit")
    yours.add_argument("--data", action="append", metavar="DIR", help="a labelled folder of your digits; repeat for more "
                       "(default: none: MNIST training)")
    yours.add_argument("--weights", metavar="MODEL", help="start from this checkpoint or digitedge fp32 .onnx (an .int8.onnx: "
                       "its fp32 twin) (default: random; with --data the shipped model)")
    yours.add_argument("--mix", type=number(0, 100), metavar="R", help=f"MNIST and extra images per one of your digits in "
                       f"each epoch, so MNIST accuracy holds; 0 = yours alone (default: {d.mix:g})")
    yours.add_argument("--holdout", type=number(0, 0.9), metavar="SHARE", help=f"share of your digits (per label) held out "
                       f"for validation and the data_val/ report, in [0, 0.9] (default: {d.holdout:g})")
    t.set_defaults(func=cmd_train)

    e = verb("evaluate", "MNIST test accuracy and report for a .pt or .onnx, or the runtime on --real / --synth data",
             "digitedge evaluate                                 # the shipped int8 model",
             "digitedge evaluate runs/train/exp/best.pt --out runs/evaluate/best",
             "digitedge evaluate --real ../shared/realdigits      # photos, pages, USPS/Semeion/sklearn probes",
             "digitedge evaluate runs/train/exp/best.int8.onnx --real mydigits   # your own digits, DIR/<label>/",
             "digitedge evaluate --synth 200                     # camera-style frames from MNIST test")
    e.add_argument("model", nargs="?", metavar="MODEL",
                   help="a checkpoint (.pt, told by its content) or an .onnx model (default: the shipped int8 model)")
    e.add_argument("--out", help="report folder (default: a new runs/evaluate/expN)")
    e.add_argument("--data-dir", help=DATA_HELP)
    e.add_argument("--real", metavar="DIR", help="evaluate the runtime on a folder with labels.csv (file,label), or on "
                   "your own digits in DIR/<label>/ as train --data reads them (default: off)")
    e.add_argument("--synth", type=whole(1, 100_000), metavar="N",
                   help="evaluate the runtime on N camera-style frames from MNIST test (default: off)")
    e.set_defaults(func=cmd_evaluate)

    x = verb("export", "checkpoint -> ONNX (fp32, and int8 with --quantize), parity-checked",
             "digitedge export --quantize                        # newest runs/train/*/best.pt",
             "digitedge export runs/train/exp/best.pt --quantize --out models --name digits")
    x.add_argument("checkpoint", nargs="?", metavar="CHECKPOINT", help="a .pt checkpoint (default: the newest "
                   "runs/train/*/best.pt)")
    x.add_argument("--quantize", action="store_true", help="also write a static int8 (QDQ) model")
    x.add_argument("--out", help="output folder (default: the checkpoint's folder)")
    x.add_argument("--name", type=file_stem, help="file stem (default: the checkpoint's, e.g. best -> best.onnx)")
    x.add_argument("--opset", type=whole(*OPSETS), default=18, help="ONNX opset, 18 (the dynamo exporter's lowest) to 25")
    x.add_argument("--calib", type=whole(CALIB_MIN, MNIST_TRAIN), default=2000,
                   help=f"training images used for int8 calibration ({CALIB_MIN} to {MNIST_TRAIN})")
    x.add_argument("--calib-method", default="minmax", choices=["minmax", "entropy", "percentile"],
                   help="int8 calibration method")
    x.add_argument("--no-check", action="store_true", help="skip the parity checks")
    x.add_argument("--data-dir", help=DATA_HELP)
    x.set_defaults(func=cmd_export)

    c = verb("classify", "read the digits in images, folders, globs, videos, cameras or streams",
             "digitedge classify --samples                       # the sample photos that ship with digitedge",
             "digitedge classify photo.jpg scans/ 'pages/**/*.png' --save runs/annotated",
             "digitedge classify clip.mp4 --vid-stride 5 --format json   # every 5th frame, JSON Lines",
             "digitedge classify --samples --format json | jq .text",
             "digitedge classify photos/ --save-crops mydigits --conf 0.2   # your digits by label, to correct",
             "digitedge classify scans/ list.txt --out results.jsonl     # all cores; add --resume after a stop",
             "digitedge classify /nfs/scans --out /nfs/results --engine ray --ray-address auto")
    c.add_argument("sources", nargs="*", metavar="SOURCE", help="image, folder (recursive), glob, video file, camera "
                   "index or stream URL; digits are a camera index (write ./2024 for a folder named 2024)")
    c.add_argument("--samples", action="store_true", help="also read the sample images that ship with digitedge")
    c.add_argument("--model", help=MODEL_HELP)
    c.add_argument("--format", choices=["table", "json"], default="table",
                   help="table: a line per image (a video: per change of text); json: JSON Lines, one per frame")
    c.add_argument("--save", metavar="DIR", help="write annotated copies (.jpg) and videos (.mp4) here (default: off)")
    c.add_argument("--save-crops", metavar="DIR", help="write each digit read as a 28x28 crop into DIR/<label>/ (and "
                   "DIR/crops.csv): correct them by moving files, then train --data DIR; a lower --conf keeps the "
                   "digits the model was unsure of too (default: off)")
    c.add_argument("--conf", type=number(0, 1), help="reject digits below this confidence, in [0, 1] (default: 0.5)")
    c.add_argument("--vid-stride", type=whole(1, 10_000), default=1, metavar="N", help="read every Nth frame of a video")
    c.add_argument("--device", choices=DEVICES, default="cpu", help=DEVICE_HELP)
    c.add_argument("--threads", type=whole(1, MAX_THREADS), help=THREADS_HELP + "; with --out, per worker (default 1)")
    archive = c.add_argument_group("archives (--out)", "one JSON Lines record per input (errors too), written as "
                                   "read, resumable;\non every core, or on Ray")
    archive.add_argument("--out", metavar="FILE.jsonl", help="write the records to this new .jsonl file instead of "
                         "stdout (with --engine ray: a folder of .jsonl files; NAME.parquet: a folder of Parquet parts, "
                         "with pyarrow) (default: off)")
    archive.add_argument("--resume", action="store_true", help="continue the --out a stopped or killed run left: inputs "
                         "already in it (same path, size and mtime) are skipped")
    archive.add_argument("--workers", type=whole(1, MAX_THREADS), metavar="N", help="worker processes, each with a "
                         "one-thread onnxruntime session (default: all cores; with --engine ray: the cluster's CPUs)")
    archive.add_argument("--engine", choices=["local", "ray"], default="local", help="local: processes on this machine; "
                         "ray: Ray Data (pip install 'digitedge[ray]')")
    archive.add_argument("--ray-address", metavar="ADDR", help="join this Ray cluster (auto, or ray://head:10001) "
                         "instead of starting a local Ray for the run (default: off)")
    c.set_defaults(func=cmd_classify)

    lv = verb("live", "read digits live from a camera, video file, stream or folder of images, steadily",
              "digitedge live --source 0                          # first camera, in a window",
              "digitedge live --source clip.mp4                   # plays in real time, readings steadied",
              "digitedge live --source clip.mp4 --no-display --save out.mp4 > frames.jsonl",
              "digitedge live --source http://192.168.1.20:8080/video.mjpg --format json",
              "digitedge live --source photos/                    # a slideshow, 1 s per image",
              "", KEYS)
    lv.add_argument("--source", default="0", help="camera index, video file, stream URL, image, folder or glob")
    lv.add_argument("--model", help=MODEL_HELP)
    lv.add_argument("--save", metavar="OUT.mp4", help="write the annotated video here, at the source's measured rate "
                    "(default: off)")
    lv.add_argument("--no-display", action="store_true", help="no window; JSON Lines on stdout")
    lv.add_argument("--format", choices=["table", "json"], default=None,
                    help="records on stdout: json (JSON Lines) or table (a line per change of text) (default: json "
                    "without a window, none with one)")
    lv.add_argument("--device", choices=DEVICES, default="cpu", help=DEVICE_HELP)
    lv.add_argument("--threads", type=whole(1, MAX_THREADS), help=THREADS_HELP)
    lv.set_defaults(func=cmd_live)

    b = verb("bench", "CPU latency and throughput of every installed backend, side by side",
             "digitedge bench --seconds 2                        # one table, measured interleaved",
             "digitedge bench --format json > bench.json",
             "digitedge bench --goals                            # also the project's own targets, met or not")
    b.add_argument("--model", help="fp32 .onnx; its .int8.onnx twin is benchmarked too (default: the shipped pair)")
    b.add_argument("--checkpoint", help="the .pt the model came from, for the PyTorch row (default: found in "
                   "runs/train by the model's checkpoint_sha256)")
    b.add_argument("--threads", type=whole(1, MAX_THREADS), help="'all cores' thread count (default: os.cpu_count())")
    b.add_argument("--seconds", type=number(0, 600, lo_open=True), default=2.0, help="time budget per measurement, in (0, 600]")
    b.add_argument("--format", choices=["table", "json"], default="table", help="output format")
    b.add_argument("--goals", action="store_true", help="also report the project's performance goals (docs/benchmarks.md)")
    b.add_argument("--data-dir", help=DATA_HELP.replace(", downloaded there if missing", "; never downloaded"))
    b.set_defaults(func=cmd_bench)

    v = verb("serve", "HTTP API and camera web page (pip install 'digitedge[serve]')",
             "digitedge serve                                    # http://127.0.0.1:8000: the camera page and /docs",
             "digitedge serve --workers 2 --host 0.0.0.0 --token \"$(openssl rand -hex 16)\"",
             "curl -s --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8000/v1/classify")
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
    setup_logging(args)
    previous = signal.signal(signal.SIGTERM, raise_interrupt) if argv is None else None  # finally blocks clean up
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
        if os.environ.get("DIGITEDGE_DEBUG") or args.verbose:
            traceback.print_exc()
        print(f"digitedge {args.verb}: internal error: {e.__class__.__name__}: {str(e).strip().splitlines()[0][:200] if str(e).strip() else ''} "
              "(a bug: please report it; -v or DIGITEDGE_DEBUG=1 shows the traceback)", file=sys.stderr)
        return EXIT_INTERNAL
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def setup_logging(args) -> None:
    """The library's warnings (a stream reopened) and, with -v, its debug lines, as plain lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"digitedge {args.verb}: %(message)s"))
    root = logging.getLogger("digitedge")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if args.verbose else logging.ERROR if args.quiet else logging.WARNING)


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
