"""Carry a teacher's predictions on aclImdb's unlabelled reviews off a lent GPU machine without
their text, then put the text back here: a `data.extra_train` file for CPU students.

    python benchmarks/teacher_probabilities.py strip PREDICTIONS OUT.jsonl.gz
    python benchmarks/teacher_probabilities.py join STRIPPED.jsonl.gz UNSUP_JSONL OUT.jsonl

`strip` (on the GPU machine): `mode=predict`'s predictions.jsonl on train/unsup is 73 MB, over
what a lease returns (16 MiB a file); without the review texts it is about 1 MB gzipped.
`join` (here): the text of each record from the same `unsup.jsonl` the GPU machine predicted
on (benchmarks/self_training.py `unlabelled_jsonl`: train/unsup in sorted file order, so both
machines number the reviews alike), by the record's `line`. Every line of UNSUP_JSONL must have
exactly one prediction; anything else is a one-line error naming the file and line.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path


def line_of(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False) + "\n"  # as mode=predict writes them


def strip(predictions: Path, out: Path) -> int:
    count = 0
    with (
        predictions.open(encoding="utf-8") as source,
        gzip.open(out, "wt", encoding="utf-8") as sink,
    ):
        for row in source:
            record = json.loads(row)
            record.pop("text")
            sink.write(line_of(record))
            count += 1
    return count


def join(stripped: Path, unsup: Path, out: Path) -> int:
    by_line: dict[int, dict] = {}
    with gzip.open(stripped, "rt", encoding="utf-8") as source:
        for number, row in enumerate(source, start=1):
            record = json.loads(row)
            line = record.get("line")
            if not isinstance(line, int) or line in by_line:
                sys.exit(f"error: {stripped}:{number}: expected a new integer `line`, got {line!r}")
            by_line[line] = record
    count = 0
    with unsup.open(encoding="utf-8") as texts, out.open("w", encoding="utf-8") as sink:
        for count, row in enumerate(texts, start=1):
            record = by_line.pop(count, None)
            if record is None:
                sys.exit(f"error: {stripped}: no prediction for line {count} of {unsup}")
            sink.write(line_of({"line": count, "text": json.loads(row)["text"], **record}))
    if by_line:
        extra = min(by_line)
        sys.exit(f"error: {stripped}: a prediction for line {extra}, past the {count} of {unsup}")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    stripping = commands.add_parser("strip")
    stripping.add_argument("predictions", type=Path)
    stripping.add_argument("out", type=Path)
    joining = commands.add_parser("join")
    joining.add_argument("stripped", type=Path)
    joining.add_argument("unsup", type=Path)
    joining.add_argument("out", type=Path)
    args = parser.parse_args()
    if args.command == "strip":
        print(f"{strip(args.predictions, args.out)} predictions without text in {args.out}")
    else:
        print(f"{join(args.stripped, args.unsup, args.out)} predictions with text in {args.out}")


if __name__ == "__main__":
    main()
