"""The pre-training recipe: the paper's Table 1 as defaults, every value overridable, saved whole
in every checkpoint.

Table 1 prints warm-up lr 1e-3 and initial lr 1e-6 (and minimum lr 1e-6). Read literally the
learning rate would fall from 1e-3 to 1e-6 during warm-up and then stay at 1e-6 for 90 epochs,
which trains nothing; the two look swapped against the usual timm recipe the table follows
(``--lr`` 1e-3, ``--warmup-lr`` 1e-6, ``--min-lr`` 1e-6), and that is the default here. The
literal reading is ``--lr 1e-6 --warmup-lr 1e-3``."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from hardtool.core.errors import HardtoolError


def _f(default, help: str, runtime: bool = False):
    return field(default=default, metadata={"help": help, "runtime": runtime})


@dataclass
class PretrainConfig:
    arch: str = _f("hard_xxs", "HARD variant whose encoder is trained")
    epochs: int = _f(100, "Table 1: 100 epochs")
    batch: int = _f(256, "Table 1: images per optimizer step, summed over all processes")
    micro_batch: int = _f(0, "images per forward pass and BatchNorm batch (0: batch / processes)")
    lr: float = _f(1e-3, "peak learning rate after warm-up (see the note on Table 1)")
    warmup_lr: float = _f(1e-6, "learning rate at step 0, rising linearly to --lr")
    min_lr: float = _f(1e-6, "Table 1: learning rate at the end of the cosine decay")
    warmup_epochs: int = _f(10, "Table 1: 10 warm-up epochs")
    weight_decay: float = _f(5e-3, "Table 1: AdamW weight decay")
    betas: tuple[float, float] = _f((0.9, 0.999), "Table 1: AdamW betas")
    eps: float = _f(1e-8, "AdamW epsilon")
    decay_1d: bool = _f(False, "also decay biases and BatchNorm weights (timm does not)")
    label_smoothing: float = _f(0.0, "cross-entropy label smoothing (Table 1 lists none)")
    crop: int = _f(256, "Table 1: random resized crop size (and val crop)")
    scale: tuple[float, float] = _f((0.08, 1.0), "RandomResizedCrop area range")
    ratio: tuple[float, float] = _f((3 / 4, 4 / 3), "RandomResizedCrop aspect range")
    hflip: float = _f(0.5, "Table 1: horizontal flip probability")
    randaug_n: int = _f(2, "RandAugment ops per image (timm's default n=2; 0 turns it off)")
    randaug_m: float = _f(9.0, "Table 1: RandAugment magnitude, timm's 0-10 scale")
    randaug_mstd: float = _f(0.5, "Table 1: RandAugment magnitude noise (std), timm's mstd")
    randaug_p: float = _f(0.5, "probability of each drawn op (timm: 0.5)")
    randaug_group: int = _f(8, "images sharing one op draw (1: per image; made a divisor of the micro-batch)")
    val_crop_pct: float = _f(0.875, "val: resize short side to crop / pct, centre crop")
    head_width: int = _f(1024, "1x1 conv width before pooling in the classifier head (0: none)")
    dropout: float = _f(0.0, "dropout before the classifier")
    bn_momentum: float = _f(0.1, "BatchNorm running-statistics momentum")
    seed: int = _f(0, "seed of every random draw")
    workers: int = _f(4, "data-loading processes per training process", runtime=True)
    save_every: int = _f(0, "also checkpoint every N steps inside an epoch (0: per epoch only)", runtime=True)
    threads: int = _f(0, "torch CPU threads per process (0: torch's default)", runtime=True)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise HardtoolError(f"unknown pre-training setting(s): {', '.join(unknown)}")
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**d)

    def micro(self, world: int) -> int:
        return self.micro_batch or self.batch // world

    def check(self, world: int) -> None:
        """Refuse settings that cannot run as asked, with the fix."""
        m = self.micro(world)
        if self.epochs <= 0 or self.batch <= 0 or m <= 0:
            raise HardtoolError("--epochs, --batch and --micro-batch must be positive")
        if self.batch % (world * m):
            raise HardtoolError(
                f"--batch {self.batch} is not a multiple of processes x --micro-batch ({world} x {m}); "
                "pick a batch that splits evenly"
            )
        if not 0 <= self.warmup_epochs <= self.epochs:
            raise HardtoolError("--warmup-epochs must lie between 0 and --epochs")
        if self.lr <= 0 or self.min_lr < 0 or self.warmup_lr < 0:
            raise HardtoolError("--lr must be positive, --min-lr and --warmup-lr not negative")
        if self.randaug_group <= 0 or not 0 <= self.randaug_m <= 10:
            raise HardtoolError("--randaug-group must be positive and --randaug-m within timm's 0..10")


RECIPE = [f.name for f in fields(PretrainConfig) if not f.metadata["runtime"]]
