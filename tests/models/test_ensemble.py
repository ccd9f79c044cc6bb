"""Ensemble: averaged probabilities, per-member crops, own losses and learning rates."""

from functools import partial
from types import SimpleNamespace

import pytest
import torch
from config_compose import compose_config
from omegaconf import OmegaConf
from torch import nn

from textlab.base.errors import ConfigValueError
from textlab.base.instantiate import build
from textlab.models.ensemble import Ensemble, build_ensemble
from textlab.models.factory import build_net
from textlab.models.ngram import NgramClassifier
from textlab.models.protocols import MemberEnsemble
from textlab.models.rnn import RNNClassifier
from textlab.module import TextClassifier


class SeenLength(nn.Module):
    """Constant logits; remembers how many positions it was given."""

    def __init__(self, logits: list[float]) -> None:
        super().__init__()
        self.logits = nn.Parameter(torch.tensor(logits))
        self.seen = None

    def forward(self, input_ids, attention_mask):
        self.seen = input_ids.size(1)
        return self.logits.expand(input_ids.size(0), -1)


def members() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    return {
        "lstm": RNNClassifier(30, 2, 0, embedding_dim=8, hidden_size=8, dropout=0.0),
        "ngram": NgramClassifier(30, 2, 0, buckets=64),
    }


def batch():
    ids = torch.tensor([[2, 5, 6, 9, 4], [2, 6, 5, 0, 0]])
    return ids, ids != 0


def test_softmax_of_the_output_is_the_mean_of_member_probabilities():
    ensemble = Ensemble(members()).eval()
    ids, mask = batch()
    probs = [m(ids, mask).softmax(-1) for m in ensemble.members.values()]
    expected = torch.stack(probs).mean(0)
    assert torch.allclose(ensemble(ids, mask).softmax(-1), expected, atol=1e-6)


def test_weights_set_each_members_share_of_the_average():
    ensemble = Ensemble(members(), weights={"lstm": 0.25}).eval()
    ids, mask = batch()
    lstm, ngram = (m(ids, mask).softmax(-1) for m in ensemble.members.values())
    expected = (0.25 * lstm + 1.0 * ngram) / 1.25
    assert torch.allclose(ensemble(ids, mask).softmax(-1), expected, atol=1e-6)


def test_each_member_reads_its_own_crop():
    short, full = SeenLength([0.0, 1.0]), SeenLength([1.0, 0.0])
    ensemble = Ensemble({"short": short, "full": full}, max_lengths={"short": 3})
    ensemble(*batch())
    assert (short.seen, full.seen) == (3, 5)


def test_module_trains_each_member_on_its_own_loss():
    ensemble = Ensemble(members())
    module = TextClassifier(ensemble, 2, optimizer=partial(torch.optim.SGD, lr=0.1))
    ids, mask = batch()
    labels = torch.tensor([1, 0])
    module._step({"input_ids": ids, "attention_mask": mask, "labels": labels}, "val").backward()
    for member in ensemble.members.values():
        alone = [p.grad.clone() for p in member.parameters()]
        member.zero_grad()
        torch.nn.functional.cross_entropy(member(ids, mask), labels).backward()
        for got, expected in zip(alone, member.parameters(), strict=True):
            assert torch.allclose(got, expected.grad, atol=1e-6)


@pytest.mark.parametrize("dropped", [None, "lstm"])
def test_lr_scale_survives_the_one_cycle_schedule(dropped):
    # a lone member (the others set to null) is one parameter group, and still scaled
    kept = {name: net for name, net in members().items() if name != dropped}
    ensemble = Ensemble(kept, lr_scales={"ngram": 5.0})
    scheduler = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-3)
    module = TextClassifier(
        ensemble, 2, optimizer=partial(torch.optim.AdamW, lr=1e-3), scheduler=scheduler
    )
    module._trainer = SimpleNamespace(estimated_stepping_batches=10)  # what fit() would set
    optimizer = module.configure_optimizers()["optimizer"]
    peaks = [group["max_lr"] for group in optimizer.param_groups]
    assert peaks == pytest.approx([1e-3, 5e-3] if dropped is None else [5e-3])


def test_null_members_are_dropped_and_bad_member_values_name_the_key(tmp_path):
    cfg = compose_config(tmp_path, "model=ensemble", "model.members.lstm=null")
    net = build_net(cfg.model, vocab_size=40, num_classes=2, pad_id=0)
    assert list(net.members) == ["ngram"]

    cfg = compose_config(tmp_path, "model=ensemble", "model.members.lstm.net.hidden_size=0")
    with pytest.raises(ConfigValueError, match=r"^model\.members\.lstm\.net\.hidden_size=0: exp"):
        build_net(cfg.model, vocab_size=40, num_classes=2, pad_id=0)

    cfg = compose_config(tmp_path, "model=ensemble", "model.members.lstm.weight=0")
    with pytest.raises(ConfigValueError, match=r"^model\.members\.lstm\.weight=0\.0: exp"):
        build_net(cfg.model, vocab_size=40, num_classes=2, pad_id=0)

    none_left = OmegaConf.create({"a": None})
    with pytest.raises(ConfigValueError, match="at least one member"):
        build_ensemble(40, 2, 0, none_left)


@pytest.mark.parametrize(
    ("experiment", "sequence_members"),
    [
        ("imdb_lstm_nbsvm", ["lstm"]),
        ("imdb_transformer_nbsvm", ["transformer"]),
        ("imdb_ensemble", ["lstm", "transformer"]),
    ],
)
def test_imdb_experiments_build_their_ensembles(tmp_path, experiment, sequence_members):
    cfg = compose_config(tmp_path, f"experiment={experiment}")
    net = build_net(cfg.model, vocab_size=100, num_classes=2, pad_id=0)
    assert sorted(net.members) == sorted([*sequence_members, "ngram"])
    # the bag of n-grams reads whole reviews, the sequence models their own crops
    assert net.max_lengths["ngram"] is None
    assert all(net.max_lengths[name] < cfg.data.max_length for name in sequence_members)
    ids = torch.randint(1, 100, (2, 600))
    assert net(ids, torch.ones_like(ids, dtype=torch.bool)).shape == (2, 2)


@pytest.mark.parametrize("model", ["lstm", "transformer", "transformer_gpu"])
def test_imdb_sequence_experiments_are_the_model_alone_shaped_like_their_pretraining(
    tmp_path, model
):
    cfg = compose_config(tmp_path, f"experiment=imdb_{model}")
    pretraining = compose_config(tmp_path, f"experiment=imdb_pretrain_{model}")
    assert pretraining.mode == "pretrain"
    net = build_net(cfg.model, vocab_size=100, num_classes=2, pad_id=0)
    assert not isinstance(net, MemberEnsemble)
    # fine-tuning loads the pretraining run's encoder: every tensor must fit
    encoder = build_net(pretraining.model, vocab_size=100, num_classes=2, pad_id=0)
    assert {k: v.shape for k, v in net.state_dict().items()} == {
        k: v.shape for k, v in encoder.state_dict().items()
    }


def test_compile_reaches_the_members_that_training_calls(tmp_path):
    cfg = compose_config(tmp_path, "model=ensemble", "module.compile=true")
    net = build_net(cfg.model, vocab_size=40, num_classes=2, pad_id=0)
    build(cfg.module, "module", net=net, num_classes=2)
    # nn.Module.compile marks the module; TextClassifier calls each member, not the ensemble
    assert all(member._compiled_call_impl is not None for member in net.members.values())
