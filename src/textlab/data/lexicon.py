"""Word lists for the synthetic review corpus: opinion words, connectives and neutral filler.

Lists are written as comma-separated phrases so that ruff format keeps them compact.
"""

from __future__ import annotations

from typing import NamedTuple


def _phrases(text: str) -> tuple[str, ...]:
    """The comma-separated phrases in `text`, inner whitespace collapsed to one space."""
    return tuple(" ".join(phrase.split()) for phrase in text.split(",") if phrase.strip())


class Aspect(NamedTuple):
    """Something a review can judge, with the adjectives that fit it best."""

    names: tuple[str, ...]  # noun phrases; a trailing "+" marks a plural noun
    positive: tuple[str, ...]
    negative: tuple[str, ...]


# Adjectives that fit any aspect; aspect-specific ones add variety on top.
POSITIVE_ADJECTIVES = _phrases(
    """
    good, great, excellent, wonderful, brilliant, superb, fantastic, enjoyable, entertaining,
    engaging, charming, delightful, moving, terrific, remarkable, solid, thrilling, compelling,
    rewarding, impressive, fresh, lively, polished, gripping, inspired, captivating,
    satisfying, effective, memorable, smart
    """
)

NEGATIVE_ADJECTIVES = _phrases(
    """
    bad, terrible, awful, boring, dull, tedious, mediocre, weak, poor, forgettable, lifeless,
    tiresome, pointless, bland, dreadful, painful, clumsy, disappointing, lousy, lackluster,
    flat, stale, messy, sloppy, uninspired, dismal, shallow, muddled, irritating, hollow
    """
)

# The last aspect is the film as a whole; verdicts judge only that one.
ASPECTS = (
    Aspect(
        _phrases("the acting, the performances+, the cast, the lead performance, the ensemble"),
        _phrases("convincing, nuanced, natural, magnetic, committed, believable"),
        _phrases("wooden, stiff, hammy, unconvincing, overwrought, robotic"),
    ),
    Aspect(
        _phrases("the plot, the story, the script, the screenplay, the storyline"),
        _phrases("clever, coherent, original, tight, inventive, absorbing"),
        _phrases("predictable, convoluted, contrived, derivative, incoherent, silly"),
    ),
    Aspect(
        _phrases("the score, the soundtrack, the music, the songs+"),
        _phrases("haunting, stirring, lovely, evocative, catchy, gorgeous"),
        _phrases("grating, intrusive, generic, syrupy, overbearing, monotonous"),
    ),
    Aspect(
        _phrases("the dialogue, the writing, the banter, the one-liners+"),
        _phrases("sharp, witty, crisp, quotable, snappy, natural"),
        _phrases("clunky, stilted, cheesy, awkward, corny, leaden"),
    ),
    Aspect(
        _phrases("the pacing, the rhythm, the running time, the middle stretch"),
        _phrases("brisk, tight, assured, propulsive, well judged, nimble"),
        _phrases("sluggish, slow, plodding, dragging, uneven, glacial"),
    ),
    Aspect(
        _phrases("the ending, the finale, the climax, the last act, the twist"),
        _phrases("satisfying, powerful, surprising, earned, poignant, rousing"),
        _phrases("rushed, abrupt, unearned, baffling, anticlimactic, cheap"),
    ),
    Aspect(
        _phrases("the cinematography, the visuals+, the camera work, the photography"),
        _phrases("stunning, striking, beautiful, luminous, breathtaking, elegant"),
        _phrases("murky, ugly, drab, shaky, washed out, garish"),
    ),
    Aspect(
        _phrases("the characters+, the heroine, the villain, the supporting roles+"),
        _phrases("likable, rich, layered, vivid, sympathetic, complex"),
        _phrases("thin, annoying, one-dimensional, cartoonish, unlikable, paper-thin"),
    ),
    Aspect(
        _phrases("the direction, the staging, the filmmaking, the tone"),
        _phrases("confident, assured, inventive, controlled, bold, precise"),
        _phrases("aimless, heavy-handed, sloppy, timid, confused, scattershot"),
    ),
    Aspect(
        _phrases("the humor, the jokes+, the comedy, the gags+"),
        _phrases("funny, hilarious, clever, warm, sly, witty"),
        _phrases("unfunny, lame, juvenile, tired, crude, forced"),
    ),
    Aspect(
        _phrases("the effects+, the action scenes+, the fight scenes+, the stunts+"),
        _phrases("spectacular, seamless, exciting, dazzling, inventive, kinetic"),
        _phrases("fake, cheap, dated, chaotic, incoherent, weightless"),
    ),
    Aspect(
        _phrases("the editing, the sound design, the production design, the costumes+"),
        _phrases("crisp, detailed, lavish, meticulous, sharp, handsome"),
        _phrases("choppy, shoddy, chintzy, careless, muddy, tacky"),
    ),
    Aspect(
        _phrases("the opening, the first act, the first half, the second half, the premise"),
        _phrases("intriguing, absorbing, riveting, promising, strong, brisk"),
        _phrases("slow, confusing, plodding, muddled, sluggish, shaky"),
    ),
    Aspect(
        _phrases("the film, the movie, the picture, this one, the whole thing"),
        _phrases("beautiful, powerful, fun, heartfelt, thoughtful, rich"),
        _phrases("dreary, sour, joyless, cynical, lazy, grim"),
    ),
)

