"""`mode=pretrain` then `pretrained=`, as a user runs them: real processes, real run dirs."""

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from cli_runner import ROOT, assert_one_line_error, run_py
from in_process import main_error_line
from omegaconf import OmegaConf

from textlab.checkpoint.format import load_checkpoint
from textlab.checkpoint.pretrained import load_pretrained_encoder, warn_if_carved_differently
from textlab.models.factory import build_net
from textlab.pretraining_module import ENCODER_PREFIX
from textlab.tokenization import MASK_TOKEN, pad_id

TINY = ("debug=fast", "pretrain.block_size=32", "data.batch_size=16", "seed=3")
LSTM = ("model=lstm", "model.embedding_dim=16", "model.hidden_size=16")


@pytest.fixture(scope="module")
def pretrained_lstm(tmp_path_factory):
    """A pretraining run of a small LSTM, its checkpoint moved away and its run dir deleted."""
    base = tmp_path_factory.mktemp("pretrain")
    run_dir = base / "run"
    proc = run_py("mode=pretrain", *TINY, *LSTM, f"hydra.run.dir={run_dir}", cache=base / "cache")
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    moved = base / "elsewhere" / "lm.ckpt"
    moved.parent.mkdir()
    shutil.copy(run_dir / "checkpoints" / "last.ckpt", moved)
    shutil.rmtree(run_dir)
    return base, moved, metrics


def test_pretraining_run_reports_language_model_metrics(pretrained_lstm):
    _, checkpoint, metrics = pretrained_lstm
    assert {"val/loss", "val/ppl", "val/acc", "pretrain/tokens_seen"} <= set(metrics)
    assert metrics["val/ppl"] == pytest.approx(
        torch.tensor(metrics["val/loss"]).exp().item(), rel=1e-4
    )
    assert metrics["pretrain/tokens_seen"] == 5 * 16 * 32  # limit_train_batches x batch x block
    saved = load_checkpoint(checkpoint)  # weights_only=True
    assert saved.config["mode"] == "pretrain"
    assert saved.tokenizer.token_to_id(MASK_TOKEN) == 3


