"""The micro-batcher groups concurrent submissions into shared batches, keeps order per
caller, survives a failing batch and refuses work past its queue limit; attributions weigh
every kept token."""

from __future__ import annotations

import asyncio

import pytest
import torch

from textlab.checkpoint.format import load_checkpoint
from textlab.run.inference import TextPredictor
from textlab.run.serving.attribution import explain
from textlab.run.serving.backends import length_groups
from textlab.run.serving.batcher import MicroBatcher, QueueFull


def run_with(batcher: MicroBatcher, scenario) -> object:
    async def main():
        task = asyncio.create_task(batcher.serve_forever())
        try:
            return await scenario()
        finally:
            task.cancel()
            batcher.close()

    return asyncio.run(main())


def recording_batcher(max_batch_size: int, batch_timeout: float = 0.05, max_queued: int = 100):
    batches: list[list[int]] = []

    def work(items: list[int]) -> list[int]:
        batches.append(list(items))
        return [item * 10 for item in items]

    return MicroBatcher(work, max_batch_size, batch_timeout, max_queued), batches


def test_concurrent_submissions_share_batches_up_to_the_size_limit():
    batcher, batches = recording_batcher(max_batch_size=4)

    async def scenario():
        return await asyncio.gather(*(batcher.submit([n]) for n in range(10)))

    results = run_with(batcher, scenario)
    assert results == [[n * 10] for n in range(10)]
    assert [len(batch) for batch in batches] == [4, 4, 2]
    assert batcher.batches_run == 3


def test_batch_size_one_runs_each_text_alone_and_a_long_request_is_split_in_order():
    batcher, batches = recording_batcher(max_batch_size=1)
    assert run_with(batcher, lambda: batcher.submit([1, 2, 3])) == [10, 20, 30]
    assert batches == [[1], [2], [3]]
    batcher, batches = recording_batcher(max_batch_size=2)
    assert run_with(batcher, lambda: batcher.submit([1, 2, 3])) == [10, 20, 30]
    assert batches == [[1, 2], [3]]


def test_a_lone_text_waits_at_most_batch_timeout():
    batcher, _ = recording_batcher(max_batch_size=64, batch_timeout=0.2)

    async def scenario():
        started = asyncio.get_running_loop().time()
        await batcher.submit([1])
        return asyncio.get_running_loop().time() - started

    assert 0.15 < run_with(batcher, scenario) < 1.0


def test_a_failing_batch_fails_its_callers_and_the_next_batch_runs():
    calls = []

    def work(items: list[str]) -> list[str]:
        calls.append(items)
        if "bad" in items:
            raise RuntimeError("model exploded")
        return items

    batcher = MicroBatcher(work, max_batch_size=8, batch_timeout=0, max_queued=10)

    async def scenario():
        with pytest.raises(RuntimeError, match="model exploded"):
            await batcher.submit(["bad"])
        return await batcher.submit(["fine"])

    assert run_with(batcher, scenario) == ["fine"]


def test_a_cancelled_caller_is_left_out_of_the_batch():
    batcher, batches = recording_batcher(max_batch_size=8, batch_timeout=0.1)

    async def scenario():
        gone = asyncio.create_task(batcher.submit([1]))
        await asyncio.sleep(0.01)
        gone.cancel()  # a client that disconnected
        return await batcher.submit([2])

    assert run_with(batcher, scenario) == [20]
    assert batches == [[2]]


def test_more_queued_texts_than_max_queued_is_refused_at_once():
    batcher, _ = recording_batcher(max_batch_size=2, max_queued=3)

    async def scenario():
        with pytest.raises(QueueFull):
            await batcher.submit([1, 2, 3, 4])
        return await batcher.submit([1, 2, 3])

    assert run_with(batcher, scenario) == [10, 20, 30]


def test_occlusion_weighs_every_kept_token_and_the_transformer_adds_attention(
    tmp_path, bpe_tokenizer
):
    from test_checkpoint_loading import LSTM, write_tiny_checkpoint
    from test_export import TRANSFORMER

    text = "a wonderful film , not boring at all"
    for name, model in (("lstm", LSTM), ("transformer", TRANSFORMER)):
        saved = load_checkpoint(
            write_tiny_checkpoint(tmp_path / f"{name}.ckpt", bpe_tokenizer, model)
        )
        net = saved.build_net()
        predictor = TextPredictor(net, saved.tokenizer, saved.max_length, "cpu")
        found = explain(predictor, net if name == "transformer" else None, text)
        assert torch.allclose(torch.tensor(found["probabilities"]), predictor([text])[0])
        tokens = found["attributions"]
        assert len(tokens) == found["kept"] == len(saved.tokenizer.encode(text).ids)
        assert tokens[0]["occlusion"] == 0.0  # [CLS] is never dropped
        # a token's weight is the predicted label's probability lost without it
        label = max(range(2), key=found["probabilities"].__getitem__)
        ids = saved.tokenizer.encode(text).ids
        without_second = predictor.of_ids([ids[:1] + ids[2:]])[0, label]
        expected = found["probabilities"][label] - float(without_second)
        assert tokens[1]["occlusion"] == pytest.approx(expected, abs=1e-6)
        if name == "transformer":
            weights = [token["attention"] for token in tokens]
            assert sum(weights) == pytest.approx(1.0, abs=1e-5)  # one softmax row (or a mean)
        else:
            assert "attention" not in tokens[0]


def test_length_groups_cover_every_text_once_with_bounded_padding():
    lengths = [256, 12, 14, 250, 90, 13, 100, 256, 40]
    groups = length_groups(lengths, slack=1.5)
    assert sorted(i for group in groups for i in group) == list(range(len(lengths)))
    for group in groups:
        longest = max(lengths[i] for i in group)
        assert len(group) * longest <= 1.5 * sum(lengths[i] for i in group) or len(group) == 1
    assert {1, 2, 5} in [set(group) for group in groups]  # the short ones share a pass
    assert length_groups([]) == []
