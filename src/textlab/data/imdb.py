"""aclImdb (Maas et al., 2011) in its official layout, downloaded on request.

`<root>/{train,test}/{pos,neg}/*.txt`, one review per file; neg → 0, pos → 1. Other files and
folders (`train/unsup`, `*.feat`, urls) are ignored. Without `<root>/test` there is no test
split (a warning says so) and the test stage is skipped. Reviews that are not valid UTF-8 are
kept, their bad bytes replaced by U+FFFD, and counted in a warning.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from textlab.data.datamodule import TextDataModule
from textlab.data.download import fetch_and_extract
from textlab.data.splits import TextSplit, carve_validation
from textlab.data.streaming import FilePerExample
from textlab.data.synthetic import LABEL_NAMES
from textlab.errors import UserError

log = logging.getLogger(__name__)

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
ARCHIVE_FOLDER = "aclImdb"  # the archive's single top-level folder
LAYOUT = "<root>/{train,test}/{pos,neg}/*.txt"
FOLDER_LABELS = {"neg": LABEL_NAMES.index("negative"), "pos": LABEL_NAMES.index("positive")}
SPLITS = ("train", "test")


def read_review(path: Path) -> tuple[str, bool]:
    """The review's text, and whether invalid UTF-8 had to be replaced."""
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def review_text(path: Path) -> str:
    return read_review(path)[0]


class AclImdb:
    """The aclImdb source: `load()` reads every review; `streams()` lists files to read later."""

    label_names = LABEL_NAMES

    def __init__(
        self, root: str | Path, download: bool = False, url: str = URL, sha256: str = SHA256
    ) -> None:
        self.root = Path(root).expanduser()
        self.download, self.url, self.sha256 = download, url, sha256
        self._files: dict[str, tuple[list[Path], list[int]]] | None = None

    def file_lists(self) -> dict[str, tuple[list[Path], list[int]]]:
        """{split: (review files, labels)} for the splits present, in sorted file order."""
        if self._files is None:
            if not self.root.is_dir():
                if not self.download:
                    raise UserError(
                        f"data.root={self.root}: no such folder; expected the aclImdb layout "
                        f"{LAYOUT} (or set data.download=true to fetch it)"
                    )
                fetch_and_extract(self.url, self.sha256, self.root, ARCHIVE_FOLDER)
            files = {}
            for split in SPLITS:
                listed = self._list(split)
                if listed is not None:
                    files[split] = listed
            if "train" not in files:
                raise UserError(
                    f"data.root={self.root} has no train/ folder; "
                    f"expected the aclImdb layout {LAYOUT}"
                )
            if "test" not in files:
                log.warning(
                    "data.root=%s has no test/ folder: no test split, so the test stage is skipped",
                    self.root,
                )
            self._files = files
        return self._files

    def _list(self, split: str) -> tuple[list[Path], list[int]] | None:
        folder = self.root / split
        if not folder.is_dir():
            return None
        paths: list[Path] = []
        labels: list[int] = []
        for name, label in FOLDER_LABELS.items():
            reviews = sorted((folder / name).glob("*.txt")) if (folder / name).is_dir() else []
            if not reviews:
                raise UserError(
                    f"data.root={self.root}: no {split}/{name}/*.txt reviews; "
                    f"expected the aclImdb layout {LAYOUT}"
                )
            paths.extend(reviews)
            labels.extend([label] * len(reviews))
        return paths, labels

    def load(self) -> dict[str, tuple[list[str], list[int]]]:
        """{split: (texts, labels)}; "train" always, "test" when the folder exists."""
        splits = {}
        for split, (paths, labels) in self.file_lists().items():
            texts, replaced = [], 0
            for path in paths:
                text, bad = read_review(path)
                texts.append(text)
                replaced += bad
            if replaced:
                log.warning(
                    "%s/%s: %d reviews had invalid UTF-8; bad bytes were replaced by U+FFFD",
                    self.root,
                    split,
                    replaced,
                )
            splits[split] = (texts, labels)
        return splits

    def streams(self, val_fraction: float, seed: int) -> dict[str, FilePerExample]:
        """File lists per split; val is carved from train exactly as in memory (same reviews)."""
        files = self.file_lists()
        paths, labels = files["train"]
        # carve_validation only looks at labels and positions, so paths can stand in for texts
        train, val = carve_validation(
            TextSplit([str(p) for p in paths], labels), val_fraction, seed
        )
        sources = {
            "train": FilePerExample([Path(p) for p in train.texts], train.labels, review_text),
            "val": FilePerExample([Path(p) for p in val.texts], val.labels, review_text),
        }
        if "test" in files:
            sources["test"] = FilePerExample(*files["test"], review_text)
        return sources


def imdb_datamodule(
    root: str, download: bool = False, url: str = URL, sha256: str = SHA256, **options: Any
) -> TextDataModule:
    """`TextDataModule` over `AclImdb`; `options` are the datamodule's own arguments."""
    return TextDataModule(AclImdb(root, download, url, sha256), **options)
