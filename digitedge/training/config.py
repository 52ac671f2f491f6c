"""The training defaults, in one place. Written into the run folder and into every checkpoint."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields


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
    data: list[str] = field(default_factory=list)  # labelled folders of the user's digits: a fine-tune (issue 11)
    weights: str = ""  # start from these weights (.pt or digitedge fp32 .onnx); empty: random, or with `data` the shipped model
    mix: float = 3.0  # fine-tune: MNIST and extra crops per user digit in each epoch, so MNIST accuracy holds
    holdout: float = 0.2  # fine-tune: share of the user's digits (per label) held out for validation and the report

    @classmethod
    def finetune(cls, **overrides) -> "TrainConfig":
        """The defaults of a fine-tune on the user's digits (`data`), overridden by `overrides`."""
        return cls(**{**FINETUNE, **overrides})

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# A fine-tune starts from a trained model: a short run (each epoch is FINETUNE_USER_PER_EPOCH user digits, cycled, plus
# `mix` times as many MNIST and extra crops) at a low peak rate, so the user's digits are learned and MNIST is kept.
# The scene harvest is left out (it takes minutes the first time; --scenes N adds it); a few glyphs and junk crops
# stay in the mix, so the styles MNIST lacks and the rejection of non-digits the model learned are rehearsed too.
FINETUNE = dict(epochs=10, lr=5e-4, scenes=0, glyphs=2000, junk=2000)
FINETUNE_USER_PER_EPOCH = 512
