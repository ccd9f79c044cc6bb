"""A checkpoint written before the restructure (tests/fixtures/legacy, by b88f472) still
evaluates, predicts, exports and resumes, with the results b88f472 itself produced."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from cli_runner import run_py
from omegaconf import OmegaConf

from textlab.checkpoint.legacy import upgrade_config
from textlab.tokenization import encode_ids, load_tokenizer

LEGACY = Path(__file__).parent / "fixtures" / "legacy"
CHECKPOINT = LEGACY / "ensemble-b88f472.ckpt"


def expected(name: str) -> dict:
    return json.loads((LEGACY / name).read_text())


def jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run_on_checkpoint(tmp_path: Path, mode: str, *overrides: str, ckpt: Path = CHECKPOINT) -> Path:
    run_dir = tmp_path / mode
    run_py(
        f"mode={mode}",
        f"ckpt_path={ckpt}",
        f"hydra.run.dir={run_dir}",
        *overrides,
        cache=tmp_path / "cache",
        check=True,
    )
    return run_dir


def test_old_config_is_upgraded_to_todays_shape_and_new_ones_pass_unchanged():
    old = {
        "model": {
            "_target_": "textlab.models.ensemble.build_ensemble",
            "members": {"lstm": {"net": {"_target_": "textlab.models.lstm.RNNClassifier"}}},
            "compile": True,
        },
        "module": {"_target_": "textlab.module.TextClassifier"},
        "data": {
            "_target_": "textlab.data.datamodule.TextDataModule",
            "source": {
                "_target_": "textlab.data.synthetic.SyntheticReviews",
                "seed": 5,
                "test_size": 9,
            },
            "seed": 42,
            "batch_size": 8,
        },
    }
    new = upgrade_config(old)
    assert new["model"]["members"]["lstm"]["net"]["_target_"] == "textlab.models.rnn.RNNClassifier"
    assert "compile" not in new["model"] and new["module"]["compile"] is True
    assert new["data"] == {
        "_target_": "textlab.data.sources.synthetic.synthetic_datamodule",
        "seed": 42,  # the run's seed keeps its key; the corpus's moved to corpus_seed
        "batch_size": 8,
        "corpus_seed": 5,
        "test_size": 9,
    }
    assert old["data"]["source"]["seed"] == 5  # the stored config itself is left alone
    assert upgrade_config(new) == new


def test_resume_auto_of_a_run_from_before_trainer_num_nodes_sees_no_changed_setting(tmp_path):
    from config_compose import compose_config

    from textlab.checkpoint.auto_resume import differing_keys

    cfg = compose_config(tmp_path, "trainer.accelerator=cpu")
    saved = OmegaConf.to_container(cfg, resolve=True)
    del saved["trainer"]["num_nodes"]  # conf/trainer/default.yaml had no such key
    assert differing_keys(upgrade_config(saved), cfg) == []
    assert upgrade_config({"trainer": {"num_nodes": 2}})["trainer"]["num_nodes"] == 2


def same_up_to_cpu_rounding(got: dict, want: dict) -> None:
    """Equal keys and non-float values; floats within what another CPU's kernels move (the
    fixtures were written on an AMD EPYC, and a probability written to 6 decimals can flip its
    last digit on an Intel Xeon)."""
    assert got.keys() == want.keys()
    for key, value in want.items():
        if isinstance(value, dict):
            same_up_to_cpu_rounding(got[key], value)
        elif isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-5, abs=2e-6), key
        else:
            assert got[key] == value, key


def test_eval_of_an_old_checkpoint_gives_the_old_metrics_and_confusion_matrix(tmp_path):
    run_dir = run_on_checkpoint(tmp_path, "eval")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    same_up_to_cpu_rounding(metrics, expected("eval_metrics.json"))
    confusion = json.loads((run_dir / "confusion_matrix.json").read_text())
    assert confusion == expected("eval_confusion_matrix.json")


def test_predict_with_an_old_checkpoint_writes_the_old_predictions(tmp_path):
    run_dir = run_on_checkpoint(tmp_path, "predict", f"predict.input={LEGACY / 'reviews.txt'}")
    got, want = jsonl(run_dir / "predictions.jsonl"), jsonl(LEGACY / "predictions.jsonl")
    assert len(got) == len(want)
    for record, old_record in zip(got, want, strict=True):
        same_up_to_cpu_rounding(record, old_record)


def test_export_of_an_old_checkpoint_matches_the_old_export_and_its_predictions(tmp_path):
    pytest.importorskip("onnxruntime")
    import onnxruntime

    run_dir = run_on_checkpoint(tmp_path, "export")
    info = json.loads((run_dir / "export.json").read_text())
    old = expected("export.json")
    for key in ("model", "exporter", "inputs", "outputs", "label_names", "max_length", "pad_id"):
        assert info[key] == old[key], key
    assert info["checkpoint"]["sha256"] == old["checkpoint"]["sha256"]
    assert info["max_abs_logit_diff"] <= 1e-4
    # the new model.onnx labels the reviews as the old PyTorch model did (mode=predict above)
    tokenizer = load_tokenizer(run_dir / "tokenizer.json")
    records = jsonl(LEGACY / "predictions.jsonl")
    ids = encode_ids(tokenizer, [r["text"] for r in records], info["max_length"])
    width = max(map(len, ids))
    input_ids = torch.tensor([seq + [info["pad_id"]] * (width - len(seq)) for seq in ids])
    mask = torch.tensor([[1] * len(seq) + [0] * (width - len(seq)) for seq in ids])
    session = onnxruntime.InferenceSession(str(run_dir / "model.onnx"))
    (logits,) = session.run(None, {"input_ids": input_ids.numpy(), "attention_mask": mask.numpy()})
    probs = torch.from_numpy(logits).softmax(dim=-1)
    old_probs = torch.tensor(
        [[r["probabilities"][n] for n in info["label_names"]] for r in records]
    )
    torch.testing.assert_close(probs, old_probs, atol=1e-5, rtol=0)


def test_resuming_an_old_checkpoint_ends_with_the_old_resumed_metrics(tmp_path):
    # as the fixture's own run dir had it: last.ckpt, and best.ckpt (epoch 2 was the best)
    checkpoints = tmp_path / "old_run" / "checkpoints"
    checkpoints.mkdir(parents=True)
    for name in ("last.ckpt", "best.ckpt"):
        shutil.copyfile(CHECKPOINT, checkpoints / name)
    run_dir = run_on_checkpoint(
        tmp_path, "train", "trainer.max_epochs=3", ckpt=checkpoints / "last.ckpt"
    )
    assert json.loads((run_dir / "metrics.json").read_text()) == expected("resume_metrics.json")
