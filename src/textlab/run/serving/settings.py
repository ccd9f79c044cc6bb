"""The `serve:` block of conf/config.yaml, checked once: every knob of the server in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from textlab.base.errors import require


@dataclass(frozen=True)
class ServeSettings:
    """What `mode=serve` listens on, how it batches and what it refuses (README "Serving")."""

    host: str = "127.0.0.1"
    port: int = 8000
    backend: Literal["torch", "onnx"] = "torch"
    device: str = "auto"
    max_batch_size: int = 32
    batch_timeout: float = 0.005
    workers: int = 1
    max_body_bytes: int = 1_048_576
    max_text_chars: int = 100_000
    max_texts: int = 256
    max_queued_texts: int = 4096
    body_timeout: float = 10.0
    shutdown_timeout: float = 30.0
    attention: bool = True
    access_log: bool = False

    def __post_init__(self) -> None:
        positive = ("max_batch_size", "workers", "max_body_bytes", "max_text_chars", "max_texts")
        for name in (*positive, "max_queued_texts"):
            value = getattr(self, name)
            require(value > 0, f"serve.{name}", value, "a positive integer")
        require(0 <= self.port < 65536, "serve.port", self.port, "a port number, 0 to 65535")
        for name in ("batch_timeout", "body_timeout", "shutdown_timeout"):
            value = getattr(self, name)
            require(value >= 0, f"serve.{name}", value, "seconds, 0 or more")
        require(
            self.device in ("auto", "cpu") or self.device.startswith("cuda"),
            "serve.device",
            self.device,
            "auto, cpu, cuda or cuda:N",
        )
        require(
            self.max_queued_texts >= self.max_texts,
            "serve.max_queued_texts",
            self.max_queued_texts,
            f"at least serve.max_texts={self.max_texts} (else a full request could never queue)",
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
