"""Opinion words and connectives for the synthetic review corpus (filler.py: the rest).

Lists are written as comma-separated phrases so that ruff format keeps them compact.
"""

from __future__ import annotations

from typing import NamedTuple


def phrases(text: str) -> tuple[str, ...]:
    """The comma-separated phrases in `text`, inner whitespace collapsed to one space."""
    return tuple(" ".join(phrase.split()) for phrase in text.split(",") if phrase.strip())


class Aspect(NamedTuple):
    """Something a review can judge, with the adjectives that fit it best."""

    names: tuple[str, ...]  # noun phrases; a trailing "+" marks a plural noun
    positive: tuple[str, ...]
    negative: tuple[str, ...]


# Adjectives that fit any aspect; aspect-specific ones add variety on top.
POSITIVE_ADJECTIVES = phrases(
    """
    good, great, excellent, wonderful, brilliant, superb, fantastic, enjoyable, entertaining,
    engaging, charming, delightful, moving, terrific, remarkable, solid, thrilling, compelling,
    rewarding, impressive, fresh, lively, polished, gripping, inspired, captivating,
    satisfying, effective, memorable, smart
    """
)

NEGATIVE_ADJECTIVES = phrases(
    """
    bad, terrible, awful, boring, dull, tedious, mediocre, weak, poor, forgettable, lifeless,
    tiresome, pointless, bland, dreadful, painful, clumsy, disappointing, lousy, lackluster,
    flat, stale, messy, sloppy, uninspired, dismal, shallow, muddled, irritating, hollow
    """
)

# The last aspect is the film as a whole; verdicts judge only that one.
ASPECTS = (
    Aspect(
        phrases("the acting, the performances+, the cast, the lead performance, the ensemble"),
        phrases("convincing, nuanced, natural, magnetic, committed, believable"),
        phrases("wooden, stiff, hammy, unconvincing, overwrought, robotic"),
    ),
    Aspect(
        phrases("the plot, the story, the script, the screenplay, the storyline"),
        phrases("clever, coherent, original, tight, inventive, absorbing"),
        phrases("predictable, convoluted, contrived, derivative, incoherent, silly"),
    ),
    Aspect(
        phrases("the score, the soundtrack, the music, the songs+"),
        phrases("haunting, stirring, lovely, evocative, catchy, gorgeous"),
        phrases("grating, intrusive, generic, syrupy, overbearing, monotonous"),
    ),
    Aspect(
        phrases("the dialogue, the writing, the banter, the one-liners+"),
        phrases("sharp, witty, crisp, quotable, snappy, natural"),
        phrases("clunky, stilted, cheesy, awkward, corny, leaden"),
    ),
    Aspect(
        phrases("the pacing, the rhythm, the running time, the middle stretch"),
        phrases("brisk, tight, assured, propulsive, well judged, nimble"),
        phrases("sluggish, slow, plodding, dragging, uneven, glacial"),
    ),
    Aspect(
        phrases("the ending, the finale, the climax, the last act, the twist"),
        phrases("satisfying, powerful, surprising, earned, poignant, rousing"),
        phrases("rushed, abrupt, unearned, baffling, anticlimactic, cheap"),
    ),
    Aspect(
        phrases("the cinematography, the visuals+, the camera work, the photography"),
        phrases("stunning, striking, beautiful, luminous, breathtaking, elegant"),
        phrases("murky, ugly, drab, shaky, washed out, garish"),
    ),
    Aspect(
        phrases("the characters+, the heroine, the villain, the supporting roles+"),
        phrases("likable, rich, layered, vivid, sympathetic, complex"),
        phrases("thin, annoying, one-dimensional, cartoonish, unlikable, paper-thin"),
    ),
    Aspect(
        phrases("the direction, the staging, the filmmaking, the tone"),
        phrases("confident, assured, inventive, controlled, bold, precise"),
        phrases("aimless, heavy-handed, sloppy, timid, confused, scattershot"),
    ),
    Aspect(
        phrases("the humor, the jokes+, the comedy, the gags+"),
        phrases("funny, hilarious, clever, warm, sly, witty"),
        phrases("unfunny, lame, juvenile, tired, crude, forced"),
    ),
    Aspect(
        phrases("the effects+, the action scenes+, the fight scenes+, the stunts+"),
        phrases("spectacular, seamless, exciting, dazzling, inventive, kinetic"),
        phrases("fake, cheap, dated, chaotic, incoherent, weightless"),
    ),
    Aspect(
        phrases("the editing, the sound design, the production design, the costumes+"),
        phrases("crisp, detailed, lavish, meticulous, sharp, handsome"),
        phrases("choppy, shoddy, chintzy, careless, muddy, tacky"),
    ),
    Aspect(
        phrases("the opening, the first act, the first half, the second half, the premise"),
        phrases("intriguing, absorbing, riveting, promising, strong, brisk"),
        phrases("slow, confusing, plodding, muddled, sluggish, shaky"),
    ),
    Aspect(
        phrases("the film, the movie, the picture, this one, the whole thing"),
        phrases("beautiful, powerful, fun, heartfelt, thoughtful, rich"),
        phrases("dreary, sour, joyless, cynical, lazy, grim"),
    ),
)

