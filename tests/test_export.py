"""ONNX export keeps batch and sequence axes dynamic and reproduces PyTorch's logits."""

import json

import pytest
import torch
from omegaconf import OmegaConf
from test_checkpoint_loading import run_py, write_tiny_checkpoint

from textlab.checkpoint.format import load_checkpoint
from textlab.models.rnn import RNNClassifier
from textlab.modes.export import export
from textlab.run.onnx import PackFreeRNN, SpecialIds, sample_inputs

TRANSFORMER = {
    "_target_": "textlab.models.transformer.TransformerClassifier",
    "d_model": 16,
    "num_heads": 2,
    "num_layers": 2,
    "ffn_dim": 32,
    "max_length": 32,
}
MODELS = {
    "lstm": {
        "_target_": "textlab.models.rnn.RNNClassifier",
        "embedding_dim": 16,
        "hidden_size": 16,
    },
    "gru-2-layers-last": {
        "_target_": "textlab.models.rnn.RNNClassifier",
        "cell": "gru",
        "num_layers": 2,
        "pooling": "last",
        "embedding_dim": 16,
        "hidden_size": 16,
    },
    "transformer": TRANSFORMER,
    "bow": {"_target_": "textlab.models.bow.BagOfWordsClassifier", "embedding_dim": 8},
}
# NBSVM features as in the IMDb experiments; the fixture gives the bag random log-count ratios
NGRAM = {
    "_target_": "textlab.models.ngram.NgramClassifier",
    "ngram": 3,
    "buckets": 512,
    "embedding_dim": 8,
    "binary": True,
    "naive_bayes": True,
}
# the shipped IMDb shapes: an RNN member (TorchScript path) or a transformer (torch.export),
# each cropped, beside a bag of n-grams reading everything
for name, member in (("lstm", MODELS["lstm"]), ("transformer", TRANSFORMER)):
    MODELS[f"ensemble-{name}"] = {
        "_target_": "textlab.models.ensemble.build_ensemble",
        "_recursive_": False,
        "members": {name: {"net": member, "max_length": 5}, "ngram": {"net": NGRAM}},
    }


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize("pooling", ["max", "mean", "last", "meanmax"])
@pytest.mark.parametrize(("layers", "bidirectional"), [(1, True), (2, True), (2, False)])
def test_pack_free_rnn_gives_the_packed_models_logits(cell, pooling, layers, bidirectional):
    torch.manual_seed(0)
    net = RNNClassifier(
        40, 3, 0, 8, 8, num_layers=layers, cell=cell, bidirectional=bidirectional, pooling=pooling
    ).eval()
    ids, mask = sample_inputs(SpecialIds(vocab_size=40, pad=0, cls=2), batch=4, length=9)
    mask[1, 1:] = 0  # a review of [CLS] alone
    ids = ids.masked_fill(mask == 0, 0)
    with torch.no_grad():
        expected = net(ids, mask.bool())
        assert torch.allclose(PackFreeRNN(net)(ids, mask), expected, atol=1e-6)


@pytest.fixture(scope="module", params=list(MODELS))
def exported(request, tmp_path_factory, bpe_tokenizer):
    pytest.importorskip("onnxscript")
    pytest.importorskip("onnxruntime")
    folder = tmp_path_factory.mktemp(request.param)
    checkpoint = write_tiny_checkpoint(folder / "model.ckpt", bpe_tokenizer, MODELS[request.param])
    fit_random_ratios(checkpoint)
    saved = load_checkpoint(checkpoint)
    cfg = OmegaConf.create({"paths": {"output_dir": str(folder / "run")}})
    info = export(cfg, saved)
    return folder / "run", saved, info


def fit_random_ratios(checkpoint) -> None:
    """Ratios far from the tiny corpus's near-uniform ones, so export must carry the buffer."""
    state = torch.load(checkpoint, weights_only=False)
    ratios = [key for key in state["state_dict"] if key.endswith("log_ratio")]
    torch.manual_seed(1)
    for key in ratios:
        state["state_dict"][key] = torch.randn_like(state["state_dict"][key])
        state["state_dict"][key.replace("log_ratio", "ratio_fitted")].fill_(True)
    torch.save(state, checkpoint)


def test_export_writes_model_tokenizer_and_info(exported):
    run_dir, saved, info = exported
    assert (run_dir / "model.onnx").is_file()
    assert json.loads((run_dir / "tokenizer.json").read_text()) == json.loads(
        saved.tokenizer.to_str()
    )
    written = json.loads((run_dir / "export.json").read_text())
    assert written["label_names"] == ["negative", "positive"]
    assert written["max_length"] == 32 and written["max_abs_logit_diff"] < 1e-4
    assert written == json.loads(json.dumps(info))


def test_onnx_axes_are_dynamic(exported):
    onnx = pytest.importorskip("onnx")
    run_dir, _, _ = exported
    graph = onnx.load(str(run_dir / "model.onnx")).graph
    for graph_input in graph.input:
        dims = [d.dim_param or d.dim_value for d in graph_input.type.tensor_type.shape.dim]
        assert dims == ["batch", "sequence"], (graph_input.name, dims)


@pytest.mark.parametrize(("batch", "length"), [(1, 1), (3, 7), (6, 32)])
def test_onnxruntime_matches_pytorch_on_tokenized_reviews(exported, batch, length):
    onnxruntime = pytest.importorskip("onnxruntime")
    run_dir, saved, _ = exported
    texts = ["a wonderful , moving film", "dull", "not bad at all , truly great fun"] * 2
    encodings = saved.tokenizer.encode_batch(texts[:batch])
    ids = torch.zeros(batch, length, dtype=torch.long)
    for row, encoding in enumerate(encodings):
        tokens = encoding.ids[:length]
        ids[row, : len(tokens)] = torch.tensor(tokens)
    mask = (ids != 0).long()
    session = onnxruntime.InferenceSession(str(run_dir / "model.onnx"))
    (logits,) = session.run(None, {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})
    with torch.no_grad():
        expected = saved.build_net()(ids, mask.bool())
    assert torch.allclose(torch.from_numpy(logits), expected, atol=1e-5)


def test_cli_export_runs_from_a_checkpoint_alone(tmp_path, bpe_tokenizer):
    pytest.importorskip("onnxruntime")
    checkpoint = write_tiny_checkpoint(tmp_path / "lstm.ckpt", bpe_tokenizer, MODELS["lstm"])
    run_dir = tmp_path / "run"
    proc = run_py("mode=export", f"ckpt_path={checkpoint}", f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {"model.onnx", "tokenizer.json", "export.json"} <= {p.name for p in run_dir.iterdir()}
    assert "max |logit difference|" in proc.stdout
