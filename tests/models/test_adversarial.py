"""Adversarial training on embeddings: the step, its size and direction, and its wiring."""

import pytest
import torch
import torch.nn.functional as F
from lightning.pytorch.callbacks import Callback
from quiet_trainer import quiet_trainer
from torch import nn
from torch.utils.data import DataLoader

from textlab.base.errors import ConfigValueError
from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.models.adversarial import adversarial_losses
from textlab.models.bow import BagOfWordsClassifier
from textlab.models.ngram import NgramClassifier
from textlab.models.protocols import EmbedsTokens
from textlab.models.rnn import RNNClassifier
from textlab.models.transformer import TransformerClassifier
from textlab.module import TextClassifier

EPS = 0.5


class Recording(nn.Module):
    """A small non-linear classifier that keeps the embeddings each forward pass saw."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(20, 8, padding_idx=0)
        self.mix = nn.Linear(8, 8)
        self.head = nn.Linear(8, 2)
        self.seen: list[torch.Tensor] = []

    def token_embedding(self) -> nn.Module:
        return self.embedding

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        embedded = self.embedding(input_ids)
        self.seen.append(embedded.detach())
        return self.from_embedded(embedded, attention_mask)

    def from_embedded(self, embedded: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = torch.tanh(self.mix(embedded)) * attention_mask.unsqueeze(-1)
        return self.head(hidden.sum(1) / attention_mask.sum(1, keepdim=True))


def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    ids = torch.tensor([[3, 4, 5, 6, 7], [8, 9, 10, 0, 0], [11, 3, 12, 13, 0]])
    return ids, ids != 0, torch.tensor([0, 1, 1])


def test_the_step_follows_the_loss_gradient_with_the_stated_norm_and_skips_padding():
    net = Recording()
    ids, mask, labels = batch()
    logits, loss, adversarial = adversarial_losses(
        net, net.embedding, ids, mask, lambda out: F.cross_entropy(out, labels), EPS
    )
    clean, perturbed = net.seen
    step = perturbed - clean
    assert step[~mask].abs().max() == 0
    token_norm = clean.norm(dim=-1)[mask].mean()
    torch.testing.assert_close(step.flatten(1).norm(dim=1), (EPS * token_norm).expand(3))

    leaf = clean.clone().requires_grad_()
    (grad,) = torch.autograd.grad(F.cross_entropy(net.from_embedded(leaf, mask), labels), leaf)
    direction = grad / grad.flatten(1).norm(dim=1).view(-1, 1, 1)
    torch.testing.assert_close(step, EPS * token_norm * direction)
    torch.testing.assert_close(logits, net.from_embedded(clean, mask))

    # the gradient's direction raises the loss; random directions of the same size barely do
    assert adversarial > loss + 0.01
    generator = torch.Generator().manual_seed(0)
    for _ in range(5):
        noise = torch.randn(clean.shape, generator=generator) * mask.unsqueeze(-1)
        noise = EPS * token_norm * noise / noise.flatten(1).norm(dim=1).view(-1, 1, 1)
        randomly = F.cross_entropy(net.from_embedded(clean + noise, mask), labels)
        assert adversarial > randomly


def test_a_frozen_embedding_is_still_perturbed_and_gets_no_gradient():
    net = Recording()
    net.embedding.weight.requires_grad_(False)
    ids, mask, labels = batch()
    _, loss, adversarial = adversarial_losses(
        net, net.embedding, ids, mask, lambda out: F.cross_entropy(out, labels), EPS
    )
    (loss + adversarial).backward()
    assert (net.seen[1] - net.seen[0]).abs().max() > 0
    assert net.embedding.weight.grad is None
    assert net.mix.weight.grad is not None
    assert not net.embedding._forward_hooks  # both hooks removed


@pytest.mark.parametrize(
    "build", [RNNClassifier, TransformerClassifier, BagOfWordsClassifier], ids=lambda c: c.__name__
)
def test_every_model_with_a_token_table_is_pushed_towards_a_higher_loss(build):
    torch.manual_seed(0)
    net = build(vocab_size=20, num_classes=2, pad_id=0).eval()
    assert isinstance(net, EmbedsTokens)
    ids, mask, labels = batch()
    _, loss, adversarial = adversarial_losses(
        net, net.token_embedding(), ids, mask, lambda out: F.cross_entropy(out, labels), EPS
    )
    assert adversarial > loss


def tiny_loader() -> DataLoader:
    # Label = whether token 5 comes before token 6: order matters, content does not.
    sequences = [[2, 5, 6, 9], [2, 6, 5, 9], [2, 9, 5, 6], [2, 9, 6, 5], [2, 5, 9, 6], [2, 6, 9]]
    labels = [1, 0, 1, 0, 1, 0]
    dataset = TokenizedDataset.from_sequences(sequences, labels)
    return DataLoader(dataset, batch_size=3, collate_fn=PaddingCollator(pad_id=0))


def lstm_module(eps: float, **options) -> TextClassifier:
    torch.manual_seed(0)
    net = RNNClassifier(
        vocab_size=20, num_classes=2, pad_id=0, embedding_dim=16, hidden_size=16, dropout=0.0
    )
    optimizer = lambda params: torch.optim.AdamW(params, lr=1e-2)  # noqa: E731
    return TextClassifier(net, num_classes=2, optimizer=optimizer, adversarial_eps=eps, **options)


class TrainingLosses(Callback):
    """Each step's loss as backpropagated, beside the clean and adversarial losses recomputed
    on the same batch and weights (dropout is 0, so both passes are deterministic)."""

    def __init__(self) -> None:
        self.rows: list[tuple[float, float, float]] = []
        self.batch: dict[str, torch.Tensor] | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.batch = batch

    def on_before_backward(self, trainer, module, loss) -> None:
        assert self.batch is not None
        labels = self.batch["labels"]
        _, clean, adversarial = adversarial_losses(
            module.net,
            module.net.token_embedding(),
            self.batch["input_ids"],
            self.batch["attention_mask"],
            lambda logits: F.cross_entropy(logits, labels),
            EPS,
        )
        self.rows.append((loss.item(), clean.item(), adversarial.item()))


def test_training_backpropagates_the_clean_plus_the_adversarial_loss_and_still_learns():
    module, losses = lstm_module(EPS), TrainingLosses()
    trainer = quiet_trainer(max_epochs=60, callbacks=[losses])
    trainer.fit(module, train_dataloaders=tiny_loader(), val_dataloaders=tiny_loader())
    assert len(losses.rows) == 60 * 2
    for total, clean, adversarial in losses.rows:
        assert total == pytest.approx(clean + adversarial, rel=1e-5)
        assert adversarial > clean
    assert trainer.callback_metrics["val/acc"] == 1.0
    # the logged training loss is the clean one: below the last epoch's mean backpropagated loss
    metrics = trainer.callback_metrics
    assert metrics["train/loss"] < sum(row[0] for row in losses.rows[-2:]) / 2
    # and the adversarial loss is logged beside it, per epoch
    assert metrics["train/loss_adversarial"] > metrics["train/loss"]


class LossOverClean(Callback):
    """Per step: its epoch and the backpropagated loss over the clean loss of the same batch."""

    def __init__(self) -> None:
        self.rows: list[tuple[int, float]] = []
        self.batch: dict[str, torch.Tensor] | None = None

    def on_train_batch_start(self, trainer, module, batch, batch_idx) -> None:
        self.batch = batch

    def on_before_backward(self, trainer, module, loss) -> None:
        assert self.batch is not None
        with torch.no_grad():
            logits = module(self.batch["input_ids"], self.batch["attention_mask"])
            clean = F.cross_entropy(logits, self.batch["labels"])
        self.rows.append((trainer.current_epoch, loss.item() / clean.item()))


def test_no_adversarial_pass_while_the_encoder_is_frozen():
    module, ratios = lstm_module(EPS, freeze_encoder_epochs=1), LossOverClean()
    quiet_trainer(max_epochs=2, callbacks=[ratios]).fit(module, train_dataloaders=tiny_loader())
    frozen = [ratio for epoch, ratio in ratios.rows if epoch == 0]
    training = [ratio for epoch, ratio in ratios.rows if epoch == 1]
    assert len(frozen) == len(training) == 2
    assert frozen == pytest.approx([1.0, 1.0], rel=1e-5)
    assert min(training) > 1.5  # clean + adversarial, the adversarial the larger


@pytest.mark.parametrize("eps", [-0.1, float("nan"), float("inf")])
def test_a_bad_eps_is_a_config_error(eps):
    with pytest.raises(ConfigValueError, match="adversarial_eps.*a number >= 0"):
        lstm_module(eps)


def test_a_model_without_a_token_table_or_a_compiled_one_is_refused():
    ngram = NgramClassifier(vocab_size=20, num_classes=2, pad_id=0)
    optimizer = lambda params: torch.optim.AdamW(params)  # noqa: E731
    with pytest.raises(ConfigValueError, match="0 for NgramClassifier: it has no token embedding"):
        TextClassifier(ngram, num_classes=2, optimizer=optimizer, adversarial_eps=EPS)
    net = RNNClassifier(vocab_size=20, num_classes=2, pad_id=0)
    with pytest.raises(ConfigValueError, match="0 with module.compile=true"):
        TextClassifier(net, 2, optimizer=optimizer, compile=True, adversarial_eps=EPS)
