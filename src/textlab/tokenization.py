"""Train, cache and load tokenizers (HF `tokenizers`): BPE or word-level, with [PAD] [UNK] [CLS]
(and [MASK] for masked-language-model pretraining)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence, Sized
from dataclasses import asdict, dataclass
from pathlib import Path

from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from textlab.base.atomic import write_text_atomic
from textlab.base.errors import UserError, require
from textlab.base.fingerprint import fingerprint_json

log = logging.getLogger(__name__)

PAD_TOKEN, UNK_TOKEN, CLS_TOKEN = "[PAD]", "[UNK]", "[CLS]"
# Order fixes the ids: [PAD]=0, [UNK]=1, [CLS]=2 for every tokenizer textlab trains.
SPECIAL_TOKENS = (PAD_TOKEN, UNK_TOKEN, CLS_TOKEN)
# Only tokenizers trained for pretraining have it (id 3), so classifier-only tokenizers, and the
# runs made with them, stay as they were.
MASK_TOKEN = "[MASK]"
KINDS = ("bpe", "word")
MAX_VOCAB_SIZE = 1_000_000


@dataclass(frozen=True)
class TokenizerSpec:
    """What to train: `kind` (bpe | word), vocabulary size, minimum pair/word frequency, case,
    and whether to reserve a [MASK] token (`mask_token`, set by mode=pretrain)."""

    kind: str = "bpe"
    vocab_size: int = 8000
    min_frequency: int = 2
    lowercase: bool = True
    mask_token: bool = False

    @property
    def special_tokens(self) -> tuple[str, ...]:
        return SPECIAL_TOKENS + ((MASK_TOKEN,) if self.mask_token else ())

    def __post_init__(self) -> None:
        require(self.kind in KINDS, "kind", self.kind, f"one of {', '.join(KINDS)}")
        require(
            isinstance(self.vocab_size, int) and self.vocab_size > len(self.special_tokens),
            "vocab_size",
            self.vocab_size,
            f"an integer > {len(self.special_tokens)} (room for {' '.join(self.special_tokens)})",
        )
        # the tokenizers library allocates for the size asked (1e9 aborts the process); no
        # corpus textlab trains on yields a million distinct merges or words
        require(
            self.vocab_size <= MAX_VOCAB_SIZE,
            "vocab_size",
            self.vocab_size,
            f"at most {MAX_VOCAB_SIZE}",
        )
        require(
            isinstance(self.min_frequency, int) and self.min_frequency >= 1,
            "min_frequency",
            self.min_frequency,
            "an integer >= 1",
        )

    def train(self, texts: Iterable[str]) -> Tokenizer:
        """Train a fresh tokenizer on `texts` (the training split only; pretraining adds
        unlabelled text, streamed: `texts` need not have a length)."""
        limits = {
            "vocab_size": self.vocab_size,
            "min_frequency": self.min_frequency,
            "special_tokens": list(self.special_tokens),
            "show_progress": False,
        }
        if self.kind == "bpe":
            tokenizer = Tokenizer(models.BPE(unk_token=UNK_TOKEN))
            trainer = trainers.BpeTrainer(**limits)
            tokenizer.decoder = decoders.BPEDecoder()
        else:
            tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
            trainer = trainers.WordLevelTrainer(**limits)
        steps = [normalizers.NFKC()] + ([normalizers.Lowercase()] if self.lowercase else [])
        tokenizer.normalizer = normalizers.Sequence(steps)
        tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
        length = len(texts) if isinstance(texts, Sized) else None
        tokenizer.train_from_iterator(texts, trainer=trainer, length=length)
        # Every sequence starts with [CLS], for models that pool it (transformer pooling=cls);
        # the others read it as one more token.
        tokenizer.post_processor = processors.TemplateProcessing(
            single=f"{CLS_TOKEN} $A", special_tokens=[(CLS_TOKEN, tokenizer.token_to_id(CLS_TOKEN))]
        )
        yielded = tokenizer.get_vocab_size()
        if yielded < self.vocab_size:
            # not a fault (the model is sized by what the tokenizer holds, and the embedded
            # corpus never fills the default), but a user tuning tokenizer.vocab_size should
            # know that values above this change nothing
            log.info(
                "tokenizer.vocab_size=%d: the training text yields only %d tokens (min_frequency"
                "=%d); the model is sized for %d, and larger values give the same tokenizer",
                self.vocab_size,
                yielded,
                self.min_frequency,
                yielded,
            )
        return tokenizer

    def cache_key(self, data_fingerprint: str) -> str:
        spec = asdict(self)
        if not self.mask_token:
            del spec["mask_token"]  # keeps the cache keys tokenizers had before the field
        return fingerprint_json({"spec": spec, "data": data_fingerprint})[:20]

    def load_or_train(
        self, texts: Iterable[str], data_fingerprint: str, cache_dir: str | Path
    ) -> Tokenizer:
        """Reuse the tokenizer cached for (this spec, this training data), or train and cache it."""
        path = (
            Path(cache_dir) / "tokenizers" / f"{self.kind}-{self.cache_key(data_fingerprint)}.json"
        )
        if path.is_file():
            try:
                tokenizer = load_tokenizer(path)
            except UserError as err:
                # a cache entry is only a shortcut: a damaged one is rebuilt, not fatal
                log.warning("Ignoring an unreadable cached tokenizer, training again: %s", err)
            else:
                log.info("Tokenizer cache hit: %s", path)
                return tokenizer
        log.info(
            "Training %s tokenizer (vocab_size=%d) on %s texts",
            self.kind,
            self.vocab_size,
            len(texts) if isinstance(texts, Sized) else "streamed",
        )
        tokenizer = self.train(texts)
        write_text_atomic(path, tokenizer.to_str())
        return tokenizer


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a saved tokenizer, with a clear error for a missing or corrupt file."""
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as err:
        raise UserError(f"{path}: not a readable tokenizer.json ({err})") from None
    return tokenizer


