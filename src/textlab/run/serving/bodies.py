"""Request bodies: read within limits and a deadline, parsed and checked field by field.

Every problem is a RequestError: an HTTP status and one line naming the field or the limit.
Content-Type is not required (`curl -d` sends form encoding); the body must be JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

from textlab.run.inference import clean_review
from textlab.run.serving.settings import ServeSettings

SHAPES = {"text": '{"text": "..."}', "texts": '{"texts": ["...", ...]}'}


class RequestError(Exception):
    """A request the server refuses: answered with `status` and {"error": message}."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Reviews:
    """The texts of one request, cleaned as mode=predict cleans them, and what was repaired."""

    texts: list[str]
    repairs: list[list[str]]
    single: bool  # {"text": ...}: answer with one object, not a list


async def read_body(
    declared_length: str | None, chunks: AsyncIterator[bytes], settings: ServeSettings
) -> bytes:
    """The whole body, or 413 past `serve.max_body_bytes` and 408 past `serve.body_timeout`."""
    limit = settings.max_body_bytes
    too_large = RequestError(413, f"request body over serve.max_body_bytes={limit} bytes")
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise too_large  # refused before reading a byte

    async def collect() -> bytes:
        body = bytearray()
        async for chunk in chunks:
            body += chunk
            if len(body) > limit:
                raise too_large
        return bytes(body)

    try:
        return await asyncio.wait_for(collect(), settings.body_timeout)
    except asyncio.TimeoutError:
        raise RequestError(
            408, f"request body not complete after serve.body_timeout={settings.body_timeout} s"
        ) from None


def parse_json(body: bytes) -> object:
    """The JSON value of `body`; 400 for bytes that are not UTF-8 or not JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RequestError(400, f"body is not valid UTF-8 (byte {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise RequestError(400, f"body is not valid JSON ({err.msg} at char {err.pos})") from None
    except (RecursionError, ValueError) as err:  # nesting past the limit, 4300-digit ints
        raise RequestError(400, f"body is not usable JSON ({type(err).__name__})") from None


def reviews_from(value: object, settings: ServeSettings, allowed: tuple[str, ...]) -> Reviews:
    """{"text": "..."} or {"texts": ["...", ...]} (only "text" where `allowed` says so)."""
    shape = " or ".join(SHAPES[name] for name in allowed)
    if not isinstance(value, dict):
        raise RequestError(422, f"body must be a JSON object: {shape}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise RequestError(422, f"unknown field {unknown[0]!r}; expected {shape}")
    if len(value) != 1:
        raise RequestError(422, f"expected exactly one field: {shape}")
    if "text" in value:
        texts, single = [check_text(value["text"], "text")], True
    else:
        texts, single = check_texts(value["texts"], settings.max_texts), False
    cleaned = [clean_review(text, settings.max_text_chars) for text in texts]
    return Reviews([text for text, _ in cleaned], [repairs for _, repairs in cleaned], single)


def check_text(value: object, where: str) -> str:
    if not isinstance(value, str):
        raise RequestError(422, f"{where} must be a string, not {json_type(value)}")
    if not value.strip():
        raise RequestError(422, f"{where} is empty; expected a review")
    return value


def check_texts(value: object, max_texts: int) -> list[str]:
    if not isinstance(value, list):
        raise RequestError(422, f"texts must be a list of strings, not {json_type(value)}")
    if not value:
        raise RequestError(422, "texts is empty; expected at least one review")
    if len(value) > max_texts:
        raise RequestError(
            413, f"texts has {len(value)} reviews; serve.max_texts={max_texts} per request"
        )
    return [check_text(item, f"texts[{index}]") for index, item in enumerate(value)]


def json_type(value: object) -> str:
    names = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    names.update({int: "a number", float: "a number", type(None): "null"})
    return names.get(type(value), type(value).__name__)
