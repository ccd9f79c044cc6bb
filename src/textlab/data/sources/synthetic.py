"""Embedded synthetic movie reviews: binary sentiment decided by composition, not keywords.

A review is neutral filler (plot, cast, production facts) around opinion sentences. Each
opinion clause has a sentiment word whose polarity a negator may flip ("not very good",
"wasn't bad"). Sentence and review labels follow fixed rules:

- a contrast sentence takes the polarity of the clause after "but" / "however" / "yet", or
  of the main clause next to an "although" / "even though" concession;
- a review with a verdict sentence ("overall, ...", "bottom line: ...") takes its polarity,
  whatever the other opinion sentences say (mixed reviews);
- otherwise all opinion sentences agree and give the label.

Negators, connectives and sentiment words are drawn independently of the label, so each
appears about as often in positive as in negative reviews and word counts alone mislead.
"""

from __future__ import annotations

import math
import random
from typing import Any

from textlab.base.errors import require
from textlab.base.typecheck import passes_options_to
from textlab.data.datamodule import TextDataModule
from textlab.data.labels import SENTIMENT_LABELS
from textlab.data.sources import filler as neutral
from textlab.data.sources import lexicon as lex
from textlab.data.sources.synthetic_clauses import compose_clause, compose_contrast

# Review kinds and their shares; "plain" (no negation, no contrast) is the only kind a
# bag of words can read, so its share sets roughly how well word counts can do.
KIND_WEIGHTS = {"plain": 0.35, "consistent": 0.35, "mixed": 0.3}
CONTRAST_RATE = 0.35
VERDICT_IN_CONSISTENT = 0.3  # verdicts also close agreeing reviews, so a cue is no giveaway
OPINIONS_CONSISTENT = (1, 3)  # how many opinion sentences, inclusive range
OPINIONS_MIXED = (1, 3)  # aspect sentences before the verdict
# Filler count ~ lognormal: median ~4 sentences, a long tail capped by max_words.
FILLER_MEDIAN, FILLER_SIGMA, FILLER_MAX = 4.0, 0.9, 40
# Opinions must start within this many words so that 256-token truncation keeps them.
HEAD_BUDGET = 110


def _sentence(text: str, rng: random.Random) -> str:
    return text + ("!" if rng.random() < 0.08 else ".")


def _opinion(rng: random.Random, polarity: int, plain: bool) -> str:
    if plain:
        return _sentence(compose_clause(rng, polarity, negation_rate=0.0), rng)
    if rng.random() < CONTRAST_RATE:
        return _sentence(compose_contrast(rng, polarity), rng)
    return _sentence(compose_clause(rng, polarity), rng)


def _verdict(rng: random.Random, polarity: int) -> str:
    cue = rng.choice(lex.VERDICT_CUES)
    if rng.random() < 0.2:
        return _sentence(f"{cue} {compose_contrast(rng, polarity)}", rng)
    return _sentence(f"{cue} {compose_clause(rng, polarity, film_level=True)}", rng)


def compose_opinions(rng: random.Random, label: int) -> list[str]:
    """The opinion sentences of one review, in order; see the module docstring for the rules."""
    kind = rng.choices(list(KIND_WEIGHTS), weights=list(KIND_WEIGHTS.values()))[0]
    if kind == "plain":
        return [_opinion(rng, label, plain=True) for _ in range(rng.randint(*OPINIONS_CONSISTENT))]
    if kind == "consistent":
        opinions = [
            _opinion(rng, label, plain=False) for _ in range(rng.randint(*OPINIONS_CONSISTENT))
        ]
        if rng.random() < VERDICT_IN_CONSISTENT:
            opinions.append(_verdict(rng, label))
        return opinions
    # mixed: the aspects disagree (at least one against the label) and the verdict decides
    sides = [rng.randint(0, 1) for _ in range(rng.randint(*OPINIONS_MIXED))]
    sides[rng.randrange(len(sides))] = 1 - label
    return [_opinion(rng, side, plain=False) for side in sides] + [_verdict(rng, label)]


