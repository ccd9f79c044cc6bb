"""Property-based fuzzing (hypothesis) of what textlab reads: whatever the lines of a record
file or of predict.input hold, each is a kept record or a counted skip (data files) or a
prediction or a one-line error (predict.input); never a traceback, never a silent loss, and
every kept text is valid Unicode the tokenizer can encode.

The fast profile runs in CI; `-m slow` runs the deep one (2,000 examples per property).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from textlab.base.errors import UserError
from textlab.data.read_stats import MAX_TEXT_CHARS, ReadStats
from textlab.data.sources.records import read_records
from textlab.modes.predict import read_reviews
from textlab.tokenization import TokenizerSpec, encode_ids

FAST, DEEP = 40, 2000
TOKENIZER = TokenizerSpec(kind="word", vocab_size=50, min_frequency=1).train(["a b c d e"])

# any Unicode, surrogates included (json.dumps escapes them as \udXXX), control characters too
CHARS = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=())
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(CHARS, max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=12,
)
RECORDS = st.fixed_dictionaries(
    {}, optional={"text": JSON_VALUES | st.text(CHARS, max_size=200), "label": JSON_VALUES}
)


def utf8(text: str) -> bytes:
    return text.encode("utf-8")


# raw lines, as bytes: JSON records and values, arbitrary bytes (invalid UTF-8 included), JSON
# nested deeper than the recursion limit, integers past Python's 4300 digits, huge texts
LINES = st.one_of(
    RECORDS.map(json.dumps).map(utf8),
    JSON_VALUES.map(json.dumps).map(utf8),
    st.binary(max_size=80),
    st.integers(1, 60_000).map(lambda n: utf8("[" * n + "]" * n)),
    st.integers(4_000, 6_000).map(lambda n: utf8('{"text": "t", "label": ' + "9" * n + "}")),
    st.just(utf8('{"text": "' + "x" * (MAX_TEXT_CHARS + 1) + '", "label": "a"}')),
).map(lambda line: line.replace(b"\n", b" ").replace(b"\r", b" "))  # one line each
SETTINGS = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}


def write_lines(lines: list[bytes]) -> Path:
    """A record file: a valid record (so no byte-order mark starts the file), then `lines`."""
    path = Path(tempfile.mkdtemp()) / "fuzz.jsonl"
    first = b'{"text": "first", "label": "a"}\n'
    path.write_bytes(first + b"".join(line + b"\n" for line in lines))
    return path


def check_records(lines: list[bytes]) -> None:
    path = write_lines(lines)
    stats = ReadStats()
    records = list(read_records(path, "text", "label", stats))
    # every non-blank line is a kept record or a counted skip: nothing lost without a count
    non_blank = 1 + sum(bool(line.decode("utf-8", "replace").strip()) for line in lines)
    assert stats.kept == len(records)
    assert stats.kept + sum(stats.skipped.values()) == non_blank
    texts = [text for _, text, _ in records]
    for text in texts:
        assert text.strip() and len(text) <= MAX_TEXT_CHARS
        text.encode("utf-8")  # no lone surrogate left
    assert len(encode_ids(TOKENIZER, texts, 16)) == len(texts)


def check_predict_input(lines: list[bytes]) -> None:
    path = write_lines(lines)
    try:
        reviews = list(read_reviews(path, "auto", "text", ReadStats()))
    except UserError as err:
        assert "\n" not in str(err) and str(err).startswith(f"{path}:")
        return
    texts = [text for _, text in reviews]
    assert all(len(text) <= MAX_TEXT_CHARS for text in texts)
    assert len(encode_ids(TOKENIZER, texts, 16)) == len(texts)


@settings(max_examples=FAST, **SETTINGS)
@given(st.lists(LINES, max_size=6))
def test_fuzzed_record_lines_are_kept_or_counted(lines):
    check_records(lines)


@settings(max_examples=FAST, **SETTINGS)
@given(st.lists(LINES, max_size=6))
def test_fuzzed_predict_input_lines_are_predicted_or_one_line_errors(lines):
    check_predict_input(lines)


@pytest.mark.slow
@settings(max_examples=DEEP, **SETTINGS)
@given(st.lists(LINES, max_size=8))
def test_deep_fuzzed_record_lines_are_kept_or_counted(lines):
    check_records(lines)


@pytest.mark.slow
@settings(max_examples=DEEP, **SETTINGS)
@given(st.lists(LINES, max_size=8))
def test_deep_fuzzed_predict_input_lines_are_predicted_or_one_line_errors(lines):
    check_predict_input(lines)