# Verbs as "past|base" so that "i loved" and "i didn't love" share one entry.
POSITIVE_VERBS = _phrases(
    """
    loved|love, enjoyed|enjoy, admired|admire, adored|adore, appreciated|appreciate,
    liked|like, relished|relish, savored|savor
    """
)

NEGATIVE_VERBS = _phrases(
    """
    hated|hate, disliked|dislike, loathed|loathe, resented|resent, despised|despise,
    detested|detest, deplored|deplore, regretted|regret
    """
)

# Nouns that judge the whole film: "it is a masterpiece" / "it is no masterpiece".
POSITIVE_NOUNS = _phrases(
    """
    masterpiece, triumph, delight, gem, treat, joy, marvel, revelation, knockout,
    crowd-pleaser, winner, classic
    """
)

NEGATIVE_NOUNS = _phrases(
    """
    mess, disaster, chore, bore, letdown, slog, failure, misfire, dud, snooze, trainwreck,
    waste of time
    """
)

# Recommendations: "i would recommend it" is positive, "i would skip it" negative.
POSITIVE_ADVICE = _phrases(
    """
    recommend it, see it, seek it out, watch it again, buy a ticket, tell friends about it, go
    see it twice
    """
)

NEGATIVE_ADVICE = _phrases(
    """
    skip it, avoid it, walk out, ask for a refund, wait for something else, turn it off, leave
    early
    """
)

# Degree words never change polarity; AFTER_NEGATOR ones read naturally after "not".
INTENSIFIERS = _phrases(
    """
    very, extremely, really, truly, incredibly, remarkably, genuinely, thoroughly, utterly,
    quite, rather, pretty, fairly, somewhat, a bit, a little, slightly, mildly, consistently,
    surprisingly, downright, so
    """
)

AFTER_NEGATOR = _phrases(
    """
    very, particularly, especially, all that, terribly, remotely, overly, that, even, exactly,
    entirely, at all
    """
)

VERB_INTENSIFIERS = _phrases("really, truly, honestly, absolutely, genuinely, completely")

NOUN_DEGREES = _phrases("real, total, genuine, complete, absolute, true")

