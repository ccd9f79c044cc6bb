"""`mode=serve` in a real process: answers equal mode=predict's, concurrent requests share
batches, and bad requests get a 4xx (a full queue 503, a failing model call 500) with a
one-line JSON error while the server keeps serving."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import torch
from cli_runner import fault_env
from config_compose import compose_overrides
from serve_process import raw_exchange, start_server

from textlab.checkpoint.format import load_checkpoint
from textlab.modes.predict import predict

REVIEWS = [
    "a wonderful film with great acting",
    "not good , the plot is a mess",
    "boring",
    "great fun " * 40,  # longer than max_length: cut like mode=predict cuts it
    "Un film très émouvant 🎬",
    "dull and far too long, but the music is great",
]
# the shared server: short limits so the abuse cases run in a second or two
OVERRIDES = ("serve.body_timeout=2", "serve.max_text_chars=2000", "serve.batch_timeout=0.05")


@pytest.fixture(scope="module")
def server(served_lstm_checkpoint, tmp_path_factory):
    server = start_server(
        served_lstm_checkpoint, tmp_path_factory.mktemp("serve") / "run", *OVERRIDES
    )
    yield server
    assert server.stop() == 0, server.output()[-3000:]


@pytest.fixture(scope="module")
def predicted(served_lstm_checkpoint, tmp_path_factory):
    """mode=predict's records for REVIEWS, by text."""
    folder = tmp_path_factory.mktemp("predict")
    source = folder / "reviews.txt"
    source.write_text("\n".join(REVIEWS) + "\n")
    cfg = compose_overrides(
        "mode=predict",
        f"paths.root_dir={folder}",
        f"paths.output_dir={folder / 'run'}",
        f"predict.input={source}",
        "predict.batch_size=4",
    )
    predict(cfg, load_checkpoint(served_lstm_checkpoint))
    records = [json.loads(line) for line in (folder / "run/predictions.jsonl").open()]
    return {record["text"]: record for record in records}


def assert_same_prediction(answer: dict, record: dict) -> None:
    assert answer["label"] == record["label"]
    assert answer["probability"] == pytest.approx(record["probability"], abs=1e-6)
    assert answer["probabilities"].keys() == record["probabilities"].keys()
    for name, probability in record["probabilities"].items():
        assert answer["probabilities"][name] == pytest.approx(probability, abs=1e-6)


def test_single_and_batched_answers_equal_mode_predict(server, predicted):
    status, answer = server.post("/predict", {"text": REVIEWS[0]})
    assert status == 200
    assert set(answer) == {"label", "probability", "probabilities", "tokens", "repaired"}
    assert_same_prediction(answer, predicted[REVIEWS[0]])
    status, body = server.post("/predict", {"texts": REVIEWS})
    assert status == 200
    for review, answer in zip(REVIEWS, body["predictions"], strict=True):
        assert_same_prediction(answer, predicted[review])
    assert body["predictions"][3]["tokens"] == 24  # max_length: [CLS] + 23 tokens kept
    assert body["predictions"][2]["tokens"] < 24


def test_concurrent_requests_share_batches_and_each_gets_its_own_answer(server, predicted):
    before = server.get("/health")[1]["batches"]
    requests = REVIEWS * 4
    with ThreadPoolExecutor(len(requests)) as pool:
        answers = list(pool.map(lambda text: server.post("/predict", {"text": text}), requests))
    for review, (status, answer) in zip(requests, answers, strict=True):
        assert status == 200
        assert_same_prediction(answer, predicted[review])
    batches = server.get("/health")[1]["batches"] - before
    assert batches < len(requests), "24 concurrent requests should not need 24 forward passes"


def test_info_names_the_model_labels_length_and_commit(server, served_lstm_checkpoint):
    status, info = server.get("/info")
    assert status == 200
    assert info["model"] == "textlab.models.rnn.RNNClassifier"
    assert info["labels"] == ["negative", "positive"]
    assert info["max_length"] == 24
    assert info["checkpoint"]["path"] == str(served_lstm_checkpoint)
    assert "commit" in info and info["backend"] == "torch"
    assert info["device"] == ("cuda" if torch.cuda.is_available() else "cpu")  # serve.device=auto


def test_explain_weighs_every_kept_token_and_maps_it_to_the_text(server, predicted):
    text = REVIEWS[5]
    status, body = server.post("/explain", {"text": text})
    assert status == 200
    assert_same_prediction(body, predicted[text])
    tokens = body["attributions"]
    assert len(tokens) == body["tokens"]
    assert tokens[0]["token"] == "[CLS]" and tokens[0]["occlusion"] == 0.0
    assert all(text[t["start"] : t["end"]].strip() for t in tokens[1:])
    assert any(t["occlusion"] != 0.0 for t in tokens[1:])
    assert "attention" not in tokens[1]  # an LSTM has none