def encode_ids(tokenizer: Tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids as every model reads them: [CLS] first, cut to `max_length` ids in all.

    The one rule shared by training (in memory and streamed), evaluation and prediction.
    """
    return [encoding.ids[:max_length] for encoding in tokenizer.encode_batch(list(texts))]


def encode_spans(
    tokenizer: Tokenizer, text: str, max_length: int
) -> tuple[list[int], list[tuple[int, int]]]:
    """`encode_ids`'s ids for one text, with each kept token's (start, end) characters in it;
    [CLS] is (0, 0). For showing which words a prediction rests on (mode=serve's demo)."""
    encoding = tokenizer.encode(text)
    return encoding.ids[:max_length], encoding.offsets[:max_length]


def tokenizer_fingerprint(tokenizer: Tokenizer) -> str:
    """sha256 of the tokenizer's JSON: names it in caches and provenance."""
    return fingerprint_json(tokenizer.to_str())


def special_id(tokenizer: Tokenizer, token: str) -> int:
    """Id of one of SPECIAL_TOKENS; a tokenizer without it was not made by textlab."""
    token_id = tokenizer.token_to_id(token)
    if token_id is None:
        raise UserError(f"tokenizer has no {token} token; expected one trained by textlab")
    return token_id


def mask_id(tokenizer: Tokenizer) -> int:
    """Id of [MASK], the token masked-language-model pretraining hides others behind."""
    token_id = tokenizer.token_to_id(MASK_TOKEN)
    if token_id is None:
        raise UserError(
            f"tokenizer has no {MASK_TOKEN} token; masked-language-model pretraining needs one "
            "trained by mode=pretrain"
        )
    return token_id


def special_ids(tokenizer: Tokenizer) -> list[int]:
    """Ids of the special tokens the tokenizer has ([MASK] only after mode=pretrain): never
    masked, predicted or hidden as words."""
    ids = (tokenizer.token_to_id(token) for token in (*SPECIAL_TOKENS, MASK_TOKEN))
    return [i for i in ids if i is not None]


def pad_id(tokenizer: Tokenizer) -> int:
    """Id of [PAD], the id the collator pads with and models ignore."""
    return special_id(tokenizer, PAD_TOKEN)