def _filler(rng: random.Random, title: str) -> str:
    """One neutral sentence: plot summary, cast or production facts."""
    slots: dict[str, object] = {"title": title}
    slots |= {name: rng.choice(words) for name, words in neutral.SLOT_WORDS.items()}
    slots |= {name: rng.randint(*span) for name, span in neutral.SLOT_NUMBERS.items()}
    # events and actions carry their own {place}/{n}/{relative} slots
    text = rng.choice(neutral.TEMPLATES).format(**slots)
    return text.format(**slots)


def _title(rng: random.Random) -> str:
    first, second = rng.sample(neutral.TITLE_WORDS, 2)
    return rng.choice((f"the {first} {second}", f"{first} {second}", f"the {first}"))


def _words(sentences: list[str]) -> int:
    return sum(len(sentence.split()) for sentence in sentences)


def _review(rng: random.Random, label: int, min_words: int, max_words: int) -> str:
    """One review: opinions early (within HEAD_BUDGET words), filler around and after them."""
    opinions = compose_opinions(rng, label)
    for _ in range(20):  # very small max_words: redraw until the opinions fit
        if _words(opinions) <= max_words:
            break
        opinions = compose_opinions(rng, label)
    title = _title(rng)
    wanted = min(FILLER_MAX, int(rng.lognormvariate(math.log(FILLER_MEDIAN), FILLER_SIGMA)))
    fillers = [_filler(rng, title) for _ in range(wanted)]
    while _words(opinions) + _words(fillers) < min_words:
        fillers.append(_filler(rng, title))
    while fillers and _words(opinions) + _words(fillers) > max_words:
        fillers.pop()
    head: list[str] = list(opinions)
    tail: list[str] = []
    last_opinion = len(head) - 1
    for filler in fillers:
        # before the last opinion only while its start stays inside the head budget
        if rng.random() < 0.6 and _words(head[:last_opinion]) + len(filler.split()) <= HEAD_BUDGET:
            head.insert(rng.randint(0, last_opinion), filler)
            last_opinion += 1
        else:
            tail.append(filler)
    return " ".join(head + tail)


def generate_reviews(
    num_reviews: int, seed: int, min_words: int = 12, max_words: int = 400
) -> tuple[list[str], list[int]]:
    """`num_reviews` reviews with half of each label (±1), deterministic for `seed`."""
    rng = random.Random(seed)
    labels = [i % 2 for i in range(num_reviews)]
    rng.shuffle(labels)
    texts = [_review(rng, label, min_words, max_words) for label in labels]
    return texts, labels


class SyntheticReviews:
    """The embedded default dataset: train and test splits drawn from separate streams."""

    label_names = SENTIMENT_LABELS

    def __init__(
        self,
        train_size: int = 8000,
        test_size: int = 2000,
        seed: int = 0,
        min_words: int = 12,
        max_words: int = 400,
    ) -> None:
        for key, value in (
            ("train_size", train_size),
            ("test_size", test_size),
            ("min_words", min_words),
            ("max_words", max_words),
        ):
            ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
            require(ok, key, value, "a positive integer")
        require(min_words <= max_words, "max_words", max_words, f">= min_words={min_words}")
        self.train_size, self.test_size, self.seed = train_size, test_size, seed
        self.min_words, self.max_words = min_words, max_words

    def load(self) -> dict[str, tuple[list[str], list[int]]]:
        """{"train": (texts, labels), "test": (texts, labels)}."""
        streams = random.Random(self.seed)
        train_seed, test_seed = streams.getrandbits(63), streams.getrandbits(63)
        return {
            "train": generate_reviews(self.train_size, train_seed, self.min_words, self.max_words),
            "test": generate_reviews(self.test_size, test_seed, self.min_words, self.max_words),
        }


@passes_options_to(TextDataModule)
def synthetic_datamodule(
    train_size: int = 8000,
    test_size: int = 2000,
    corpus_seed: int = 0,
    min_words: int = 12,
    max_words: int = 400,
    **options: Any,
) -> TextDataModule:
    """`TextDataModule` over `SyntheticReviews`; `options` are the datamodule's own arguments.

    `corpus_seed` draws the corpus itself; `options["seed"]` (the run's seed) draws the rest.
    """
    source = SyntheticReviews(train_size, test_size, corpus_seed, min_words, max_words)
    return TextDataModule(source, **options)
