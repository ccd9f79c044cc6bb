"""The FastAPI application: /predict, /explain, /health, /info and the demo page at /.

Bodies are read and checked by bodies.py, texts batched by batcher.py, predicted by a
backend (backends.py). Any refusal is a 4xx with {"error": "<one line>"}; an unexpected
failure is a 500 in the same shape, and the server goes on serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from torch import nn

from textlab.run.inference import TextPredictor
from textlab.run.serving.attribution import explain
from textlab.run.serving.backends import Prediction, predict_texts
from textlab.run.serving.batcher import MicroBatcher, QueueFull
from textlab.run.serving.bodies import RequestError, Reviews, parse_json, read_body, reviews_from
from textlab.run.serving.settings import ServeSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Served:
    """What the app serves: the predictor, the labels, and what /info reports."""

    predictor: TextPredictor
    label_names: tuple[str, ...]
    info: dict[str, Any]
    attention_net: nn.Module | None = None


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def answer(prediction: Prediction, repairs: list[str], labels: tuple[str, ...]) -> dict[str, Any]:
    """One review's response: best label, its probability, all of them, tokens read."""
    row = prediction.probabilities
    best = max(range(len(row)), key=row.__getitem__)
    return {
        "label": labels[best],
        "probability": row[best],
        "probabilities": dict(zip(labels, row, strict=True)),
        "tokens": prediction.tokens,
        "repaired": repairs,
    }


def build_app(served: Served, settings: ServeSettings) -> FastAPI:
    """The app; its batcher runs from startup until shutdown (uvicorn's lifespan)."""
    batcher: MicroBatcher[str, Prediction] = MicroBatcher(
        lambda texts: predict_texts(served.predictor, texts),
        settings.max_batch_size,
        settings.batch_timeout,
        settings.max_queued_texts,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(batcher.serve_forever())
        yield  # uvicorn lets in-flight requests finish before it leaves this block
        task.cancel()
        batcher.close()

    app = FastAPI(title="textlab", lifespan=lifespan, docs_url=None, redoc_url=None)
    add_model_routes(app, served, settings, batcher)
    add_status_routes(app, served, batcher)
    add_error_handlers(app)
    return app


def add_model_routes(
    app: FastAPI, served: Served, settings: ServeSettings, batcher: MicroBatcher
) -> None:
    """POST /predict (batched) and /explain (one text, between batches)."""

    async def reviews_in(request: Request, allowed: tuple[str, ...]) -> Reviews:
        length = request.headers.get("content-length")
        body = await read_body(length, request.stream(), settings)
        return reviews_from(parse_json(body), settings, allowed)

    @app.post("/predict")
    async def predict(request: Request) -> JSONResponse:
        reviews = await reviews_in(request, ("text", "texts"))
        try:
            predictions = await batcher.submit(reviews.texts)
        except QueueFull as err:
            raise RequestError(503, f"server busy ({err}); retry later") from None
        answers = [
            answer(prediction, repairs, served.label_names)
            for prediction, repairs in zip(predictions, reviews.repairs, strict=True)
        ]
        return JSONResponse(answers[0] if reviews.single else {"predictions": answers})

    @app.post("/explain")
    async def explain_text(request: Request) -> JSONResponse:
        reviews = await reviews_in(request, ("text",))
        text = reviews.texts[0]
        found = await batcher.run_alone(explain, served.predictor, served.attention_net, text)
        prediction = Prediction(found.pop("probabilities"), found.pop("kept"))
        return JSONResponse(
            {**answer(prediction, reviews.repairs[0], served.label_names), "text": text, **found}
        )


def add_status_routes(app: FastAPI, served: Served, batcher: MicroBatcher) -> None:
    """GET /health, /info and the demo page at /."""

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "batches": batcher.batches_run}

    @app.get("/info")
    async def info() -> dict[str, Any]:
        return served.info

    @app.get("/", response_class=HTMLResponse)
    async def demo() -> HTMLResponse:
        page = files("textlab.run.serving").joinpath("static/index.html").read_text("utf-8")
        return HTMLResponse(page)


def add_error_handlers(app: FastAPI) -> None:
    """Every failure as {"error": "<one line>"}; none of them stops the server."""

    @app.exception_handler(RequestError)
    async def refused(request: Request, err: RequestError) -> JSONResponse:
        return error(err.status, err.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, err: HTTPException) -> JSONResponse:
        # 404 unknown path, 405 wrong method: Starlette's reasons, in our shape
        return error(err.status_code, f"{request.method} {request.url.path}: {err.detail}")

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, err: ClientDisconnect) -> JSONResponse:
        return error(400, "client disconnected before sending the whole body")

    @app.exception_handler(Exception)
    async def failed(request: Request, err: Exception) -> JSONResponse:
        log.exception("%s %s failed", request.method, request.url.path)
        first = (str(err).strip().splitlines() or [""])[0][:200]
        return error(500, f"internal error: {type(err).__name__}: {first}")
