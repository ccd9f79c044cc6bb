"""LightningDataModule: source texts → validation carve → tokenize each split once → loaders.

Three ways to batch: in memory with a shuffled DataLoader (default); in memory with length
buckets (`bucketing`); or read from files as training goes (`streaming`, see streaming.py).
"""

from __future__ import annotations

import logging
from itertools import islice
from pathlib import Path
from typing import Any, Protocol

import lightning as L
from tokenizers import Tokenizer
from torch.utils.data import DataLoader, DistributedSampler

from textlab.base.errors import UserError, require
from textlab.data import token_cache
from textlab.data.bucketing import BatchView, LengthBucketSampler
from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.data.eval_batches import EvalBatchSampler
from textlab.data.loaders import EpochLoader, ResumableDataLoader
from textlab.data.sharding import process_slot
from textlab.data.sources.extra_train import require_choice, with_extra_train
from textlab.data.splits import TextSplit, carve_validation
from textlab.data.streaming import StreamingTextDataset, StreamSplit, stream_splits
from textlab.tokenization import encode_ids, pad_id, tokenizer_fingerprint

log = logging.getLogger(__name__)

STAGE_SPLITS = {"fit": ("train", "val"), "validate": ("val",), "test": ("test",)}
PREVIEW_SIZE = 16  # validation reviews a streaming `val_dataset` holds for callbacks


def at_least(value: Any, least: int) -> bool:
    return isinstance(value, int) and value >= least


class TextSource(Protocol):
    """Where texts come from: the embedded corpus, aclImdb, text files, ..."""

    label_names: tuple[str, ...]

    def load(self) -> dict[str, tuple[list[str], list[int]]]: ...


