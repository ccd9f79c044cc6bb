"""`mode=serve`'s HTTP server: request parsing and limits, the micro-batcher, the PyTorch and
ONNX Runtime backends, token attributions and the demo page (static/index.html)."""
