import pytest

from textlab.base.errors import ConfigValueError, UserError
from textlab.base.fingerprint import fingerprint_texts
from textlab.tokenization import (
    CLS_TOKEN,
    PAD_TOKEN,
    SPECIAL_TOKENS,
    UNK_TOKEN,
    TokenizerSpec,
    load_tokenizer,
    pad_id,
)


@pytest.mark.parametrize("kind", ["bpe", "word"])
def test_trained_tokenizer_has_fixed_special_ids_and_prepends_cls(kind, tiny_texts):
    tokenizer = TokenizerSpec(kind=kind, vocab_size=200, min_frequency=1).train(tiny_texts[0])
    assert [tokenizer.token_to_id(token) for token in SPECIAL_TOKENS] == [0, 1, 2]
    encoding = tokenizer.encode("A wonderful film")
    assert encoding.tokens[0] == CLS_TOKEN
    assert UNK_TOKEN not in encoding.tokens  # every word was in training
    assert pad_id(tokenizer) == 0


def test_word_tokenizer_maps_unseen_words_to_unk(tiny_texts):
    tokenizer = TokenizerSpec(kind="word", vocab_size=200, min_frequency=1).train(tiny_texts[0])
    assert tokenizer.encode("wonderful zyzzyva").tokens == [CLS_TOKEN, "wonderful", UNK_TOKEN]


def test_bpe_splits_unseen_words_into_known_pieces(bpe_tokenizer):
    tokens = bpe_tokenizer.encode("wonderfully").tokens[1:]
    assert len(tokens) >= 2 and UNK_TOKEN not in tokens


def test_lowercase_normalisation(tiny_texts):
    tokenizer = TokenizerSpec(kind="word", vocab_size=200, min_frequency=1).train(tiny_texts[0])
    assert tokenizer.encode("GREAT Fun").ids == tokenizer.encode("great fun").ids


def test_vocab_size_caps_the_vocabulary(tiny_texts):
    tokenizer = TokenizerSpec(kind="bpe", vocab_size=40, min_frequency=1).train(tiny_texts[0])
    assert tokenizer.get_vocab_size() <= 40


def test_saved_tokenizer_loads_back_identically(tmp_path, bpe_tokenizer):
    path = tmp_path / "tokenizer.json"
    bpe_tokenizer.save(str(path))
    loaded = load_tokenizer(path)
    text = "not bad at all , a wonderful film"
    assert loaded.encode(text).ids == bpe_tokenizer.encode(text).ids


def test_cache_hit_skips_training(tmp_path, tiny_texts, monkeypatch):
    spec = TokenizerSpec(kind="bpe", vocab_size=100, min_frequency=1)
    texts = tiny_texts[0]
    first = spec.load_or_train(texts, fingerprint_texts(texts), tmp_path)
    assert len(list((tmp_path / "tokenizers").glob("*.json"))) == 1

    def must_not_train(self, texts):
        raise AssertionError("trained again despite a cached tokenizer")

    monkeypatch.setattr(TokenizerSpec, "train", must_not_train)
    second = spec.load_or_train(texts, fingerprint_texts(texts), tmp_path)
    assert second.to_str() == first.to_str()


def test_cache_key_changes_with_config_and_data(tiny_texts):
    spec = TokenizerSpec(kind="bpe", vocab_size=100)
    data = fingerprint_texts(tiny_texts[0])
    assert spec.cache_key(data) == TokenizerSpec(kind="bpe", vocab_size=100).cache_key(data)
    assert spec.cache_key(data) != TokenizerSpec(kind="bpe", vocab_size=101).cache_key(data)
    assert spec.cache_key(data) != spec.cache_key(fingerprint_texts(tiny_texts[0][1:]))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"vocab_size": 3}, "vocab_size"),
        ({"min_frequency": 0}, "min_frequency"),
        ({"kind": "sentencepiece"}, "kind"),
    ],
)
def test_bad_spec_values_name_the_key(kwargs, key):
    with pytest.raises(ConfigValueError, match=rf"^{key}=.*: expected"):
        TokenizerSpec(**kwargs)


def test_corrupt_tokenizer_file_is_a_user_error(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_text("{not json")
    with pytest.raises(UserError, match="tokenizer.json"):
        load_tokenizer(path)


def test_pad_token_is_named_pad():
    assert PAD_TOKEN == "[PAD]"


def test_a_vocab_size_the_text_cannot_fill_is_logged_with_what_it_yields(tiny_texts, caplog):
    caplog.set_level("INFO", logger="textlab.tokenization")
    tokenizer = TokenizerSpec(kind="word", vocab_size=100_000, min_frequency=1).train(tiny_texts[0])
    yielded = tokenizer.get_vocab_size()
    assert yielded < 100_000
    assert (
        f"tokenizer.vocab_size=100000: the training text yields only {yielded} tokens"
        in caplog.text
    )