# Verbs as "past|base" so that "i loved" and "i didn't love" share one entry.
POSITIVE_VERBS = phrases(
    """
    loved|love, enjoyed|enjoy, admired|admire, adored|adore, appreciated|appreciate,
    liked|like, relished|relish, savored|savor
    """
)

NEGATIVE_VERBS = phrases(
    """
    hated|hate, disliked|dislike, loathed|loathe, resented|resent, despised|despise,
    detested|detest, deplored|deplore, regretted|regret
    """
)

# Nouns that judge the whole film: "it is a masterpiece" / "it is no masterpiece".
POSITIVE_NOUNS = phrases(
    """
    masterpiece, triumph, delight, gem, treat, joy, marvel, revelation, knockout,
    crowd-pleaser, winner, classic
    """
)

NEGATIVE_NOUNS = phrases(
    """
    mess, disaster, chore, bore, letdown, slog, failure, misfire, dud, snooze, trainwreck,
    waste of time
    """
)

# Recommendations: "i would recommend it" is positive, "i would skip it" negative.
POSITIVE_ADVICE = phrases(
    """
    recommend it, see it, seek it out, watch it again, buy a ticket, tell friends about it, go
    see it twice
    """
)

NEGATIVE_ADVICE = phrases(
    """
    skip it, avoid it, walk out, ask for a refund, wait for something else, turn it off, leave
    early
    """
)

# Degree words never change polarity; AFTER_NEGATOR ones read naturally after "not".
INTENSIFIERS = phrases(
    """
    very, extremely, really, truly, incredibly, remarkably, genuinely, thoroughly, utterly,
    quite, rather, pretty, fairly, somewhat, a bit, a little, slightly, mildly, consistently,
    surprisingly, downright, so
    """
)

AFTER_NEGATOR = phrases(
    """
    very, particularly, especially, all that, terribly, remotely, overly, that, even, exactly,
    entirely, at all
    """
)

VERB_INTENSIFIERS = phrases("really, truly, honestly, absolutely, genuinely, completely")

NOUN_DEGREES = phrases("real, total, genuine, complete, absolute, true")

# Negators besides "not" that can sit between a copula and the adjective ("is hardly good").
OTHER_NEGATORS = phrases(
    """
    never, hardly, barely, scarcely, by no means, far from, in no way, rarely
    """
)

VERDICT_CUES = (
    "overall,",
    "all in all,",
    "in the end,",
    "bottom line:",
    "to sum up,",
    "on balance,",
    "my verdict:",
    "all things considered,",
    "ultimately,",
    "in short,",
    "taken as a whole,",
    "when all is said and done,",
    "final verdict:",
    "in conclusion,",
)

# Connectives after which the clause that follows decides the sentence ...
TURN_CONNECTIVES = (
    ", but",
    ", but honestly",
    "; however,",
    ". however,",
    ", yet",
    ". still,",
    ", but then again",
    ". that said,",
    ", but in fairness",
    ". even so,",
)

# ... and subordinators whose own clause is the concession that does *not* decide.
CONCESSIVE_SUBORDINATORS = phrases(
    """
    although, even though, while, though, even if, despite the fact that
    """
)