def test_fine_tuning_loads_exactly_the_encoder_and_starts_a_fresh_head(pretrained_lstm, tmp_path):
    base, checkpoint, _ = pretrained_lstm
    run_dir = tmp_path / "finetune"
    proc = run_py(
        *TINY,
        *LSTM,
        f"pretrained={checkpoint}",
        "module.freeze_encoder_epochs=1",
        "module.token_mask_rate=0.2",  # noise on the inputs only: the weights stay as checked
        f"hydra.run.dir={run_dir}",
        cache=base / "cache",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fresh: head.weight, head.bias" in proc.stderr + proc.stdout
    # the pretraining tokenizer's [MASK], which its encoder learnt to read around
    assert "training tokens hidden behind [MASK]" in proc.stderr + proc.stdout
    assert "carved differently" not in proc.stderr + proc.stdout  # the same seed, the same carve
    saved = load_checkpoint(checkpoint)
    encoder = {
        key.removeprefix(ENCODER_PREFIX): value
        for key, value in saved.state_dict.items()
        if key.startswith(ENCODER_PREFIX)
    }
    tuned = load_checkpoint(run_dir / "checkpoints" / "last.ckpt")
    # the fine-tuning run used the pretraining tokenizer, never a new one
    assert tuned.tokenizer.to_str() == saved.tokenizer.to_str()
    weights = {
        k.removeprefix("net."): v for k, v in tuned.state_dict.items() if k.startswith("net.")
    }
    # the encoder was frozen for the one epoch: every tensor is still the pretrained one
    assert set(weights) - set(encoder) == {"head.weight", "head.bias"}
    for key, value in encoder.items():
        assert torch.equal(weights[key], value), key

    fresh = build_net(
        saved.config["model"], saved.tokenizer.get_vocab_size(), 2, pad_id(saved.tokenizer)
    )
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    assert load_pretrained_encoder(fresh, saved) == ["head.weight", "head.bias"]
    for key, value in fresh.state_dict().items():
        if key.startswith("head."):
            assert torch.equal(value, before[key])  # left as initialised
        else:
            assert torch.equal(value, encoder[key])


def test_fine_tuning_on_another_carve_warns_naming_the_keys(pretrained_lstm, caplog):
    _, checkpoint, _ = pretrained_lstm
    saved = load_checkpoint(checkpoint)
    data = saved.config["data"]
    assert "carve" not in data  # the synthetic corpus: no data.carve to compare
    same = OmegaConf.create({"data": {**data, "carve": "movie"}})
    warn_if_carved_differently(saved, same)
    assert not caplog.records
    other = OmegaConf.create({"data": {**data, "seed": data["seed"] + 1}})
    warn_if_carved_differently(saved, other)
    (record,) = caplog.records
    assert record.levelname == "WARNING"
    message = record.getMessage()
    assert f"data.seed={data['seed']} there, {data['seed'] + 1} here" in message
    assert "val_fraction" not in message and str(checkpoint) in message


def test_a_model_of_another_shape_is_one_line_naming_the_parameter(
    pretrained_lstm, tmp_path, capsys
):
    _, checkpoint, _ = pretrained_lstm
    overrides = (*TINY, *LSTM[:2], "model.hidden_size=24", f"pretrained={checkpoint}")
    line = main_error_line(tmp_path, capsys, *overrides)
    for fragment in (f"pretrained={checkpoint}", "rnn.weight_", "shape"):
        assert fragment in line, line


def test_checkpoints_of_the_two_kinds_are_refused_where_the_other_belongs(
    pretrained_lstm, served_lstm_checkpoint, tmp_path, capsys
):
    _, checkpoint, _ = pretrained_lstm
    proc = run_py("mode=eval", f"ckpt_path={checkpoint}", f"hydra.run.dir={tmp_path / 'e'}")
    assert_one_line_error(proc, "mode=pretrain checkpoint", "pretrained=")
    classifier = served_lstm_checkpoint
    line = main_error_line(tmp_path, capsys, *TINY, *LSTM, f"pretrained={classifier}")
    assert f"pretrained={classifier} is not a mode=pretrain checkpoint" in line, line
    line = main_error_line(tmp_path, capsys, "mode=pretrain", *TINY, f"ckpt_path={classifier}")
    assert "is a classifier's checkpoint; mode=pretrain resumes only" in line, line


def test_transformer_pretrains_with_masked_and_causal_objectives(tmp_path):
    for objective in ("mlm", "causal"):
        run_dir = tmp_path / objective
        proc = run_py(
            "mode=pretrain",
            *TINY,
            "model=transformer",
            f"pretrain.objective={objective}",
            f"hydra.run.dir={run_dir}",
            cache=tmp_path / "cache",
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert 0 < metrics["val/loss"] < 20


def test_an_electra_pretraining_fine_tunes_from_its_encoder_alone(tmp_path):
    cache, pretrain_dir, tune_dir = tmp_path / "cache", tmp_path / "electra", tmp_path / "tune"
    transformer = ("model=transformer", "model.d_model=16", "model.num_heads=2")
    run_py("mode=pretrain", *TINY, *transformer, "pretrain.objective=electra",
           f"hydra.run.dir={pretrain_dir}", cache=cache, check=True)  # fmt: skip
    metrics = json.loads((pretrain_dir / "metrics.json").read_text())
    assert 0 < metrics["val/loss"] < 20 and 0 < metrics["val/detect_acc"] <= 1
    assert metrics["val/detect_loss"] > 0
    checkpoint = pretrain_dir / "checkpoints" / "last.ckpt"
    saved = load_checkpoint(checkpoint)
    generator = [k for k in saved.state_dict if k.startswith("net.generator_lm.blocks.")]
    assert generator and all(".blocks.0." in k for k in generator)  # pretrain.generator_layers=1
    run_py(*TINY, *transformer, f"pretrained={checkpoint}", "module.freeze_encoder_epochs=1",
           "trainer.max_epochs=1", f"hydra.run.dir={tune_dir}", cache=cache,
           check=True)  # fmt: skip
    tuned = load_checkpoint(tune_dir / "checkpoints" / "last.ckpt").state_dict
    encoder = {
        k.removeprefix(ENCODER_PREFIX): v
        for k, v in saved.state_dict.items()
        if k.startswith(ENCODER_PREFIX)
    }
    weights = {k.removeprefix("net."): v for k, v in tuned.items() if k.startswith("net.")}
    # the discriminator is the classifier's encoder; the generator and detector stay behind
    assert set(weights) - set(encoder) == {"head.1.weight", "head.1.bias"}
    for key, value in encoder.items():
        assert torch.equal(weights[key], value), key
    # its masked-token head is the generator's, not the encoder's: refused as one line
    proc = run_py(*TINY, *transformer, f"pretrained={checkpoint}", "module.mlm_weight=0.5",
                  f"hydra.run.dir={tmp_path / 'refused'}", cache=cache)  # fmt: skip
    assert_one_line_error(proc, "pretrain.objective=electra")


def test_fine_tuning_with_the_masked_token_loss_starts_from_its_pretrained_head(tmp_path):
    cache, pretrain_dir, tune_dir = tmp_path / "cache", tmp_path / "mlm", tmp_path / "tune"
    transformer = ("model=transformer", "model.d_model=16", "model.num_heads=2")
    run_py(
        "mode=pretrain",
        *TINY,
        *transformer,
        f"hydra.run.dir={pretrain_dir}",
        cache=cache,
        check=True,
    )
    checkpoint = pretrain_dir / "checkpoints" / "last.ckpt"
    # one head-only epoch: the masked-token loss waits for the encoder, so its head is as loaded
    run_py(
        *TINY,
        *transformer,
        f"pretrained={checkpoint}",
        "module.mlm_weight=0.5",
        "module.freeze_encoder_epochs=1",
        "trainer.max_epochs=1",
        "module.scheduler=null",  # a constant rate: the run can be resumed for longer
        f"hydra.run.dir={tune_dir}",
        cache=cache,
        check=True,
    )
    tuned_checkpoint = tune_dir / "checkpoints" / "last.ckpt"
    saved, tuned = load_checkpoint(checkpoint), load_checkpoint(tuned_checkpoint)
    head = [key for key in tuned.state_dict if key.startswith("mlm.output.")]
    assert {key.removeprefix("mlm.output.") for key in head} >= {"bias", "transform.0.weight"}
    for key in head:
        there = saved.state_dict[key.replace("mlm.output.", "net.output.")]
        assert torch.equal(tuned.state_dict[key], there), key
    # resumed for a second epoch, where the encoder trains and so the masked-token loss runs
    resumed = tmp_path / "resumed"
    run_py(*TINY, f"ckpt_path={tuned_checkpoint}", "trainer.max_epochs=2", "logger=csv",
           f"hydra.run.dir={resumed}", cache=cache, check=True)  # fmt: skip
    logged = (resumed / "csv" / "metrics.csv").read_text()
    assert "train/loss_mlm" in logged.splitlines()[0]
    # the head stays as pretrained; the token table it shares with the classifier trained
    after = load_checkpoint(resumed / "checkpoints" / "last.ckpt").state_dict
    for key in ("mlm.output.bias", "mlm.output.transform.0.weight"):
        assert torch.equal(after[key], tuned.state_dict[key]), key
    table = "mlm.output.embedding.weight"
    assert torch.equal(after[table], after["net.tokens.weight"])
    assert not torch.equal(after[table], tuned.state_dict[table])
    # from random weights there is no language model to hold the encoder to: no head, no loss
    scratch = tmp_path / "scratch"
    run_py(*TINY, *transformer, "module.mlm_weight=0.5", f"hydra.run.dir={scratch}",
           cache=cache, check=True)  # fmt: skip
    assert not any(
        k.startswith("mlm.")
        for k in load_checkpoint(scratch / "checkpoints" / "last.ckpt").state_dict
    )
    # evaluating and predicting build the classifier alone and read its checkpoint
    for mode, extra in (("eval", "seed=3"), ("predict", "predict.text='a fine film'")):
        out = tmp_path / mode
        run_py(f"mode={mode}", f"ckpt_path={tuned_checkpoint}", extra, f"hydra.run.dir={out}",
               cache=cache, check=True)  # fmt: skip
    assert 0 <= json.loads((tmp_path / "eval" / "metrics.json").read_text())["test/acc"] <= 1
    (prediction,) = (tmp_path / "predict" / "predictions.jsonl").read_text().splitlines()
    assert json.loads(prediction)["text"] == "a fine film"


def test_pretraining_reads_unlabelled_text_files_alone(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = [f"review {i}: the film was {'good' if i % 2 else 'bad'} and long" for i in range(300)]
    with gzip.open(corpus / "a.txt.gz", "wt") as handle:
        handle.write("\n".join(lines[:150]) + "\n\n")
    rows = [json.dumps({"body": text}) for text in lines[150:]] + ["{not json", '{"body": 3}']
    (corpus / "b.jsonl").write_text("\n".join(rows) + "\n")
    run_dir = tmp_path / "run"
    proc = run_py(
        "mode=pretrain",
        "data=text_files",
        f"data.unlabelled={corpus}/*",
        "pretrain.text_field=body",
        "tokenizer.vocab_size=200",
        "pretrain.block_size=16",
        "pretrain.val_fraction=0.1",
        "data.batch_size=8",
        "trainer.max_epochs=1",
        *LSTM,
        f"hydra.run.dir={run_dir}",
        cache=tmp_path / "cache",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    log = proc.stderr + proc.stdout
    assert "data.unlabelled: skipped 2 malformed records" in log


def test_unlabelled_text_with_only_bad_records_is_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": ""}\n[1, 2]\n{"other": "x"}\n')
    overrides = ("mode=pretrain", "data=text_files", f"data.unlabelled={bad}", *LSTM)
    assert "no usable text" in main_error_line(tmp_path, capsys, *overrides)


@pytest.mark.slow
def test_pretraining_killed_with_sigkill_resumes_to_the_same_weights(tmp_path):
    """kill -9 mid-epoch once last.ckpt exists; ckpt_path= resumes to the uninterrupted result."""
    config = (
        "mode=pretrain",
        *TINY[1:],
        *LSTM,
        "data.train_size=400",
        "data.test_size=50",
        "tokenizer.vocab_size=300",
        "trainer.max_epochs=2",
        "+callbacks.last_checkpoint.every_n_train_steps=4",
    )
    cache = tmp_path / "cache"
    run_py(*config, f"hydra.run.dir={tmp_path / 'full'}", cache=cache, check=True)
    killed = tmp_path / "killed"
    last = killed / "checkpoints" / "last.ckpt"
    command = [sys.executable, str(ROOT / "run.py"), *config, f"hydra.run.dir={killed}"]
    env = {**os.environ, "TEXTLAB_CACHE_DIR": str(cache)}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not last.exists() and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    resumed = tmp_path / "resumed"
    run_py(
        f"ckpt_path={last}", "mode=pretrain", f"hydra.run.dir={resumed}", cache=cache, check=True
    )
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    again = json.loads((resumed / "metrics.json").read_text())
    for name, value in full.items():
        assert again[name] == pytest.approx(value, abs=1e-6), name
    final = torch.load(resumed / "checkpoints/last.ckpt", weights_only=True)["state_dict"]
    expected = torch.load(tmp_path / "full/checkpoints/last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(final[name], value) for name, value in expected.items())


def test_a_bad_pretraining_option_is_one_line_before_any_work(tmp_path):
    proc = run_py("mode=pretrain", *TINY, "pretrain.mask_rate=1.5", f"hydra.run.dir={tmp_path}")
    assert_one_line_error(proc, "pretrain.mask_rate=1.5: expected a number in (0, 1)")
    assert "Split train" not in proc.stderr + proc.stdout  # nothing was read


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("pretrain.block_size=1", "pretrain.block_size=1: expected an integer >= 2"),
        ("pretrain.objective=bert", "pretrain.objective='bert'"),
        ("pretrain.sampled_softmax=-1", "pretrain.sampled_softmax=-1"),
        ("pretrain.generator_layers=0", "pretrain.generator_layers=0: expected an integer >= 1"),
        ("pretrain.detection_weight=0", "pretrain.detection_weight=0: expected a number > 0"),
        ("pretrain.val_fraction=abc", "pretrain.val_fraction='abc'"),
    ],
)
def test_bad_pretraining_options_are_one_line_errors(tmp_path, capsys, override, expected):
    # all pretrain.* values are checked by one call (modes/pretrain.py), so the process test
    # above shows for each of them that the check comes before any reading
    assert expected in main_error_line(tmp_path, capsys, "mode=pretrain", *TINY, override)


def test_the_objective_hint_lists_every_objective():
    from typing import get_args, get_type_hints

    from textlab.models.language_model import OBJECTIVES
    from textlab.modes.pretrain import pretrain_keys

    hint = get_type_hints(pretrain_keys)["objective"]
    assert set(get_args(hint)) == {"auto", *OBJECTIVES}
