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
from typing import NamedTuple

from textlab.data import filler as neutral
from textlab.data import lexicon as lex
from textlab.errors import require

LABEL_NAMES = ("negative", "positive")

# Review kinds and their shares; "plain" (no negation, no contrast) is the only kind a
# bag of words can read, so its share sets roughly how well word counts can do.
KIND_WEIGHTS = {"plain": 0.35, "consistent": 0.35, "mixed": 0.3}
NEGATION_RATE = 0.5  # 0.5 makes every sentiment word equally likely in either class
CONTRAST_RATE = 0.35
VERDICT_IN_CONSISTENT = 0.3  # verdicts also close agreeing reviews, so a cue is no giveaway
OPINIONS_CONSISTENT = (1, 3)  # how many opinion sentences, inclusive range
OPINIONS_MIXED = (1, 3)  # aspect sentences before the verdict
# Filler count ~ lognormal: median ~4 sentences, a long tail capped by max_words.
FILLER_MEDIAN, FILLER_SIGMA, FILLER_MAX = 4.0, 0.9, 40
# Opinions must start within this many words so that 256-token truncation keeps them.
HEAD_BUDGET = 110
# Clause shapes; film-level ones (verdicts) can also judge with nouns and advice.
ASPECT_FORMS = ("copula", "copula", "feel", "find", "verb")
FILM_FORMS = ("copula", "noun", "advice", "verb")


class Clause(NamedTuple):
    """The random choices behind one opinion clause; `render_clause` adds the negation."""

    form: str  # copula | feel | find | verb | noun | advice
    subject: str
    plural: bool
    word: str  # adjective, noun, advice phrase, or "past|base" verb
    word_polarity: int
    degree: str  # intensifier/downtoner for the plain reading, maybe ""
    soft_degree: str  # degree word that reads well after "not", maybe ""
    negator: str
    past: bool
    contracted: bool

    def polarity(self, negated: bool) -> int:
        """Polarity of the clause: the word's own, flipped when negated."""
        return self.word_polarity ^ int(negated)


def _maybe(rng: random.Random, words: tuple[str, ...], p: float) -> str:
    """A random entry of `words` with probability `p`, else the empty string."""
    word = rng.choice(words)
    return word if rng.random() < p else ""


def _sentiment_word(rng: random.Random, form: str, aspect: lex.Aspect, polarity: int) -> str:
    if form == "noun":
        return rng.choice(lex.POSITIVE_NOUNS if polarity else lex.NEGATIVE_NOUNS)
    if form == "advice":
        return rng.choice(lex.POSITIVE_ADVICE if polarity else lex.NEGATIVE_ADVICE)
    if form == "verb":
        return rng.choice(lex.POSITIVE_VERBS if polarity else lex.NEGATIVE_VERBS)
    specific = aspect.positive if polarity else aspect.negative
    general = lex.POSITIVE_ADJECTIVES if polarity else lex.NEGATIVE_ADJECTIVES
    return rng.choice(specific if rng.random() < 0.5 else general)


def draw_clause(rng: random.Random, word_polarity: int, film_level: bool = False) -> Clause:
    """Draw every choice for a clause up front so its negated twin differs only in negation."""
    aspect = lex.ASPECTS[-1] if film_level else rng.choice(lex.ASPECTS)
    forms = FILM_FORMS if film_level else ASPECT_FORMS
    form = rng.choice(forms)
    subject = rng.choice(aspect.names)
    degrees = {"noun": lex.NOUN_DEGREES, "verb": lex.VERB_INTENSIFIERS}.get(form, lex.INTENSIFIERS)
    return Clause(
        form=form,
        subject=subject.rstrip("+"),
        plural=subject.endswith("+"),
        word=_sentiment_word(rng, form, aspect, word_polarity),
        word_polarity=word_polarity,
        degree=_maybe(rng, degrees, 0.45),
        soft_degree=_maybe(rng, lex.AFTER_NEGATOR, 0.35),
        # "not" is by far the commonest negator in real reviews
        negator="not" if rng.random() < 0.5 else rng.choice(lex.OTHER_NEGATORS),
        past=rng.random() < 0.5,
        contracted=rng.random() < 0.5,
    )


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _join(*parts: str) -> str:
    return " ".join(part for part in parts if part)


