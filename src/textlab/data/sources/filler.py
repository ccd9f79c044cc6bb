"""Neutral filler for the synthetic corpus: names, places, plot material, sentence templates."""

from __future__ import annotations

from textlab.data.sources.lexicon import phrases

FIRST_NAMES = phrases(
    """
    anna, ben, clara, daniel, elena, felix, grace, hugo, iris, jonas, kate, leo, maya, nico,
    olivia, paul, quinn, rosa, sam, tara, victor, wendy, yusuf, zoe, marcus, ingrid, tomas,
    priya, omar, lucia, henrik, amara, dmitri, sofia, ravi, nadia, jack, helen, mateo, keiko,
    ezra, frances, walter, june, arthur, lena, otto, bianca, silas, noor
    """
)

LAST_NAMES = phrases(
    """
    moreau, keller, okafor, lindqvist, tanaka, brennan, castillo, novak, haddad, fischer,
    oyelaran, marsh, delgado, whitfield, kowalski, reyes, sato, holm, barrett, mendez, volkov,
    ashby, quinlan, ferreira, lund, abernathy, chen, dubois, hartmann, iyer, jansen, kaur,
    larsen, monroe
    """
)

PLACES = phrases(
    """
    lisbon, glasgow, oslo, marseille, detroit, montreal, naples, krakow, tucson, dublin,
    reykjavik, osaka, lagos, valparaiso, tbilisi, halifax, trieste, duluth, porto, seville,
    riga, galway, bergen, antwerp, memphis, a small town in maine, the scottish highlands,
    rural portugal, the texas panhandle, a fishing village in norway, the outskirts of paris,
    northern ontario
    """
)

OCCUPATIONS = phrases(
    """
    nurse, ferry captain, retired detective, schoolteacher, night-shift baker, locksmith,
    cartographer, insurance clerk, beekeeper, translator, radio host, mechanic, violin teacher,
    court stenographer, bookbinder, lighthouse keeper, forensic accountant, zookeeper, taxi
    driver, librarian, marine biologist, wedding planner, hotel porter, surveyor, tailor,
    ambulance driver
    """
)

RELATIVES = phrases(
    """
    sister, brother, father, mother, cousin, daughter, son, uncle, aunt, grandmother, neighbor,
    business partner, former teacher
    """
)

# May hold {place}, {n} or {relative}: filled in a second pass.
PLOT_EVENTS = phrases(
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

PLOT_ACTIONS = phrases(
    """
    cross the border before the snow comes, plan a wedding in {n} days, track down a lost
    recording, rebuild a burned-down diner, deliver a package to {place}, prepare for a chess
    tournament, care for an aging {relative}, sort out an inheritance, look for a missing dog,
    fix up a house they cannot afford
    """
)

SECRETS = phrases(
    """
    has been writing letters under a false name, sold the family house years ago, was once
    married to the mayor, stayed in {place} all along, owes money to the wrong people, has a
    twin, kept the first draft
    """
)

VENUES = phrases(
    """
    a small art-house cinema, a drive-in, a festival screening, a multiplex, a university film
    club, home on a rainy sunday, an outdoor screening
    """
)

COMPANIONS = phrases(
    """
    my sister, a friend from work, my parents, my roommate, my partner, two friends, my film
    club, my kids
    """
)

FESTIVALS = phrases(
    """
    cannes, sundance, venice, berlin, toronto, telluride, locarno, rotterdam, tribeca, san
    sebastian
    """
)

MONTHS = phrases(
    """
    january, february, march, april, may, june, july, august, september, october, november,
    december
    """
)

TITLE_WORDS = phrases(
    """
    harbor, winter, silver, lantern, orchard, midnight, paper, river, glass, north, salt, echo,
    copper, meridian, ashes, tide, lighthouse, signal, summer, quarry, ledger, compass, static,
    violet
    """
)

LANGUAGES = phrases(
    """
    french, portuguese, norwegian, japanese, korean, italian, polish, spanish, danish, german
    """
)

SETTINGS = phrases(
    """
    boarding house, fish cannery, roadside motel, apartment block, country estate, research
    station, ferry terminal, department store
    """
)

ORDINALS = phrases("first, second, third, fourth, fifth")

# Filler templates; every {slot} is drawn fresh per sentence, {title} is fixed per review.
TEMPLATES = (
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

# Slot name -> word list (or inclusive number range) for TEMPLATES.
SLOT_WORDS = {
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
SLOT_NUMBERS = {"n": (2, 40), "year": (1950, 2024), "year2": (1900, 2024), "minutes": (78, 185)}
