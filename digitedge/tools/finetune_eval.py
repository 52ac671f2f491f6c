"""Does fine-tuning on a writer's own digits fix what the shipped model gets wrong on them, and does MNIST hold?
(issue 11, acceptance 2)

    python -m digitedge.tools.finetune_eval --real ../shared/realdigits --data-dir ../shared/mnist

The sources: realdigits/photos, one per source, and each single-digit source of realdigits/wild with at least
MIN_IMAGES images (a source is one writer). Each source's images are split in two halves, stratified by label and
seeded. The shipped int8 model reads a half through the runtime, exactly as `digitedge classify` does (an error: the
text read is not the label); then `train --data` with its defaults (its own 20 % holdout included) fine-tunes the
shipped model on the other half, `export --quantize` makes its int8 model (parity gates on), and that model reads the
half again. With --folds 2 (the default) each half is read once by the model tuned on the other, so every image is
scored before and after. Printed: per source, the errors before and after; the mean change over the sources where
the shipped model makes mistakes; and the MNIST test accuracy of every fine-tuned model (fp32 and int8).

The images stay where they are: each half is a labels.csv in a temporary folder that names them. This is the one
place those files are used for training; no model made here is shipped.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..files import next_run_dir, output_dir, shown, write_new
from ..runtime import DigitClassifier, ImageError, read_image, read_metadata, text_of
from .realeval import read_labels

MIN_IMAGES = 10
SETS = ((".", "photos"), ("wild", "single"))  # (labels.csv folder under --real, the kind of row used)
SEED = 0
GOAL_CHANGE, GOAL_MNIST = -0.5, 0.994


def sources(root: Path) -> dict[str, list[dict]]:
    """'kind source' -> rows (with the file's full path), for each source of single digits with MIN_IMAGES or more."""
    found = defaultdict(list)
    for sub, kind in SETS:
        for row in read_labels(root / sub):
            if row["kind"] == kind:
                found[f"{kind} {row['source']}"].append(dict(row, path=root / sub / row["file"]))
    return {name: rows for name, rows in sorted(found.items()) if len(rows) >= MIN_IMAGES}


def halves(rows: list[dict], seed: int) -> tuple[list[dict], list[dict]]:
    """Two halves, each label split evenly between them (odd counts alternate), seeded."""
    rng = np.random.default_rng(seed)
    ranked = sorted(range(len(rows)), key=lambda i: (rows[i]["label"], rng.random()))
    return [rows[i] for i in ranked[0::2]], [rows[i] for i in ranked[1::2]]


def errors(clf: DigitClassifier, rows: list[dict]) -> list[str]:
    """The files the runtime does not read as their label."""
    wrong = []
    for row in rows:
        try:
            read = text_of(clf.classify(read_image(row["path"])))
        except ImageError:
            read = None
        if read != row["label"]:
            wrong.append(row["file"])
    return wrong


def labels_folder(folder: Path, rows: list[dict]) -> Path:
    """A labelled folder (labels.csv) naming the rows' files where they are."""
    folder.mkdir(parents=True)
    with open(folder / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", "label"])
        writer.writerows([os.fspath(row["path"]), row["label"]] for row in rows)
    return folder


def fine_tune(train_rows: list[dict], work: Path, data_dir, seed: int) -> dict:
    """Fine-tune on the rows with the `train --data` defaults, export fp32 + int8; the models and their figures."""
    from ..export.exporter import export
    from ..training.config import TrainConfig
    from ..training.train import train

    quiet = lambda *a, **k: None  # noqa: E731
    t0 = time.perf_counter()
    run = train(TrainConfig.finetune(data=[str(labels_folder(work / "data", train_rows))], data_dir=data_dir or "",
                                     seed=seed), out=work / "runs", report=False, log=quiet)
    seconds = time.perf_counter() - t0
    if not export(run / "best.pt", out=run, quantize=True, data_dir=data_dir, log=quiet):
        raise RuntimeError(f"{run}: the fine-tuned model failed export's parity gates")
    return {"run": run, "seconds": seconds, "int8": run / "best.int8.onnx",
            "mnist_fp32": float(read_metadata(run / "best.onnx")["test_accuracy"]),
            "mnist_int8": float(read_metadata(run / "best.int8.onnx")["test_accuracy"])}


def measure(root, data_dir=None, folds: int = 2, seed: int = SEED, runs=None, log=print) -> dict:
    root = Path(root).resolve()  # its files are listed in labels.csv files written elsewhere
    found = sources(root)
    shipped = DigitClassifier()
    log(f"{len(found)} sources of single digits with >= {MIN_IMAGES} images in {shown(root)}: "
        + ", ".join(f"{name} ({len(rows)})" for name, rows in found.items()))
    results = {}
    with tempfile.TemporaryDirectory(prefix="finetune-eval-") as tmp:
        work = next_run_dir(runs, "finetune_eval") if runs else Path(tmp)
        for n, (name, rows) in enumerate(found.items()):
            parts = halves(rows, seed)
            result = results[name] = {"images": 0, "before": [], "after": [], "models": []}
            for k in range(folds):
                tuned_on, scored = parts[k], parts[1 - k]
                model = fine_tune(tuned_on, work / f"{n}-{k}", data_dir, seed)
                before, after = errors(shipped, scored), errors(DigitClassifier(model["int8"]), scored)
                result["images"] += len(scored)
                result["before"] += before
                result["after"] += after
                result["models"].append({key: (str(v) if isinstance(v, Path) else v) for key, v in model.items()})
                log(f"{name} fold {k + 1}/{folds}: tuned on {len(tuned_on)}, scored {len(scored)}: errors {len(before)} -> "
                    f"{len(after)}; fine-tune {model['seconds']:.0f}s, MNIST test {model['mnist_fp32']:.2%} fp32 / "
                    f"{model['mnist_int8']:.2%} int8")
    summary = summarise(results)
    log(table(results, summary))
    return {"sources": results, "summary": summary}


def change(result: dict) -> float | None:
    """Relative change of the error count (-1 = every error fixed); None when the shipped model made none."""
    before = len(result["before"])
    return (len(result["after"]) - before) / before if before else None


def summarise(results: dict) -> dict:
    changes = [c for c in map(change, results.values()) if c is not None]
    models = [m for r in results.values() for m in r["models"]]
    return {"mean_change": float(np.mean(changes)) if changes else None, "sources_with_errors": len(changes),
            "lowest_mnist_fp32": min(m["mnist_fp32"] for m in models), "lowest_mnist_int8": min(m["mnist_int8"] for m in models),
            "fine_tune_seconds": [round(m["seconds"], 1) for m in models], "load_average": os.getloadavg(),
            "cores": os.cpu_count()}


def table(results: dict, s: dict) -> str:
    lines = [f"{'source':52s} {'images':>6s}  {'errors before':>15s}  {'errors after':>15s}  change"]
    for name, r in results.items():
        n, c = r["images"], change(r)
        lines.append(f"{name[:52]:52s} {n:6d}  {len(r['before']):4d} ({len(r['before']) / n:6.2%})  "
                     f"{len(r['after']):4d} ({len(r['after']) / n:6.2%})  {'n/a' if c is None else f'{c:+.0%}'}")
        for m in r["models"]:
            lines.append(f"    fine-tuned model: MNIST test {m['mnist_fp32']:.2%} fp32, {m['mnist_int8']:.2%} int8; "
                         f"fine-tune {m['seconds']:.0f}s")
    if s["mean_change"] is not None:
        met = "met" if s["mean_change"] <= GOAL_CHANGE else "NOT met"
        lines.append(f"mean change of the errors over the {s['sources_with_errors']} source(s) where the shipped model "
                     f"errs: {s['mean_change']:+.0%} (goal <= {GOAL_CHANGE:+.0%}: {met})")
    met = "met" if min(s["lowest_mnist_fp32"], s["lowest_mnist_int8"]) >= GOAL_MNIST else "NOT met"
    lines.append(f"lowest MNIST test accuracy of a fine-tuned model: {s['lowest_mnist_fp32']:.2%} fp32, "
                 f"{s['lowest_mnist_int8']:.2%} int8 (goal >= {GOAL_MNIST:.1%}: {met})")
    lines.append(f"fine-tune times (train only) {', '.join(f'{t:.0f}s' for t in s['fine_tune_seconds'])} on {s['cores']} "
                 f"cores, load average at the end {s['load_average'][0]:.1f}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m digitedge.tools.finetune_eval", description=__doc__.split("\n\n")[0])
    p.add_argument("--real", required=True, metavar="DIR", help="the realdigits folder (e.g. ../shared/realdigits)")
    p.add_argument("--data-dir", help="MNIST folder (default: $DIGITEDGE_DATA, else the user cache)")
    p.add_argument("--folds", type=int, choices=[1, 2], default=2, help="1: tune on one half, score the other; "
                   "2: both ways, every image scored (default: 2)")
    p.add_argument("--seed", type=int, default=SEED, help=f"the halves' and the fine-tunes' seed (default: {SEED})")
    p.add_argument("--runs", metavar="DIR", help="keep the fine-tune run folders here (default: a temporary folder)")
    p.add_argument("--out", metavar="DIR", help="also write finetune_eval.json here (default: off)")
    a = p.parse_args(argv)
    result = measure(a.real, a.data_dir, a.folds, a.seed, a.runs)
    if a.out:
        saved = write_new(output_dir(a.out, "--out") / "finetune_eval.json", (json.dumps(result, indent=2) + "\n").encode())
        print(f"Results saved to {shown(saved)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