class TextDataModule(L.LightningDataModule):
    """Splits of one `source`, tokenized once per split, batched by a padding collator.

    `batch_size` is per device; training texts are cut to `max_length` tokens, the others to
    `eval_max_length` (None: the same). Without a "val" split from the source, validation is carved
    from train: `val_fraction` of each class, chosen by `seed`. `streaming` reads and tokenizes
    files on the fly (sources with `streams()`), shuffling through `shuffle_buffer` examples;
    `bucketing` batches similar lengths together (pools of `bucket_pool` batches); batches are
    padded to a multiple of `pad_to_multiple_of` (fewer shapes for a GPU). `cache_dir` caches
    in-memory token ids per (tokenizer, split, max_length).
    `unlabelled` (paths or globs of text without labels) is read by mode=pretrain only;
    `extra_train` (labelled files, e.g. a teacher's predictions) joins the training split only,
    as labels or (`extra_train_targets="probabilities"`) as the teacher's distributions.
    """

    def __init__(
        self,
        source: TextSource,
        batch_size: int = 64,
        max_length: int = 256,
        eval_max_length: int | None = None,
        val_fraction: float = 0.1,
        num_workers: int = 0,
        pin_memory: bool = False,
        seed: int = 0,
        streaming: bool = False,
        bucketing: bool = False,
        shuffle_buffer: int = 10_000,
        bucket_pool: int = 50,
        pad_to_multiple_of: int = 1,
        cache_dir: str | None = None,
        unlabelled: str | list[str] | None = None,
        extra_train: str | list[str] | None = None,
        extra_train_targets: str = "label",
    ) -> None:
        super().__init__()
        for key, value in (
            ("batch_size", batch_size),
            ("shuffle_buffer", shuffle_buffer),
            ("bucket_pool", bucket_pool),
            ("pad_to_multiple_of", pad_to_multiple_of),
        ):
            require(at_least(value, 1), key, value, "a positive integer")
        require(at_least(max_length, 2), "max_length", max_length, "an integer >= 2 ([CLS] too)")
        require(
            eval_max_length is None or at_least(eval_max_length, 2),
            "eval_max_length",
            eval_max_length,
            "null (= max_length) or an integer >= 2",
        )
        require(0.0 < val_fraction < 1.0, "val_fraction", val_fraction, "a number in (0, 1)")
        require(at_least(num_workers, 0), "num_workers", num_workers, "an integer >= 0")
        require_choice(extra_train_targets, extra_train)
        if streaming and extra_train is not None:
            raise UserError("data.extra_train needs in-memory data; expected data.streaming=false")
        if streaming and bucketing:
            log.warning("data.bucketing applies to in-memory data; ignored with data.streaming")
        self.source = source
        self.batch_size = batch_size
        self.max_length = max_length
        self.eval_max_length = max_length if eval_max_length is None else eval_max_length
        self.val_fraction = val_fraction
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.seed = seed
        self.streaming, self.bucketing = streaming, bucketing and not streaming
        self.shuffle_buffer, self.bucket_pool = shuffle_buffer, bucket_pool
        self.cache_dir, self.pad_to_multiple_of = cache_dir, pad_to_multiple_of
        self.unlabelled, self.extra_train = unlabelled, extra_train
        self.extra_train_targets = extra_train_targets
        self.tokenizer: Tokenizer | None = None
        self.tokenizer_fingerprint = ""
        self.collator: PaddingCollator | None = None
        self._splits: dict[str, TextSplit | StreamSplit] | None = None
        self._datasets: dict[str, TokenizedDataset | StreamingTextDataset] = {}

    @property
    def label_names(self) -> tuple[str, ...]:
        return tuple(self.source.label_names)

    @property
    def num_classes(self) -> int:
        return len(self.label_names)

    def splits(self) -> dict[str, TextSplit | StreamSplit]:
        """Raw text splits, loaded once; "val" is carved from "train" when the source has none."""
        if self._splits is None and self.streaming:
            self._splits = stream_splits(self.source, self.val_fraction, self.seed)
        if self._splits is None:
            raw = {
                name: TextSplit(list(texts), list(labels))
                for name, (texts, labels) in self.source.load().items()
            }
            if "train" not in raw or not len(raw["train"]):
                raise UserError(f"data source {type(self.source).__name__} has no training texts")
            if "val" not in raw:
                # a source may know what must stay together (aclImdb: a movie's reviews)
                carve = getattr(self.source, "carve_validation", carve_validation)
                raw["train"], raw["val"] = carve(raw["train"], self.val_fraction, self.seed)
            if self.extra_train is not None:
                report_dir = getattr(self.source, "report_dir", None)
                raw["train"] = with_extra_train(
                    raw, self.extra_train, self.label_names, report_dir, self.extra_train_targets
                )
            for name, split in raw.items():
                log.info("Split %s: %d texts", name, len(split))
            self._splits = raw
        return self._splits

    def has_split(self, name: str) -> bool:
        return name in self.splits()

    def attach_tokenizer(self, tokenizer: Tokenizer) -> None:
        """Use `tokenizer` (trained on the train split) for every split from now on."""
        self.tokenizer = tokenizer
        self.tokenizer_fingerprint = tokenizer_fingerprint(tokenizer)
        widest = max(self.max_length, self.eval_max_length)  # what the network must accept
        self.collator = PaddingCollator(pad_id(tokenizer), self.pad_to_multiple_of, widest)
        self._datasets.clear()

    def length_of(self, name: str) -> int:
        """Tokens kept per text of split `name`: training crops to `max_length`, evaluation
        reads `eval_max_length` (an LSTM trained on crops can read whole reviews at test)."""
        return self.max_length if name == "train" else self.eval_max_length

    def encode(self, split: TextSplit, max_length: int) -> TokenizedDataset:
        """Token ids truncated to `max_length` ([CLS] included), from the cache when possible."""
        if self.tokenizer is None:
            raise RuntimeError("attach_tokenizer() must be called before encoding")
        if self.cache_dir is None:
            return self._encode(split, max_length)
        path = token_cache.cache_path(
            self.cache_dir, self.tokenizer_fingerprint, split.fingerprint(), max_length
        )
        dataset = token_cache.load_or_encode(Path(path), lambda: self._encode(split, max_length))
        return dataset.with_targets(split.targets)  # the cache holds ids and labels only

    def _encode(self, split: TextSplit, max_length: int) -> TokenizedDataset:
        assert self.tokenizer is not None
        ids = encode_ids(self.tokenizer, split.texts, max_length)
        return TokenizedDataset.from_sequences(ids, split.labels).with_targets(split.targets)

    def setup(self, stage: str | None = None) -> None:
        for name in STAGE_SPLITS.get(stage or "fit", ("train", "val", "test")):
            if name not in self._datasets:
                if name not in self.splits():
                    raise UserError(f"data has no {name!r} split, needed for stage {stage!r}")
                split = self.splits()[name]
                if isinstance(split, StreamSplit):
                    self._datasets[name] = self._stream_dataset(name, split)
                else:
                    self._datasets[name] = self.encode(split, self.length_of(name))

    def _stream_dataset(
        self, name: str, split: StreamSplit, whole: bool = False
    ) -> StreamingTextDataset:
        """`name`'s examples streamed, shuffled for "train"; `whole`: every example, not this
        DDP rank's share."""
        if self.tokenizer is None:
            raise RuntimeError("attach_tokenizer() must be called before streaming")
        return StreamingTextDataset(
            split.source,
            self.tokenizer,
            self.length_of(name),
            self.batch_size,
            shuffle=name == "train",
            seed=self.seed,
            buffer_size=self.shuffle_buffer,
            rank=0 if whole else None,
            world_size=1 if whole else None,
        )

    def dataset(self, name: str) -> TokenizedDataset | StreamingTextDataset:
        if name not in self._datasets:
            self.setup({"train": "fit", "val": "validate", "test": "test"}[name])
        return self._datasets[name]

    @property
    def val_dataset(self) -> TokenizedDataset:
        """Indexable validation data; when streaming, only its first PREVIEW_SIZE examples."""
        split = self.splits()["val"]
        if isinstance(split, StreamSplit):
            texts_labels = list(islice(split.examples(), PREVIEW_SIZE))
            preview = TextSplit([t for t, _ in texts_labels], [y for _, y in texts_labels])
            return self._encode(preview, self.eval_max_length)
        return self.dataset("val")  # type: ignore[return-value]

    def _epoch(self) -> int:
        return self.trainer.current_epoch if self.trainer is not None else 0

    def _loader(self, name: str, shuffle: bool) -> DataLoader:
        dataset = self.dataset(name)
        rank, world_size = process_slot()
        # Under DDP the Trainer's evaluation loaders give each rank its share; a plain pass
        # outside a Trainer stage (the test-split reports on rank zero) reads the whole split.
        shard_eval = not shuffle and world_size > 1 and self._trainer_is_running()
        whole_eval = not shuffle and world_size > 1 and not shard_eval
        if isinstance(dataset, StreamingTextDataset) and whole_eval:
            dataset = self._stream_dataset(name, self.splits()[name], whole=True)
        if isinstance(dataset, StreamingTextDataset):
            # batches come whole from the dataset; workers restart each epoch to see set_epoch
            return EpochLoader(
                dataset,
                batch_size=None,
                collate_fn=self.collator,
                num_workers=self.num_workers,
                pin_memory=self.pin_memory,
                epoch_fn=self._epoch,
            )
        if self.bucketing and shuffle:
            # a sampler of whole batches, DDP-aware itself; resumable like the default below
            buckets = LengthBucketSampler(
                dataset.lengths(), self.batch_size, self.bucket_pool, seed=self.seed
            )
            return ResumableDataLoader(
                BatchView(dataset), sampler=buckets, batch_size=None, **self._loader_options()
            )
        if shard_eval or name == "val":
            # each example once, on one rank under DDP; validation by length (EvalBatchSampler)
            slot = {} if shard_eval else {"rank": 0, "world_size": 1}
            sampler = EvalBatchSampler(dataset, self.batch_size, by_length=name == "val", **slot)
            return DataLoader(
                BatchView(dataset), sampler=sampler, batch_size=None, **self._loader_options()
            )
        # Shuffled by (seed, epoch), not the global RNG, and able to skip the batches already
        # trained on: a resumed run sees the uninterrupted run's batches (see loaders.py).
        sampler = DistributedSampler(dataset, world_size, rank, seed=self.seed) if shuffle else None
        return (ResumableDataLoader if shuffle else DataLoader)(
            dataset, batch_size=self.batch_size, sampler=sampler, **self._loader_options()
        )

    def _loader_options(self) -> dict[str, Any]:
        """DataLoader arguments shared by every in-memory loader."""
        return {
            "collate_fn": self.collator,
            "num_workers": self.num_workers,
            "pin_memory": self.pin_memory,
            "persistent_workers": self.num_workers > 0,
        }

    def _trainer_is_running(self) -> bool:
        """Whether a Trainer stage (fit, validate, test) is asking for the loader."""
        return getattr(getattr(self.trainer, "state", None), "stage", None) is not None

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)
