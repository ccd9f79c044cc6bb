"""The masked-token loss kept up while fine-tuning (`module.mlm_weight`): which tokens it
masks, the head it starts from, and what training backpropagates."""

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from quiet_trainer import quiet_trainer
from torch.utils.data import DataLoader

from textlab.base.errors import ConfigValueError, UserError
from textlab.checkpoint.format import SavedRun
from textlab.checkpoint.pretrained import load_pretrained_head
from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.models.language_model import (
    IGNORE,
    CausalLanguageModel,
    MaskedLanguageModel,
    mask_tokens,
)
from textlab.models.mlm_auxiliary import AuxiliaryMLM
from textlab.models.rnn import RNNClassifier
from textlab.models.token_noise import NoiseIds
from textlab.models.transformer import TransformerClassifier
from textlab.module import TextClassifier

VOCAB, PAD, CLS, MASK = 20, 0, 1, 2
IDS = NoiseIds(MASK, (PAD, CLS, MASK))
WEIGHT = 0.5


def transformer() -> TransformerClassifier:
    torch.manual_seed(0)
    return TransformerClassifier(
        vocab_size=VOCAB, num_classes=2, pad_id=PAD, d_model=16, num_heads=2, num_layers=1,
        ffn_dim=32, dropout=0.0, positional="rotary", pooling="max",
    )  # fmt: skip


def test_only_real_non_special_tokens_are_masked_and_the_loss_is_over_them():
    net = transformer().eval()
    aux = AuxiliaryMLM(net, IDS, rate=1.0)  # every maskable position chosen
    ids = torch.tensor([[CLS, 5, 6, 9, 7], [CLS, 8, 3, PAD, PAD], [CLS, 4, PAD, PAD, PAD]])
    mask = ids != PAD
    torch.manual_seed(1)
    out = aux(net, ids, mask)
    maskable = mask & (ids != CLS)
    assert out.count == maskable.sum() == 7

    torch.manual_seed(1)  # the same draws, by hand
    corrupted, targets = mask_tokens(ids, maskable, MASK, VOCAB, 1.0)
    assert ((targets != IGNORE) == maskable).all()
    states, _ = net.encode(corrupted, mask)
    expected = F.cross_entropy(aux.output(states[maskable]), targets[maskable])
    torch.testing.assert_close(out.loss, expected)


def test_the_pretrained_head_is_copied_and_its_table_is_the_classifiers():
    net = transformer()
    pretrained = MaskedLanguageModel(transformer(), MASK, list(IDS.special))
    with torch.no_grad():
        for parameter in pretrained.output.transform.parameters():
            parameter.normal_()
        pretrained.output.bias.normal_()
    weights = {f"net.{key}": value for key, value in pretrained.state_dict().items()}
    aux = AuxiliaryMLM(net, IDS)
    load_pretrained_head(aux.output, lm_checkpoint(weights, "mlm"))
    theirs = pretrained.output.state_dict()
    for key, value in aux.output.state_dict().items():
        if key != "embedding.weight":
            torch.testing.assert_close(value, theirs[key], rtol=0, atol=0)
    assert aux.output.embedding is net.tokens  # tied to the table the classifier trains

    encoder_only = {key: value for key, value in weights.items() if ".output." not in key}
    with pytest.raises(UserError, match=r"pretrained=lm.ckpt has no net\.output\.\w"):
        load_pretrained_head(aux.output, lm_checkpoint(encoder_only, "auto"))


def test_a_causal_checkpoints_head_is_refused():
    # Its head has the masked-LM head's tensors, so only the objective tells them apart
    causal = CausalLanguageModel(transformer())
    weights = {f"net.{key}": value for key, value in causal.state_dict().items()}
    output = AuxiliaryMLM(transformer(), IDS).output
    with pytest.raises(UserError, match=r"pretrain\.objective=causal; module\.mlm_weight"):
        load_pretrained_head(output, lm_checkpoint(weights, "causal"))
    load_pretrained_head(output, lm_checkpoint(weights, "mlm"))  # the same tensors fit


def lm_checkpoint(weights: dict[str, torch.Tensor], objective: str) -> SavedRun:
    config = {"mode": "pretrain", "pretrain": {"objective": objective}}
    return SavedRun(Path("lm.ckpt"), config, None, (), weights)  # type: ignore[arg-type]


