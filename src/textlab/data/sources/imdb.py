"""aclImdb (Maas et al., 2011) in its official layout, downloaded on request.

`<root>/{train,test}/{pos,neg}/*.txt`, one review per file; neg → 0, pos → 1. Other files and
folders (`train/unsup`, `*.feat`) are ignored; `train/urls_{pos,neg}.txt` is read by
`carve="movie"` alone. Without `<root>/test` there is no test split (a warning says so) and the
test stage is skipped. Reviews that are not valid UTF-8 are kept, their bad bytes replaced by
U+FFFD, and counted in a warning (in memory; streamed reviews are repaired the same way,
uncounted). Empty review files and ones longer than MAX_TEXT_CHARS
are skipped and counted when the files are listed, so memory and streaming hold the same
reviews. With `report_dir`, the counts go to skipped.json.
"""

from __future__ import annotations

import copy
import logging
import math
import stat
from pathlib import Path
from typing import Any, Literal

from textlab.base.errors import UserError
from textlab.base.typecheck import passes_options_to
from textlab.data.datamodule import TextDataModule
from textlab.data.labels import SENTIMENT_LABELS
from textlab.data.read_stats import MAX_TEXT_CHARS, ReadStats, write_read_report
from textlab.data.sources.download import fetch_and_extract
from textlab.data.splits import TextSplit, carve_groups, carve_validation
from textlab.data.streaming import FilePerExample

log = logging.getLogger(__name__)

URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
ARCHIVE_FOLDER = "aclImdb"  # the archive's single top-level folder
LAYOUT = "<root>/{train,test}/{pos,neg}/*.txt"
FOLDER_LABELS = {
    "neg": SENTIMENT_LABELS.index("negative"),
    "pos": SENTIMENT_LABELS.index("positive"),
}
SPLITS = ("train", "test")
# Files this short are read when listed, to find whitespace-only ones; longer ones are not
# worth a second read (in memory) or a first one (streaming) for that.
BLANK_PROBE_BYTES = 64
UTF8_MAX_BYTES = 4  # per character
Carve = Literal["random", "movie"]
# Without movie URLs: blocks of adjacent ids stand in for movies, sized so that validation takes
# this many per class. More blocks split more movies at their edges; fewer make the carve hinge
# on a few stretches of movies (one block per class moved the bag's accuracy by 3 points
# between seeds).
BLOCKS_PER_CLASS = 10


def read_review(path: Path) -> tuple[str, bool]:
    """The review's text without a byte-order mark, and whether invalid UTF-8 was replaced."""
    try:
        raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")
    except OSError as err:  # unreadable (permissions), or gone since it was listed
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None
    try:
        return raw.decode("utf-8"), False
    except UnicodeDecodeError:
        return raw.decode("utf-8", errors="replace"), True


def review_text(path: Path) -> str:
    return read_review(path)[0]


def usable_review(path: Path, stats: ReadStats) -> bool:
    """False, counted in `stats`, for an empty review file, one over MAX_TEXT_CHARS, or an entry
    that is not a regular file (a folder, pipe or device named *.txt: never opened, since
    reading a pipe could block forever)."""
    try:
        info = path.stat()
    except OSError as err:  # e.g. a dangling symlink
        raise UserError(f"{path}: cannot read ({err.strerror or err})") from None
    size = info.st_size
    if not stat.S_ISREG(info.st_mode):
        stats.skip("not_a_file", str(path))
    elif size <= BLANK_PROBE_BYTES and not review_text(path).strip():
        stats.skip("empty", str(path))
    elif size > UTF8_MAX_BYTES * MAX_TEXT_CHARS or (
        size > MAX_TEXT_CHARS and len(review_text(path)) > MAX_TEXT_CHARS
    ):
        stats.skip("too_long", str(path))
    else:
        stats.kept += 1
        return True
    return False