def render_clause(clause: Clause, negated: bool) -> str:
    """Text of `clause`, with its sentiment word negated when `negated`."""
    c = clause
    be = ("were" if c.plural else "was") if c.past else ("are" if c.plural else "is")
    be_not = f"{be}n't" if c.contracted else f"{be} not"
    do = "did" if c.past else ("do" if c.plural else "does")
    do_not = f"{do}n't" if c.contracted else f"{do} not"
    if c.form == "copula":
        if not negated:
            return _join(c.subject, be, c.degree, c.word)
        if c.negator == "not":
            return _join(c.subject, be_not, c.soft_degree, c.word)
        return _join(c.subject, be, c.negator, c.word)
    if c.form == "feel":
        feel = "felt" if c.past else ("feel" if c.plural else "feels")
        if not negated:
            return _join(c.subject, feel, c.degree, c.word)
        if c.negator == "never":
            return _join(c.subject, "never", feel, c.word)
        return _join(c.subject, do_not, "feel", c.soft_degree, c.word)
    if c.form == "find":
        if not negated:
            return _join("i found" if c.past else "i find", c.subject, c.degree, c.word)
        if c.negator == "never":
            return _join("i never found", c.subject, c.word)
        lead = "i didn't find" if c.contracted else "i would not call"
        return _join(lead, c.subject, c.soft_degree, c.word)
    if c.form == "verb":
        past, base = c.word.split("|")
        if not negated:
            return _join("i", c.degree, past if c.past else base, c.subject)
        if c.negator == "never":
            return _join("i never", past, c.subject)
        really = "really" if c.degree else ""  # "i didn't really love", not "didn't truly"
        return _join("i didn't" if c.contracted else "i did not", really, base, c.subject)
    if c.form == "noun":
        noun = _join(c.degree, c.word)
        if not negated:
            return _join(c.subject, be, _article(noun), noun)
        if c.negator == "not":
            return _join(c.subject, be_not, _article(noun), noun)
        if c.negator in ("hardly", "far from", "by no means"):
            return _join(c.subject, be, c.negator, _article(noun), noun)
        return _join(c.subject, be, "no", c.word)
    # advice: "i would recommend it" / "i would never recommend it"
    if not negated:
        return _join("i would" if c.contracted else "you should", c.word)
    if c.negator == "never":
        return _join("i would never", c.word)
    return _join("i wouldn't" if c.contracted else "you should not", c.word)


def compose_clause(
    rng: random.Random,
    polarity: int,
    negation_rate: float = NEGATION_RATE,
    film_level: bool = False,
) -> str:
    """A clause of the given polarity, reached through a negation `negation_rate` of the time."""
    negated = rng.random() < negation_rate
    clause = draw_clause(rng, polarity ^ int(negated), film_level)
    return render_clause(clause, negated)


def compose_contrast(
    rng: random.Random, polarity: int, negation_rate: float = NEGATION_RATE
) -> str:
    """Two clauses of opposite polarity joined so that the decisive one has `polarity`."""
    conceded = compose_clause(rng, 1 - polarity, negation_rate)
    decisive = compose_clause(rng, polarity, negation_rate)
    shape = rng.random()
    if shape < 0.55:
        return f"{conceded}{rng.choice(lex.TURN_CONNECTIVES)} {decisive}"
    subordinator = rng.choice(lex.CONCESSIVE_SUBORDINATORS)
    if shape < 0.8:
        return f"{subordinator} {conceded}, {decisive}"
    return f"{decisive}, {subordinator} {conceded}"


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

    label_names = LABEL_NAMES

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
