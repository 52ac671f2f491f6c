"""The paper's report: confusion matrix (Fig. 1), curves (Fig. 2), classification report (Table 2),
plus a grid of misclassified digits. Works on plain numpy arrays."""

from __future__ import annotations

import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never needs a display
import matplotlib.pyplot as plt
import numpy as np
from sklearn.metrics import classification_report, confusion_matrix

from ..errors import OutputError
from ..files import output_dir, shown, write_new

LABELS = list(range(10))
MAX_MISCLASSIFIED = 64  # an 8x8 grid is readable on one screen
REPORT_FILES = ("classification_report.txt", "classification_report.json", "confusion_matrix.png", "misclassified.png",
                "curves.png")


def write_report(out: Path, y_true: np.ndarray, y_pred: np.ndarray, images: np.ndarray,
                 history: list[dict] | None = None, title: str = "") -> dict:
    """Write every report file into `out`; return scikit-learn's report dict. A folder that already holds a report
    is refused (OutputError): an earlier report is never overwritten, nor mixed with this one."""
    out = report_folder(out)
    names = [str(c) for c in LABELS]
    text = classification_report(y_true, y_pred, labels=LABELS, target_names=names, digits=4)
    data = classification_report(y_true, y_pred, labels=LABELS, target_names=names, output_dict=True)
    write_new(out / "classification_report.txt", text.encode())
    write_new(out / "classification_report.json", (json.dumps(data, indent=2) + "\n").encode())
    plot_confusion(confusion_matrix(y_true, y_pred, labels=LABELS), out / "confusion_matrix.png", title)
    plot_misclassified(images, y_true, y_pred, out / "misclassified.png")
    if history:
        plot_curves(history, out / "curves.png")
    return data


def report_folder(out: Path) -> Path:
    """`out`, created and writable, holding no report yet (OutputError otherwise: nothing is overwritten)."""
    out = output_dir(out, "--out")
    taken = [name for name in REPORT_FILES if (out / name).exists() or (out / name).is_symlink()]
    if taken:
        raise OutputError(f"--out {shown(out)}: already holds a report ({taken[0]}); pass a new folder")
    return out


def plot_confusion(cm: np.ndarray, path: Path, title: str = "") -> None:
    fig, ax = plt.subplots(figsize=(7.5, 6.5))
    im = ax.imshow(cm, cmap="Blues", norm=matplotlib.colors.LogNorm(vmin=1, vmax=max(cm.max(), 2)))
    fig.colorbar(im, ax=ax, label="count (log scale)")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            if cm[i, j]:
                dark = cm[i, j] > cm.max() ** 0.5
                ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8, color="white" if dark else "black")
    ax.set_xticks(LABELS)
    ax.set_yticks(LABELS)
    ax.set_xlabel("Predicted label")
    ax.set_ylabel("True label")
    acc = np.trace(cm) / max(cm.sum(), 1)
    ax.set_title(f"Confusion matrix{' — ' + title if title else ''} (accuracy {acc:.4f}, n={cm.sum()})")
    fig.tight_layout()
    save_figure(fig, path, dpi=120)


def save_figure(fig, path: Path, dpi: int) -> None:
    """PNG bytes into a new file (never over an existing one, never through a link)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    write_new(path, buffer.getvalue())


def plot_curves(history: list[dict], path: Path) -> None:
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, key, name in ((ax_loss, "loss", "Loss"), (ax_acc, "acc", "Accuracy")):
        ax.plot(epochs, [row[f"train_{key}"] for row in history], "o-", ms=3, label=f"training {key}")
        ax.plot(epochs, [row[f"val_{key}"] for row in history], "s-", ms=3, label=f"validation {key}")
        ax.set_xlabel("Epoch")
        ax.set_ylabel(name)
        ax.set_title(f"Training and validation {name.lower()}")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.text(0.5, 0.005, "training figures are on augmented images with label smoothing; validation on clean images",
             ha="center", fontsize=8, color="0.4")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    save_figure(fig, path, dpi=120)


def plot_misclassified(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray, path: Path) -> None:
    wrong = np.flatnonzero(y_true != y_pred)[:MAX_MISCLASSIFIED]
    cols = 8
    rows = max(1, int(np.ceil(len(wrong) / cols)))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.5 + 0.4), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, wrong):
        ax.imshow(images[i], cmap="gray_r")
        ax.set_title(f"true {y_true[i]} → {y_pred[i]}", fontsize=9, color="crimson")
    total = int((y_true != y_pred).sum())
    fig.suptitle(f"Misclassified test digits: {total} of {len(y_true)}" + (f" (first {len(wrong)})" if total > len(wrong) else ""))
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
