"""The opinion clauses of the embedded corpus: drawn at random, then rendered with or without
a negation that flips their polarity ("not very good", "wasn't bad"), alone or in contrast.

synthetic.py builds sentences and reviews from them; the word lists are lexicon.py's.
"""

from __future__ import annotations

import random
from typing import NamedTuple

from textlab.data.sources import lexicon as lex

NEGATION_RATE = 0.5  # 0.5 makes every sentiment word equally likely in either class
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