BAD_REQUESTS = {
    "invalid JSON": (b'{"text": "great fun"', 400, "not valid JSON"),
    "invalid UTF-8": (b'{"text": "great \xff\xfe fun"}', 400, "not valid UTF-8"),
    "not an object": (b'["great fun"]', 422, "must be a JSON object"),
    "missing field": (b"{}", 422, "exactly one field"),
    "extra field": (b'{"text": "great fun", "lang": "en"}', 422, "unknown field 'lang'"),
    "both fields": (b'{"text": "a", "texts": ["b"]}', 422, "exactly one field"),
    "text not a string": (b'{"text": 42}', 422, "text must be a string, not a number"),
    "texts not a list": (b'{"texts": "great fun"}', 422, "texts must be a list"),
    "a text in texts not a string": (b'{"texts": ["ok", null]}', 422, "texts[1] must be a string"),
    "empty text": (b'{"text": "   "}', 422, "text is empty"),
    "empty texts": (b'{"texts": []}', 422, "texts is empty"),
    "empty text in texts": (b'{"texts": ["ok", ""]}', 422, "texts[1] is empty"),
    "nested too deep": (b"[" * 100_000, 400, "not usable JSON"),
    "a 10 MB text": (
        json.dumps({"text": "great fun " * 1_000_000}).encode(),
        413,
        "serve.max_body_bytes=1048576",
    ),
    "100,000 texts": (
        json.dumps({"texts": ["fun"] * 100_000}).encode(),
        413,
        "texts has 100000 reviews; serve.max_texts=256",
    ),
}


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_is_a_4xx_with_one_line_and_the_server_keeps_serving(server, case):
    body, status, fragment = BAD_REQUESTS[case]
    got, answer = server.post("/predict", body)
    assert got == status, answer
    assert set(answer) == {"error"} and "\n" not in answer["error"]
    assert fragment in answer["error"]
    assert server.post("/predict", {"text": "great fun"})[0] == 200


def test_unknown_paths_and_methods_are_json_errors_too(server):
    assert server.get("/nope") == (404, {"error": "GET /nope: Not Found"})
    assert server.get("/predict") == (405, {"error": "GET /predict: Method Not Allowed"})


def test_a_text_over_max_text_chars_is_cut_and_says_so(server):
    status, answer = server.post("/predict", {"text": "great fun " * 300})  # 3000 chars
    assert status == 200 and answer["repaired"] == ["truncated"]
    status, answer = server.post("/predict", {"text": "great \ud800 fun"})  # a JSON "\ud800"
    assert status == 200 and answer["repaired"] == ["invalid_unicode"]


def test_a_client_that_never_finishes_its_body_gets_408_and_blocks_no_one(server):
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nConnection: close\r\n\r\n"
    replies: list[bytes] = []
    slow = threading.Thread(
        target=lambda: replies.append(raw_exchange(server.port, head, [b'{"te']))
    )
    slow.start()
    time.sleep(0.3)
    started = time.monotonic()
    assert server.post("/predict", {"text": "great fun"})[0] == 200  # while the slow one waits
    assert time.monotonic() - started < 1.5
    slow.join(30)
    assert replies and replies[0].startswith(b"HTTP/1.1 408"), replies
    assert b"serve.body_timeout=2" in replies[0]


def test_a_full_queue_is_503_and_a_failing_model_call_500_and_both_leave_it_serving(
    served_lstm_checkpoint, tmp_path
):
    # tests/faults/sitecustomize.py: a batch holding <<fault>> raises, one with <<slow>> takes 3 s
    env = fault_env(TEXTLAB_FAULT_TEXT="<<fault>>")
    limits = ("serve.max_texts=3", "serve.max_queued_texts=3")
    server = start_server(served_lstm_checkpoint, tmp_path / "run", *limits, env=env)
    try:
        with ThreadPoolExecutor(2) as pool:  # a 3 s batch, then 3 texts queued behind it
            slow = pool.submit(server.post, "/predict", {"text": "a <<slow>> film"})
            time.sleep(0.5)
            queued = pool.submit(server.post, "/predict", {"texts": ["good", "bad", "fine"]})
            time.sleep(0.5)
            status, answer = server.post("/predict", {"text": "one more"})
            assert status == 503, answer
            assert answer == {"error": "server busy (3 texts are waiting); retry later"}
            assert slow.result()[0] == queued.result()[0] == 200
        status, answer = server.post("/predict", {"text": "a <<fault>> here"})
        assert status == 500, answer
        assert answer == {"error": "internal error: RuntimeError: injected fault on a batch of 1"}
        for _ in range(2):  # the batcher's loop and the process outlive the failure
            status, answer = server.post("/predict", {"texts": ["good", "bad", "fine"]})
            assert status == 200 and len(answer["predictions"]) == 3, answer
    finally:
        assert server.stop() == 0, server.output()[-3000:]
    log = server.output()
    assert log.count("POST /predict failed") == 1 and "Traceback" in log
