"""The synthetic review corpus: deterministic, balanced, long-tailed and compositional."""

from __future__ import annotations

import random
import re
import statistics

import pytest

from textlab.base.errors import ConfigValueError
from textlab.data.labels import SENTIMENT_LABELS
from textlab.data.sources import lexicon as lex
from textlab.data.sources import synthetic
from textlab.data.sources.synthetic import SyntheticReviews, generate_reviews
from textlab.data.sources.synthetic_clauses import compose_contrast, draw_clause, render_clause

TURN = r", but |; however,|\. however,|, yet |\. still,|\. that said,|\. even so,"
CONCESSION = r"\b(although|even though|while|though|even if|despite the fact that) "
NEGATION = re.compile(r"\b(not|never|no|hardly|barely|scarcely|rarely|far from|in no way)\b|n't\b")


@pytest.fixture(scope="module")
def corpus() -> tuple[list[str], list[int]]:
    return generate_reviews(2000, seed=7)


def test_same_seed_gives_the_same_reviews_and_another_seed_does_not() -> None:
    assert generate_reviews(50, seed=3) == generate_reviews(50, seed=3)
    assert generate_reviews(50, seed=3)[0] != generate_reviews(50, seed=4)[0]


@pytest.mark.parametrize("num_reviews", [1, 10, 11, 500])
def test_labels_are_split_evenly_between_classes(num_reviews: int) -> None:
    _, labels = generate_reviews(num_reviews, seed=0)
    assert len(labels) == num_reviews
    assert set(labels) <= {0, 1}
    assert abs(2 * sum(labels) - num_reviews) <= 1


def test_lengths_stay_in_bounds_with_a_long_tail(corpus) -> None:
    lengths = [len(text.split()) for text in corpus[0]]
    assert min(lengths) >= 12
    assert max(lengths) <= 400
    assert 50 <= statistics.median(lengths) <= 120
    assert sum(n > 200 for n in lengths) >= 0.02 * len(lengths)


def test_max_words_caps_every_review() -> None:
    texts, _ = generate_reviews(300, seed=1, min_words=5, max_words=30)
    assert max(len(text.split()) for text in texts) <= 30


def test_verdicts_start_early_enough_to_survive_truncation(corpus) -> None:
    # the framework truncates at 256 tokens, so the deciding sentence must come well before
    for text in corpus[0]:
        for cue in lex.VERDICT_CUES:
            start = text.find(f" {cue} ")
            if start >= 0:
                assert len(text[:start].split()) < 150, text


def test_corpus_mixes_negation_contrast_and_verdicts(corpus) -> None:
    texts = corpus[0]

    def share(pattern: str) -> float:
        return sum(bool(re.search(pattern, text)) for text in texts) / len(texts)

    assert share(NEGATION.pattern) > 0.4
    assert share(r"(\bnot|n't) (very|particularly|especially|all that|terribly) \w") > 0.02
    assert share(TURN) > 0.12
    assert share(CONCESSION) > 0.08
    assert share("|".join(re.escape(cue) for cue in lex.VERDICT_CUES)) > 0.2


def test_negators_and_connectives_appear_equally_in_both_classes(corpus) -> None:
    texts, labels = corpus
    verdict = "|".join(re.escape(cue) for cue in lex.VERDICT_CUES)
    for pattern in (NEGATION.pattern, TURN, CONCESSION, verdict):
        hits = [
            label for text, label in zip(texts, labels, strict=True) if re.search(pattern, text)
        ]
        assert 0.4 < sum(hits) / len(hits) < 0.6, pattern


def test_sentiment_words_are_uninformative_in_compositional_reviews(monkeypatch) -> None:
    monkeypatch.setattr(synthetic, "KIND_WEIGHTS", {"consistent": 0.5, "mixed": 0.5})
    texts, labels = generate_reviews(2000, seed=11)
    positive_words = set(lex.POSITIVE_ADJECTIVES)
    in_positive = in_negative = 0
    for text, label in zip(texts, labels, strict=True):
        count = sum(word.strip(".,!;") in positive_words for word in text.split())
        in_positive, in_negative = in_positive + count * label, in_negative + count * (1 - label)
    assert 0.45 < in_positive / (in_positive + in_negative) < 0.55


@pytest.mark.parametrize("seed", range(40))
def test_negating_a_clause_flips_its_polarity_and_nothing_else(seed: int) -> None:
    word_polarity = seed % 2
    clause = draw_clause(random.Random(seed), word_polarity, film_level=seed % 3 == 0)
    plain, negated = render_clause(clause, False), render_clause(clause, True)
    assert clause.polarity(False) == word_polarity
    assert clause.polarity(True) == 1 - word_polarity
    assert NEGATION.search(negated) and not NEGATION.search(plain)
    # same aspect and same sentiment word: the negator is the only thing that changed
    assert clause.word.split("|")[-1] in negated
    assert clause.subject in negated or clause.form == "advice"


@pytest.mark.parametrize("polarity", [0, 1])
def test_contrast_sentence_is_decided_by_the_clause_after_the_turn(polarity: int) -> None:
    positive = set(lex.POSITIVE_ADJECTIVES) | {w for a in lex.ASPECTS for w in a.positive}
    negative = set(lex.NEGATIVE_ADJECTIVES) | {w for a in lex.ASPECTS for w in a.negative}
    decisive_words = positive if polarity else negative
    rng = random.Random(polarity)
    checked = 0
    for _ in range(300):
        sentence = compose_contrast(rng, polarity, negation_rate=0.0)
        parts = re.split(r", but |; however, |\. however, |, yet ", sentence)
        if len(parts) != 2:
            continue
        conceded, decisive = (set(part.split()) for part in parts)
        if conceded & (positive | negative) and decisive & (positive | negative):
            checked += 1
            assert decisive & decisive_words, sentence
            assert not conceded & decisive_words, sentence
    assert checked > 20


def test_load_gives_train_and_test_from_separate_streams() -> None:
    splits = SyntheticReviews(train_size=60, test_size=40, seed=5).load()
    assert set(splits) == {"train", "test"}
    (train_texts, train_labels), (test_texts, test_labels) = splits["train"], splits["test"]
    assert (len(train_texts), len(train_labels), len(test_texts), len(test_labels)) == (
        60,
        60,
        40,
        40,
    )
    assert not set(train_texts) & set(test_texts)
    assert SyntheticReviews(train_size=60, test_size=40, seed=5).load() == splits
    assert SyntheticReviews.label_names == SENTIMENT_LABELS == ("negative", "positive")


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"train_size": 0}, "train_size"),
        ({"test_size": -3}, "test_size"),
        ({"min_words": 0}, "min_words"),
        ({"max_words": 2.5}, "max_words"),
        ({"min_words": 50, "max_words": 20}, "max_words"),
    ],
)
def test_bad_arguments_raise_a_config_error_naming_the_key(kwargs: dict, key: str) -> None:
    with pytest.raises(ConfigValueError, match=rf"^{key}="):
        SyntheticReviews(**kwargs)
