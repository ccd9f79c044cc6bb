from functools import partial

import lightning as L
import pytest
import torch
from quiet_trainer import quiet_trainer
from torch.utils.data import DataLoader

from textlab.base.errors import UserError
from textlab.data.collate import PaddingCollator
from textlab.data.dataset import TokenizedDataset
from textlab.models.rnn import RNNClassifier
from textlab.module import TextClassifier


def tiny_module(scheduler=None) -> TextClassifier:
    torch.manual_seed(0)
    net = RNNClassifier(
        vocab_size=20, num_classes=2, pad_id=0, embedding_dim=16, hidden_size=16, dropout=0.0
    )
    optimizer = lambda params: torch.optim.AdamW(params, lr=1e-2)  # noqa: E731
    return TextClassifier(net, num_classes=2, optimizer=optimizer, scheduler=scheduler)


def tiny_loader() -> DataLoader:
    # Label = whether token 5 comes before token 6: order matters, content does not.
    sequences = [[2, 5, 6, 9], [2, 6, 5, 9], [2, 9, 5, 6], [2, 9, 6, 5], [2, 5, 9, 6], [2, 6, 9, 5]]
    labels = [1, 0, 1, 0, 1, 0]
    dataset = TokenizedDataset.from_sequences(sequences, labels)
    return DataLoader(dataset, batch_size=3, collate_fn=PaddingCollator(pad_id=0))


def test_module_learns_a_tiny_task_and_logs_every_stage_metric():
    module = tiny_module()
    trainer = quiet_trainer(max_epochs=60, log_every_n_steps=1)
    trainer.fit(module, train_dataloaders=tiny_loader(), val_dataloaders=tiny_loader())
    metrics = trainer.callback_metrics
    for name in (
        "train/acc",
        "train/f1",
        "train/loss",
        "val/acc",
        "val/f1",
        "val/loss",
        "val/acc_best",
    ):
        assert name in metrics, name
    assert metrics["val/acc"] == 1.0
    assert metrics["val/acc_best"] >= metrics["val/acc"]

    (test,) = trainer.test(module, dataloaders=tiny_loader(), verbose=False)
    assert set(test) == {"test/acc", "test/f1", "test/loss"}
    assert test["test/acc"] == 1.0


def test_epoch_loss_is_the_mean_over_examples():
    module = tiny_module()
    loader = tiny_loader()
    trainer = quiet_trainer(max_epochs=1)
    (result,) = trainer.validate(module, dataloaders=loader, verbose=False)
    with torch.no_grad():
        losses = [
            torch.nn.functional.cross_entropy(
                module(b["input_ids"], b["attention_mask"]), b["labels"], reduction="sum"
            )
            for b in loader
        ]
    expected = float(sum(losses)) / len(loader.dataset)
    assert abs(result["val/loss"] - expected) < 1e-5


def test_scheduler_receives_total_steps_from_the_trainer():
    seen = {}

    def scheduler(optimizer, total_steps):
        seen["total_steps"] = total_steps
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)

    module = tiny_module(scheduler=scheduler)
    quiet_trainer(max_epochs=3).fit(module, train_dataloaders=tiny_loader())
    assert seen["total_steps"] == 3 * 2  # 6 examples / batch 3 = 2 steps per epoch


def test_one_cycle_with_a_one_step_warm_up_trains_instead_of_dividing_by_zero():
    # 2 steps per epoch x 5 epochs x pct_start 0.1 = exactly one warm-up step
    one_cycle = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2, pct_start=0.1)
    module = tiny_module(scheduler=one_cycle)
    quiet_trainer(max_epochs=5).fit(module, train_dataloaders=tiny_loader())
    assert module.trainer.global_step == 10


def test_scheduler_epochs_builds_the_schedule_longer_than_the_run():
    # 2 steps an epoch: a 5-epoch one-cycle schedule, stopped after 3 epochs part-way down it
    one_cycle = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2, epochs=5)
    module = tiny_module(scheduler=one_cycle)
    trainer = quiet_trainer(max_epochs=3)
    trainer.fit(module, train_dataloaders=tiny_loader())
    assert trainer.lr_scheduler_configs[0].scheduler.total_steps == 10
    reference = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1e-2)
    by_hand = torch.optim.lr_scheduler.OneCycleLR(reference, max_lr=1e-2, total_steps=10)
    for _ in range(6):
        reference.step()
        by_hand.step()
    lr = trainer.optimizers[0].param_groups[0]["lr"]
    assert lr == pytest.approx(reference.param_groups[0]["lr"])
    assert lr > 1e-3  # a schedule sized for the 3 epochs would have annealed to 4e-8


def test_a_run_stopped_early_on_a_longer_schedule_equals_the_longer_run_at_that_epoch():
    # what `module.scheduler.epochs=3 trainer.max_epochs=2` promises: the 3-epoch run's
    # weights after its second epoch (its best.ckpt, where the third only overfits)
    one_cycle = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2)
    longer = tiny_module(scheduler=one_cycle)
    after_two = {}

    class KeepEpochTwo(L.Callback):
        def on_train_epoch_end(self, trainer, module):
            if trainer.current_epoch == 1:
                after_two.update({k: v.clone() for k, v in module.state_dict().items()})

    L.seed_everything(0)
    quiet_trainer(max_epochs=3, callbacks=[KeepEpochTwo()]).fit(longer, tiny_loader())
    stopped = tiny_module(scheduler=partial(one_cycle, epochs=3))
    L.seed_everything(0)
    quiet_trainer(max_epochs=2).fit(stopped, tiny_loader())
    weights = stopped.state_dict()
    assert all(torch.equal(weights[k], after_two[k]) for k in after_two if "net." in k)
    assert not torch.equal(weights["net.head.weight"], longer.state_dict()["net.head.weight"])


