"""The training defaults, in one place. Written into the run folder and into every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class TrainConfig:
    epochs: int = 30  # passes over the training split
    batch_size: int = 128  # images per optimiser step
    lr: float = 2e-3  # peak learning rate of the one-cycle schedule (AdamW)
    weight_decay: float = 1e-4  # AdamW decoupled weight decay
    label_smoothing: float = 0.1  # softens targets; with augmentation it lifts test accuracy ~0.1 pp
    val_size: int = 5000  # images held out of the 60k training set for validation
    limit: int = 0  # train on only the first N training images (0 = all); for smoke tests
    seed: int = 0  # same seed -> same run on the same machine
    augment: bool = True  # random affine + stroke thickness on the fly
    rotate: float = 12.0  # max rotation, degrees
    scale: float = 0.10  # max relative zoom in or out
    shear: float = 0.15  # max shear factor
    shift: float = 0.10  # max shift, fraction of the image side
    thickness: float = 0.20  # probability of thickening or thinning strokes (each half of it)
    scenes: int = 12000  # generated scenes whose digit-finder crops join training (0 = MNIST only)
    glyphs: int = 10000  # stroke-drawn digits in styles MNIST lacks (flagged 1, crossed 7, ...)
    junk: int = 6000  # letters and touching digit pairs, to be rejected
    reject_weight: float = 1.0  # outlier exposure: weight of the uniform-output loss on non-digit crops
    device: str = "auto"  # auto | cpu | cuda
    bf16: bool = True  # bf16 autocast where the hardware has it (CUDA, CPUs with AVX512-BF16/AMX)
    data_dir: str = ""  # MNIST folder; empty = $DIGITEDGE_DATA or the user cache

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