def tiny_loader() -> DataLoader:
    # Label = whether token 5 comes before token 6; the other tokens are the rest of {5, 6, 9},
    # so a masked token is predictable from the others
    sequences = [[1, 5, 6, 9], [1, 6, 5, 9], [1, 9, 5, 6], [1, 9, 6, 5], [1, 5, 9, 6], [1, 6, 9, 5]]
    labels = [1, 0, 1, 0, 1, 0]
    dataset = TokenizedDataset.from_sequences(sequences, labels)
    return DataLoader(dataset, batch_size=3, collate_fn=PaddingCollator(pad_id=PAD))


def module(**options) -> TextClassifier:
    optimizer = lambda params: torch.optim.AdamW(params, lr=1e-2)  # noqa: E731
    return TextClassifier(transformer(), 2, optimizer=optimizer, noise_ids=IDS, **options)


class Losses(Callback):
    """Per step: its epoch, the backpropagated loss, and the classification and masked-token
    losses recomputed on the same batch, weights and random draws (dropout is 0)."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float, float, float]] = []
        self.batch: dict[str, torch.Tensor] | None = None
        self.rng = torch.get_rng_state()

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.batch, self.rng = batch, torch.get_rng_state()

    def on_before_backward(self, trainer, module, loss) -> None:
        assert self.batch is not None
        ids, mask = self.batch["input_ids"], self.batch["attention_mask"]
        now = torch.get_rng_state()
        torch.set_rng_state(self.rng)
        with torch.no_grad():
            clean = F.cross_entropy(module(ids, mask), self.batch["labels"])
            masked = module.mlm(module.net, ids, mask)
        torch.set_rng_state(now)
        # nothing masked (9 maskable tokens a batch, 15% each): no masked-token loss, not NaN
        masked_loss = masked.loss.item() if masked.count else 0.0
        self.rows.append((trainer.current_epoch, loss.item(), clean.item(), masked_loss))


def test_training_adds_the_weighted_masked_token_loss_once_the_encoder_trains_and_learns():
    trained, losses = module(mlm_weight=WEIGHT, freeze_encoder_epochs=1), Losses()
    trainer = quiet_trainer(max_epochs=80, callbacks=[losses])
    trainer.fit(trained, train_dataloaders=tiny_loader(), val_dataloaders=tiny_loader())
    frozen = [row for row in losses.rows if row[0] == 0]
    training = [row for row in losses.rows if row[0] > 0]
    assert len(frozen) == 2 and len(training) == 79 * 2
    for _, total, clean, _ in frozen:  # the head alone: no masked-token pass
        assert total == pytest.approx(clean, rel=1e-5)
    for _, total, clean, masked in training:
        assert total == pytest.approx(clean + WEIGHT * masked, rel=1e-5)
    assert any(masked == 0 for *_, masked in training)  # some batches had none to mask
    metrics = trainer.callback_metrics
    assert metrics["val/acc"] == 1.0
    # the masked token is the one of {5, 6, 9} its review lacks: learnt, far under log(vocab)
    assert metrics["train/loss_mlm"] < 0.5 * math.log(VOCAB)
    # a checkpoint's network is the classifier's alone: the masked-token head sits beside it
    assert not any(key.startswith("mlm") for key in trained.net.state_dict())
    assert any(key.startswith("mlm.output.transform") for key in trained.state_dict())


def test_without_noise_ids_as_when_evaluating_there_is_no_masked_token_head():
    optimizer = lambda params: torch.optim.AdamW(params)  # noqa: E731
    evaluating = TextClassifier(transformer(), 2, optimizer=optimizer, mlm_weight=WEIGHT)
    assert evaluating.mlm is None
    assert module(mlm_weight=0.0).mlm is None


@pytest.mark.parametrize("weight", [-0.5, float("nan")])
def test_a_bad_weight_is_a_config_error(weight):
    with pytest.raises(ConfigValueError, match="mlm_weight.*a number >= 0"):
        module(mlm_weight=weight)


def test_a_network_that_is_not_a_transformer_is_refused():
    net = RNNClassifier(vocab_size=VOCAB, num_classes=2, pad_id=PAD)
    optimizer = lambda params: torch.optim.AdamW(params)  # noqa: E731
    with pytest.raises(ConfigValueError, match="0 for RNNClassifier: .* needs model=transformer"):
        TextClassifier(net, 2, optimizer=optimizer, noise_ids=IDS, mlm_weight=WEIGHT)