@pytest.mark.parametrize(
    ("epochs", "trainer_args", "expected"),
    [
        (2, {"max_epochs": 3}, r"epochs=2: expected a whole number .* >= trainer.max_epochs=3"),
        (2.5, {"max_epochs": 2}, "expected a whole number"),
        (4, {"max_steps": 5}, "needs trainer.max_epochs and no trainer.max_steps"),
    ],
)
def test_scheduler_epochs_shorter_than_the_run_is_a_one_line_error(epochs, trainer_args, expected):
    one_cycle = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2, epochs=epochs)
    module = tiny_module(scheduler=one_cycle)
    with pytest.raises(UserError, match=expected):
        quiet_trainer(**trainer_args).fit(module, train_dataloaders=tiny_loader())


def test_target_distributions_are_learned_as_distributions_not_as_labels():
    # Every review's label is 1 but its target says 0.3 / 0.7: soft cross-entropy is lowest
    # where the model answers 0.7; learning the label would drive it towards 1.
    module = tiny_module()
    sequences = [[2, 5, 6, 9], [2, 6, 5, 9], [2, 9, 5, 6], [2, 9, 6, 5]]
    dataset = TokenizedDataset.from_sequences(sequences, [1] * 4).with_targets([[0.3, 0.7]] * 4)
    loader = DataLoader(dataset, batch_size=4, collate_fn=PaddingCollator(pad_id=0))
    batch = next(iter(loader))
    logits = module(batch["input_ids"], batch["attention_mask"])
    by_hand = -(torch.tensor([0.3, 0.7]) * logits.log_softmax(-1)).sum(-1).mean()
    assert torch.allclose(module._loss(logits, batch["targets"]), by_hand)
    quiet_trainer(max_epochs=150).fit(module, train_dataloaders=loader)
    module.eval()
    with torch.no_grad():
        probs = module(batch["input_ids"], batch["attention_mask"]).softmax(-1)
    assert torch.allclose(probs[:, 1], torch.full((4,), 0.7), atol=0.03), probs


def fine_tuning_module(**options) -> TextClassifier:
    torch.manual_seed(0)
    net = RNNClassifier(
        vocab_size=20, num_classes=2, pad_id=0, embedding_dim=16, hidden_size=16, dropout=0.0
    )
    optimizer = partial(torch.optim.AdamW, lr=1e-2, weight_decay=0.1)
    scheduler = partial(torch.optim.lr_scheduler.OneCycleLR, max_lr=1e-2)
    return TextClassifier(net, num_classes=2, optimizer=optimizer, scheduler=scheduler, **options)


def test_embedding_lr_scale_zero_keeps_the_token_table_while_the_rest_trains():
    module = fine_tuning_module(encoder_lr_scale=0.5, embedding_lr_scale=0.0)
    before = {name: p.detach().clone() for name, p in module.net.named_parameters()}
    quiet_trainer(max_epochs=3).fit(module, tiny_loader())
    after = dict(module.net.named_parameters())
    # weight decay too: AdamW's decoupled decay is a multiple of the (zero) rate
    assert torch.equal(after["embedding.weight"], before["embedding.weight"])
    moved = [name for name in before if not torch.equal(after[name], before[name])]
    assert set(moved) == set(before) - {"embedding.weight"}


def test_embedding_lr_scale_multiplies_the_encoders_rate_under_a_one_cycle_schedule():
    module = fine_tuning_module(encoder_lr_scale=0.5, embedding_lr_scale=0.1)
    trainer = quiet_trainer(max_epochs=1)
    trainer.fit(module, tiny_loader())
    net = module.net
    table, lstm, head = net.embedding.weight, net.rnn.weight_hh_l0, net.head.weight
    rates = {}
    for group in trainer.optimizers[0].param_groups:  # where the schedule left them
        for parameter in group["params"]:
            rates[id(parameter)] = group["lr"]
    assert rates[id(lstm)] == pytest.approx(0.5 * rates[id(head)])
    assert rates[id(table)] == pytest.approx(0.1 * rates[id(lstm)])


def test_embedding_lr_scale_on_a_network_without_a_token_table_is_a_one_line_error():
    class Counts(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.head = torch.nn.Linear(1, 2)

        def forward(self, input_ids, attention_mask):
            return self.head(attention_mask.sum(1, keepdim=True).float())

    optimizer = partial(torch.optim.AdamW, lr=1e-2)
    with pytest.raises(UserError, match="embedding_lr_scale.*Counts: it has no single token"):
        TextClassifier(Counts(), num_classes=2, optimizer=optimizer, embedding_lr_scale=0.0)
    with pytest.raises(UserError, match="embedding_lr_scale=-1"):
        fine_tuning_module(embedding_lr_scale=-1.0)
    with pytest.raises(UserError, match="embedding_lr_scale=inf"):
        fine_tuning_module(embedding_lr_scale=float("inf"))