# Negators besides "not" that can sit between a copula and the adjective ("is hardly good").
OTHER_NEGATORS = _phrases(
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
CONCESSIVE_SUBORDINATORS = _phrases(
    """
    although, even though, while, though, even if, despite the fact that
    """
)

# Neutral filler: names, places and plot material with no opinion words in them.
FIRST_NAMES = _phrases(
    """
    anna, ben, clara, daniel, elena, felix, grace, hugo, iris, jonas, kate, leo, maya, nico,
    olivia, paul, quinn, rosa, sam, tara, victor, wendy, yusuf, zoe, marcus, ingrid, tomas,
    priya, omar, lucia, henrik, amara, dmitri, sofia, ravi, nadia, jack, helen, mateo, keiko,
    ezra, frances, walter, june, arthur, lena, otto, bianca, silas, noor
    """
)

LAST_NAMES = _phrases(
    """
    moreau, keller, okafor, lindqvist, tanaka, brennan, castillo, novak, haddad, fischer,
    oyelaran, marsh, delgado, whitfield, kowalski, reyes, sato, holm, barrett, mendez, volkov,
    ashby, quinlan, ferreira, lund, abernathy, chen, dubois, hartmann, iyer, jansen, kaur,
    larsen, monroe
    """
)

PLACES = _phrases(
    """
    lisbon, glasgow, oslo, marseille, detroit, montreal, naples, krakow, tucson, dublin,
    reykjavik, osaka, lagos, valparaiso, tbilisi, halifax, trieste, duluth, porto, seville,
    riga, galway, bergen, antwerp, memphis, a small town in maine, the scottish highlands,
    rural portugal, the texas panhandle, a fishing village in norway, the outskirts of paris,
    northern ontario
    """
)

OCCUPATIONS = _phrases(
    """
    nurse, ferry captain, retired detective, schoolteacher, night-shift baker, locksmith,
    cartographer, insurance clerk, beekeeper, translator, radio host, mechanic, violin teacher,
    court stenographer, bookbinder, lighthouse keeper, forensic accountant, zookeeper, taxi
    driver, librarian, marine biologist, wedding planner, hotel porter, surveyor, tailor,
    ambulance driver
    """
)

RELATIVES = _phrases(
    """
    sister, brother, father, mother, cousin, daughter, son, uncle, aunt, grandmother, neighbor,
    business partner, former teacher
    """
)

# May hold {place}, {n} or {relative}: filled in a second pass.
PLOT_EVENTS = _phrases(
    """
    returns home after {n} years away, inherits a house on the edge of town, loses a job at the
    shipyard, receives a letter with no return address, agrees to one last job, moves to
    {place} to start over, searches for a missing {relative}, runs a small bakery near the
    harbor, tries to keep the family farm, investigates a series of break-ins, takes the night
    shift at a hospital, finds a box of old photographs, witnesses an accident on the highway,
    joins a choir to meet people, restores an old sailboat, drives across the country with a
    stranger, buys a failing movie theater, starts working for a reclusive author, spends a
    winter alone in a cabin, trains for a marathon, hides a stolen painting in the attic,
    reconnects with a childhood friend
    """
)

PLOT_ACTIONS = _phrases(
    """
    cross the border before the snow comes, plan a wedding in {n} days, track down a lost
    recording, rebuild a burned-down diner, deliver a package to {place}, prepare for a chess
    tournament, care for an aging {relative}, sort out an inheritance, look for a missing dog,
    fix up a house they cannot afford
    """
)

SECRETS = _phrases(
    """
    has been writing letters under a false name, sold the family house years ago, was once
    married to the mayor, stayed in {place} all along, owes money to the wrong people, has a
    twin, kept the first draft
    """
)

VENUES = _phrases(
    """
    a small art-house cinema, a drive-in, a festival screening, a multiplex, a university film
    club, home on a rainy sunday, an outdoor screening
    """
)

COMPANIONS = _phrases(
    """
    my sister, a friend from work, my parents, my roommate, my partner, two friends, my film
    club, my kids
    """
)

FESTIVALS = _phrases(
    """
    cannes, sundance, venice, berlin, toronto, telluride, locarno, rotterdam, tribeca, san
    sebastian
    """
)

MONTHS = _phrases(
    """
    january, february, march, april, may, june, july, august, september, october, november,
    december
    """
)

TITLE_WORDS = _phrases(
    """
    harbor, winter, silver, lantern, orchard, midnight, paper, river, glass, north, salt, echo,
    copper, meridian, ashes, tide, lighthouse, signal, summer, quarry, ledger, compass, static,
    violet
    """
)

LANGUAGES = _phrases(
    """
    french, portuguese, norwegian, japanese, korean, italian, polish, spanish, danish, german
    """
)

SETTINGS = _phrases(
    """
    boarding house, fish cannery, roadside motel, apartment block, country estate, research
    station, ferry terminal, department store
    """
)

ORDINALS = _phrases("first, second, third, fourth, fifth")

# Filler templates; every {slot} is drawn fresh per sentence, {title} is fixed per review.
FILLER_TEMPLATES = (
    "the story follows {first} {last}, a {occupation} from {place} who {event}.",
    "{first} {last} plays a {occupation} who {event}.",
    "set in {place} in {year}, it tracks {first} and {first2} as they {action}.",
    "the film was shot in {place} over {n} weeks in the spring of {year}.",
    "it runs {minutes} minutes and opened in {month} {year}.",
    "{first} {last} directed it from a screenplay by {first2} {last2}.",
    "the screenplay was adapted from a {year} novel by {first} {last}.",
    "{first} {last} composed the score, and {first2} {last2} handled the editing.",
    "i saw {title} at {venue} with {companion}.",
    "i watched {title} with {companion} last {month}.",
    "the cast also includes {first} {last}, {first2} {last2} and {first3} {last3}.",
    "halfway through, {first} learns that {first2} {secret}.",
    "{title} premiered at {festival} in {year}.",
    "{title} is the {ordinal} feature from {first} {last}.",
    "in the first scene, {first} meets {first2}, a {occupation} who {event}.",
    "most of the action takes place in a {setting} outside {place}.",
    "the production reportedly cost about {n} million dollars.",
    "there is a subplot about the {relative} of {first}, who {event}.",
    "the disc includes a commentary track with {first} {last} and {first2} {last2}.",
    "{companion} had read the book before we went.",
    "the title refers to a {setting} where {first} worked as a {occupation}.",
    "it is the {ordinal} film in a planned trilogy about the {last} family.",
    "the film is in {language} with english subtitles.",
    "{first} spends the next {n} days trying to {action}.",
    "the story jumps back and forth between {year} and {year2}.",
    "{first} {last} also appears as the {relative} of the main character.",
    "the film is based on events that took place in {place} in {year}.",
    "{first2}, the {relative} of {first}, {event}.",
    "after a quarrel with the {relative}, {first} {event}.",
    "the crew spent {n} days filming in a real {setting} in {place}.",
    "{title} was produced by a small company based in {place}.",
    "the role of {first} was written for {first2} {last2}.",
    "by the third act, {first} and the {relative} have to {action}.",
    "it was released on streaming in {month}, a few weeks after its run in theaters.",
    "i went in knowing nothing about {title} except that it was set in {place}.",
    "{first} {last} worked as a {occupation} before turning to acting.",
)

# Slot name -> word list (or inclusive number range) for FILLER_TEMPLATES.
FILLER_WORDS = {
    "first": FIRST_NAMES,
    "first2": FIRST_NAMES,
    "first3": FIRST_NAMES,
    "last": LAST_NAMES,
    "last2": LAST_NAMES,
    "last3": LAST_NAMES,
    "place": PLACES,
    "occupation": OCCUPATIONS,
    "relative": RELATIVES,
    "event": PLOT_EVENTS,
    "action": PLOT_ACTIONS,
    "secret": SECRETS,
    "venue": VENUES,
    "companion": COMPANIONS,
    "festival": FESTIVALS,
    "month": MONTHS,
    "language": LANGUAGES,
    "setting": SETTINGS,
    "ordinal": ORDINALS,
}
FILLER_NUMBERS = {"n": (2, 40), "year": (1950, 2024), "year2": (1900, 2024), "minutes": (78, 185)}
