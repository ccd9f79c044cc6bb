"""Label names shared by the sentiment sources (the embedded corpus and aclImdb)."""

# Index = label id: the order checkpoints, metrics and confusion matrices use.
SENTIMENT_LABELS = ("negative", "positive")