class AclImdb:
    """The aclImdb source: `load()` reads every review; `streams()` lists files to read later."""

    label_names = SENTIMENT_LABELS

    def __init__(
        self,
        root: str | Path,
        download: bool = False,
        url: str = URL,
        sha256: str = SHA256,
        report_dir: str | Path | None = None,
        carve: Carve = "random",
    ) -> None:
        self.root = Path(root).expanduser()
        self.download, self.url, self.sha256 = download, url, sha256
        self.report_dir, self.carve = report_dir, carve
        self._files: dict[str, tuple[list[Path], list[int]]] | None = None
        self._listing: dict[str, ReadStats] = {}

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
        stats = self._listing[split] = ReadStats(unit="reviews")
        for name, label in FOLDER_LABELS.items():
            found = sorted((folder / name).glob("*.txt")) if (folder / name).is_dir() else []
            if not found:
                raise UserError(
                    f"data.root={self.root}: no {split}/{name}/*.txt reviews; "
                    f"expected the aclImdb layout {LAYOUT}"
                )
            reviews = [path for path in found if usable_review(path, stats)]
            if not reviews:
                raise UserError(
                    f"data.root={self.root}: every {split}/{name}/*.txt entry is empty, longer "
                    f"than {MAX_TEXT_CHARS} characters or not a file; expected some to train on"
                )
            paths.extend(reviews)
            labels.extend([label] * len(reviews))
        return paths, labels

    def _report(self, stats: dict[str, ReadStats]) -> None:
        for split, split_stats in stats.items():
            split_stats.report(f"{self.root}/{split}")
        write_read_report(self.report_dir, stats)

    def load(self) -> dict[str, tuple[list[str], list[int]]]:
        """{split: (texts, labels)}; "train" always, "test" when the folder exists."""
        splits = {}
        stats = {}
        for split, (paths, labels) in self.file_lists().items():
            stats[split] = copy.deepcopy(self._listing[split])  # load() may run twice
            texts = []
            for path in paths:
                text, bad = read_review(path)
                texts.append(text)
                if bad:
                    stats[split].repair("invalid_utf8", str(path))
            splits[split] = (texts, labels)
        self._report(stats)
        return splits

    def streams(self, val_fraction: float, seed: int) -> dict[str, FilePerExample]:
        """File lists per split; val is carved from train exactly as in memory (same reviews)."""
        files = self.file_lists()
        self._report(self._listing)
        paths, labels = files["train"]
        # carves only look at labels and positions, so paths can stand in for texts
        train, val = self.carve_validation(
            TextSplit([str(p) for p in paths], labels), val_fraction, seed
        )
        sources = {
            "train": FilePerExample([Path(p) for p in train.texts], train.labels, review_text),
            "val": FilePerExample([Path(p) for p in val.texts], val.labels, review_text),
        }
        if "test" in files:
            sources["test"] = FilePerExample(*files["test"], review_text)
        return sources

    def carve_validation(
        self, split: TextSplit, fraction: float, seed: int
    ) -> tuple[TextSplit, TextSplit]:
        """Validation carved from `split`, the train reviews in `file_lists()` order.

        "movie" keeps each movie's reviews on one side, as the official test split (whose
        movies are not in train) does: whole movies by `train/urls_{pos,neg}.txt`, or without
        those files blocks of adjacent review ids (aclImdb numbers a movie's reviews
        consecutively), which split only the movies at their edges.
        """
        if self.carve == "random":
            return carve_validation(split, fraction, seed)
        paths = self.file_lists()["train"][0]
        ids = [review_id(path) for path in paths]
        movies = self.movie_urls(paths, ids)
        if movies is None:
            log.warning(
                "data.carve=movie: no %s/train/urls_{pos,neg}.txt, so movies are approximated "
                "by blocks of adjacent review ids",
                self.root,
            )
            movies = id_blocks(paths, ids, fraction)
        return carve_groups(split, movies, fraction, seed)

    def movie_urls(self, paths: list[Path], ids: list[int]) -> list[str] | None:
        """The movie URL of each review (line `id` of its folder's urls file), or None when
        either urls file is missing."""
        lists = {}
        for folder in FOLDER_LABELS:
            file = self.root / "train" / f"urls_{folder}.txt"
            if not file.is_file():
                return None
            lists[folder] = file.read_text(encoding="utf-8", errors="replace").splitlines()
        urls = []
        for path, id_ in zip(paths, ids, strict=True):
            lines = lists[path.parent.name]
            if id_ >= len(lines):
                raise UserError(
                    f"{self.root}/train/urls_{path.parent.name}.txt has {len(lines)} lines, "
                    f"none for review {path.name}; expected one URL per review id"
                )
            urls.append(lines[id_])
        return urls


def id_blocks(paths: list[Path], ids: list[int], fraction: float) -> list[str]:
    """A stand-in movie for each review: its block of adjacent ids within its folder, blocks
    sized so that `fraction` of a folder is BLOCKS_PER_CLASS of them."""
    blocks = [""] * len(paths)
    for folder in FOLDER_LABELS:
        members = [i for i, path in enumerate(paths) if path.parent.name == folder]
        size = max(1, math.ceil(len(members) * fraction / BLOCKS_PER_CLASS))
        for rank, index in enumerate(sorted(members, key=ids.__getitem__)):
            blocks[index] = f"{folder}:{rank // size}"
    return blocks


def review_id(path: Path) -> int:
    """The id in an aclImdb file name `<id>_<rating>.txt`."""
    head = path.name.partition("_")[0]
    if not head.isdigit():
        raise UserError(f"{path}: data.carve=movie expects aclImdb's <id>_<rating>.txt names")
    return int(head)


@passes_options_to(TextDataModule)
def imdb_datamodule(
    root: str,
    download: bool = False,
    url: str = URL,
    sha256: str = SHA256,
    report_dir: str | None = None,
    carve: Carve = "random",
    **options: Any,
) -> TextDataModule:
    """`TextDataModule` over `AclImdb`; `options` are the datamodule's own arguments."""
    return TextDataModule(AclImdb(root, download, url, sha256, report_dir, carve), **options)
