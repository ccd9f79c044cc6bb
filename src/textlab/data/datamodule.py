"""LightningDataModule: source texts → validation carve → tokenize each split once → loaders."""

from __future__ import annotations

import logging
from typing import Protocol

import lightning as L
from tokenizers import Tokenizer
from torch.utils.data import DataLoader

from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.data.splits import TextSplit, carve_validation
from textlab.errors import UserError, require
from textlab.tokenization import pad_id

log = logging.getLogger(__name__)

STAGE_SPLITS = {
    "fit": ("train", "val"),
    "validate": ("val",),
    "test": ("test",),
    "predict": ("test",),
}


class TextSource(Protocol):
    """Where texts come from: the embedded corpus, aclImdb, text files, ..."""

    label_names: tuple[str, ...]

    def load(self) -> dict[str, tuple[list[str], list[int]]]: ...


class TextDataModule(L.LightningDataModule):
    """Splits of one `source`, tokenized once per split, batched by a padding collator.

    `batch_size` is per device. Without a "val" split from the source, validation is carved
    from train: `val_fraction` of each class, chosen by `seed`.
    """

    def __init__(
        self,
        source: TextSource,
        batch_size: int = 64,
        max_length: int = 256,
        val_fraction: float = 0.1,
        num_workers: int = 0,
        pin_memory: bool = False,
        seed: int = 0,
    ) -> None:
        super().__init__()
        require(
            isinstance(batch_size, int) and batch_size > 0,
            "batch_size",
            batch_size,
            "a positive integer",
        )
        require(
            isinstance(max_length, int) and max_length >= 2,
            "max_length",
            max_length,
            "an integer >= 2 ([CLS] plus at least one token)",
        )
        require(0.0 < val_fraction < 1.0, "val_fraction", val_fraction, "a number in (0, 1)")
        require(
            isinstance(num_workers, int) and num_workers >= 0,
            "num_workers",
            num_workers,
            "an integer >= 0",
        )
        self.source = source
        self.batch_size = batch_size
        self.max_length = max_length
        self.val_fraction = val_fraction
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.seed = seed
        self.tokenizer: Tokenizer | None = None
        self.collator: PaddingCollator | None = None
        self._splits: dict[str, TextSplit] | None = None
        self._datasets: dict[str, TokenizedDataset] = {}

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(self.source.label_names)

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def splits(self) -> dict[str, TextSplit]:
        """Raw text splits, loaded once; "val" is carved from "train" when the source has none."""
        if self._splits is None:
            raw = {
                name: TextSplit(list(texts), list(labels))
                for name, (texts, labels) in self.source.load().items()
            }
            if "train" not in raw or not len(raw["train"]):
                raise UserError(f"data source {type(self.source).__name__} has no training texts")
            if "val" not in raw:
                raw["train"], raw["val"] = carve_validation(
                    raw["train"], self.val_fraction, self.seed
                )
            for name, split in raw.items():
                log.info("Split %s: %d texts", name, len(split))
            self._splits = raw
        return self._splits

    def attach_tokenizer(self, tokenizer: Tokenizer) -> None:
        """Use `tokenizer` (trained on the train split) for every split from now on."""
        self.tokenizer = tokenizer
        self.collator = PaddingCollator(pad_id(tokenizer))
        self._datasets.clear()

    def encode(self, split: TextSplit) -> TokenizedDataset:
        """Token ids truncated to `max_length` ([CLS] included)."""
        if self.tokenizer is None:
            raise RuntimeError("attach_tokenizer() must be called before encoding")
        encodings = self.tokenizer.encode_batch(split.texts)
        return TokenizedDataset.from_sequences(
            [enc.ids[: self.max_length] for enc in encodings], split.labels
        )

    def setup(self, stage: str | None = None) -> None:
        for name in STAGE_SPLITS.get(stage or "fit", ("train", "val", "test")):
            if name not in self._datasets:
                if name not in self.splits():
                    raise UserError(f"data has no {name!r} split, needed for stage {stage!r}")
                self._datasets[name] = self.encode(self.splits()[name])

    def dataset(self, name: str) -> TokenizedDataset:
        if name not in self._datasets:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[name])
        return self._datasets[name]

    @property
    def val_dataset(self) -> TokenizedDataset:
        return self.dataset("val")

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        return DataLoader(
            self.dataset(name),
            batch_size=self.batch_size,
            shuffle=shuffle,
            collate_fn=self.collator,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
