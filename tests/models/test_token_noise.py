"""Token masking while training (`module.token_mask_rate`): its statistics, its ids, and that
only training batches are masked."""

import pytest
import torch
from lightning.pytorch.callbacks import Callback
from quiet_trainer import quiet_trainer
from torch import nn
from torch.utils.data import DataLoader

from textlab.base.errors import ConfigValueError
from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.models.token_noise import NoiseIds, mask_at_random
from textlab.module import TextClassifier
from textlab.tokenization import CLS_TOKEN, MASK_TOKEN, PAD_TOKEN, UNK_TOKEN, TokenizerSpec

IDS = NoiseIds(noise=3, special=(0, 1, 2, 3))


def test_masks_the_stated_share_of_real_tokens_and_nothing_else():
    torch.manual_seed(0)
    ids = torch.randint(0, 50, (64, 400))
    ids[:, 0] = 2  # [CLS]
    lengths = torch.randint(1, 401, (64,))
    attention = torch.arange(400) < lengths.unsqueeze(1)
    ids[~attention] = 0
    masked = mask_at_random(ids, attention, 0.25, IDS)

    changed = masked != ids
    assert (masked[changed] == 3).all()
    eligible = attention & (ids > 3)
    assert not changed[~eligible].any()  # padding, [CLS], [UNK] and [MASK] itself stay
    share = changed.sum() / eligible.sum()
    # 0.25 of ~10k eligible tokens: the standard deviation is under 0.005
    assert share == pytest.approx(0.25, abs=0.02)
    # independent per token: rows are masked at about the same rate, not all or nothing
    per_row = changed.sum(1).float() / eligible.sum(1).clamp_min(1)
    long_rows = eligible.sum(1) > 200
    assert per_row[long_rows].min() > 0.15 and per_row[long_rows].max() < 0.35
    assert torch.equal(mask_at_random(ids, attention, 0.0, IDS), ids)


def test_the_noise_is_mask_after_pretraining_and_unk_otherwise(tiny_texts):
    texts = tiny_texts[0]
    for mask_token, noise in ((True, MASK_TOKEN), (False, UNK_TOKEN)):
        tokenizer = TokenizerSpec(vocab_size=120, min_frequency=1, mask_token=mask_token).train(
            texts
        )
        ids = NoiseIds.of(tokenizer)
        assert ids.noise == tokenizer.token_to_id(noise)
        specials = {PAD_TOKEN, UNK_TOKEN, CLS_TOKEN} | ({MASK_TOKEN} if mask_token else set())
        assert set(ids.special) == {tokenizer.token_to_id(token) for token in specials}


class Recording(nn.Module):
    """Mean of embeddings → head, keeping the ids of every forward pass and the mode it ran in."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(40, 8, padding_idx=0)
        self.head = nn.Linear(8, 2)
        self.seen: list[tuple[bool, torch.Tensor]] = []

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        self.seen.append((self.training, input_ids.clone()))
        hidden = self.embedding(input_ids) * attention_mask.unsqueeze(-1)
        return self.head(hidden.sum(1) / attention_mask.sum(1, keepdim=True))


class Batches(Callback):
    def __init__(self) -> None:
        self.given: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.given.append(batch["input_ids"].clone())


def module(rate: float, noise_ids: NoiseIds | None = IDS) -> TextClassifier:
    optimizer = lambda params: torch.optim.AdamW(params, lr=1e-2)  # noqa: E731
    return TextClassifier(
        Recording(), 2, optimizer=optimizer, token_mask_rate=rate, noise_ids=noise_ids
    )


def test_training_batches_are_masked_and_validation_batches_are_not():
    torch.manual_seed(0)
    sequences = [[2, *torch.randint(4, 40, (30,)).tolist()] for _ in range(8)]
    loader = DataLoader(
        TokenizedDataset.from_sequences(sequences, [0, 1] * 4),
        batch_size=4,
        collate_fn=PaddingCollator(pad_id=0),
    )
    classifier, batches = module(0.5), Batches()
    trainer = quiet_trainer(max_epochs=2, callbacks=[batches], num_sanity_val_steps=0)
    trainer.fit(classifier, train_dataloaders=loader, val_dataloaders=loader)

    training = [ids for was_training, ids in classifier.net.seen if was_training]
    validation = [ids for was_training, ids in classifier.net.seen if not was_training]
    assert len(training) == len(batches.given) == 4 and len(validation) == 4
    for seen, given in zip(training, batches.given, strict=True):
        hidden = seen != given
        assert (seen[hidden] == 3).all() and (given[:, 0] == seen[:, 0]).all()  # [CLS] kept
        assert 0.3 < hidden.float().mean() < 0.7
    # each epoch draws new positions
    assert not torch.equal(training[0], training[2])
    clean = torch.cat([batch for batch in batches.given[:2]])
    for seen in validation:
        assert not (seen == 3).any()
        assert any(torch.equal(seen, part) for part in clean.split(4))


def test_the_ids_are_not_saved_as_hyperparameters():
    classifier = module(0.2)
    assert classifier.hparams.token_mask_rate == 0.2
    assert "noise_ids" not in classifier.hparams


@pytest.mark.parametrize("rate", [-0.1, 1.0, float("nan")])
def test_a_bad_rate_is_a_config_error(rate):
    with pytest.raises(ConfigValueError, match=r"token_mask_rate.*a number in \[0, 1\)"):
        module(rate)
