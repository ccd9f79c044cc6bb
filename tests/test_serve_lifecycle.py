"""`mode=serve` beyond one torch process: SIGTERM lets in-flight requests finish, the ONNX
Runtime backend answers as PyTorch does, `serve.workers` processes share the port, and bad
`serve.*` values are one-line errors."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from cli_runner import assert_one_line_error, run_py
from config_compose import compose_overrides
from serve_process import raw_exchange, start_server
from user_errors import one_line

from textlab.base.errors import UserError
from textlab.modes.serve import serve_settings

REVIEWS = ["a wonderful film with great acting", "not good , the plot is a mess", "boring"]


@pytest.mark.slow
def test_sigterm_lets_an_in_flight_request_finish_then_exits_cleanly(
    served_lstm_checkpoint, tmp_path
):
    server = start_server(served_lstm_checkpoint, tmp_path / "run")
    body = b'{"text": "a wonderful film"}'
    head = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(body)
    replies: list[bytes] = []

    def slow_request() -> None:  # half the body now, the rest after the SIGTERM
        replies.append(raw_exchange(server.port, head, [body[:10], body[10:]], pause=1.0))

    client = threading.Thread(target=slow_request)
    client.start()
    time.sleep(1.3)  # the first half is in; the server is waiting for the rest
    server.process.terminate()
    client.join(30)
    assert server.process.wait(30) == 0, server.output()[-3000:]
    assert replies and replies[0].startswith(b"HTTP/1.1 200"), replies
    assert b'"label"' in replies[0]
    assert "Server stopped" in server.output()
    with pytest.raises(OSError):  # and it no longer listens
        server.get("/health")


@pytest.mark.slow
def test_onnx_backend_answers_as_the_torch_backend_does(served_lstm_checkpoint, tmp_path):
    answers = {}
    for backend in ("torch", "onnx"):
        server = start_server(
            served_lstm_checkpoint, tmp_path / backend, f"serve.backend={backend}"
        )
        try:
            status, body = server.post("/predict", {"texts": REVIEWS})
            assert status == 200
            answers[backend] = body["predictions"]
            info = server.get("/info")[1]
            # auto: the GPU if there is one for torch; onnxruntime's CUDA provider only when asked
            auto = "cuda" if backend == "torch" and torch.cuda.is_available() else "cpu"
            assert (info["backend"], info["device"]) == (backend, auto)
            assert server.post("/explain", {"text": REVIEWS[0]})[0] == 200
        finally:
            assert server.stop() == 0
    assert (tmp_path / "onnx" / "model.onnx").is_file()
    for torch_answer, onnx_answer in zip(answers["torch"], answers["onnx"], strict=True):
        assert onnx_answer["label"] == torch_answer["label"]
        assert onnx_answer["tokens"] == torch_answer["tokens"]
        for name, probability in torch_answer["probabilities"].items():
            assert onnx_answer["probabilities"][name] == pytest.approx(probability, abs=1e-5)


@pytest.mark.slow
def test_two_workers_serve_one_port(served_lstm_checkpoint, tmp_path):
    server = start_server(served_lstm_checkpoint, tmp_path / "run", "serve.workers=2")
    try:
        for _ in range(6):
            status, answer = server.post("/predict", {"text": REVIEWS[0]})
            assert status == 200 and answer["label"] in ("negative", "positive")
    finally:
        assert server.stop() == 0, server.output()[-3000:]


@pytest.mark.parametrize(
    ("override", "fragment"),
    [
        ("serve.max_batch_size=0", "serve.max_batch_size=0: expected a positive integer"),
        ("serve.port=abc", "serve.port='abc'"),
        ("serve.backend=tensorrt", "serve.backend='tensorrt'"),
        ("serve.batch_timeout=-1", "serve.batch_timeout=-1"),
        ("+serve.max_batch=4", "serve.max_batch: unknown key"),
        ("serve.device=tpu", "serve.device='tpu'"),
    ],
)
def test_a_bad_serve_value_is_one_line_naming_the_key(override, fragment):
    with pytest.raises(UserError) as err:
        serve_settings(compose_overrides("mode=serve", override))
    one_line(err, fragment)


def test_serve_without_a_checkpoint_is_one_line(tmp_path):
    proc = run_py("mode=serve", f"hydra.run.dir={tmp_path}")
    assert_one_line_error(proc, "mode=serve needs ckpt_path=PATH")


@pytest.mark.slow
def test_a_port_in_use_is_an_error_not_a_hang(served_lstm_checkpoint, tmp_path):
    server = start_server(served_lstm_checkpoint, tmp_path / "first")
    try:
        proc = run_py(
            "mode=serve",
            f"ckpt_path={served_lstm_checkpoint}",
            f"serve.port={server.port}",
            f"hydra.run.dir={tmp_path / 'second'}",
        )
        assert_one_line_error(proc, f"serve.port={server.port}: cannot listen there", "in use")
    finally:
        server.stop()
