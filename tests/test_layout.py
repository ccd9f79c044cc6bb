"""The package layout is the architecture: imports point one way, modules and functions stay small.

The rule (README "Layout"): a module imports only from layers below its own, or from its own
package; the modes never import each other. Imports inside functions count too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "textlab"
# lowest first; units on one layer (data, models) do not import each other
LAYERS = {
    "base": 0,
    "tokenization": 1,
    "data": 2,
    "models": 2,
    "callbacks": 3,
    "module": 4,
    "pretraining_module": 4,
    "checkpoint": 5,
    "run": 6,
    "modes": 7,
    "app": 8,
}
MAX_MODULE_LINES = 300
MAX_FUNCTION_LINES = 60  # longer only with a `# long:` comment saying why


def modules() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def unit(path: Path) -> str:
    """`data` for src/textlab/data/streaming.py, `module` for src/textlab/module.py."""
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def textlab_imports(path: Path) -> list[tuple[int, str]]:
    """(line, dotted module) for every `import textlab...` / `from textlab... import` in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            found += [(node.lineno, name) for name in names[:1] if name.startswith("textlab.")]
            if node.module == "textlab":
                found += [(node.lineno, f"textlab.{alias.name}") for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("textlab.")]
    return found


def test_every_top_level_unit_has_a_layer():
    units = {unit(path) for path in modules()} - {"__init__"}
    assert units == set(LAYERS), "add new packages to LAYERS and to README 'Layout'"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_point_down_the_layers(path):
    source = unit(path)
    if source == "__init__":
        return
    wrong = []
    for line, name in textlab_imports(path):
        target = name.split(".")[1]
        if target == source:
            # a mode never imports another mode: what two need moves down a layer
            if source == "modes" and name.split(".")[2:3] != [path.stem]:
                wrong.append(f"line {line}: {name} (modes never import each other)")
            continue
        if LAYERS[target] >= LAYERS[source]:
            wrong.append(f"line {line}: {name} ({target} is not below {source})")
    assert not wrong, f"{path.relative_to(SRC)}:\n" + "\n".join(wrong)


def test_the_import_check_catches_an_upward_and_a_sideways_import(tmp_path, monkeypatch):
    # the rule must be able to fail: check it on a fake tree
    fake = tmp_path / "textlab"
    (fake / "models").mkdir(parents=True)
    (fake / "modes").mkdir()
    (fake / "models" / "bad.py").write_text("from textlab.run.trainer import build_trainer\n")
    (fake / "modes" / "a.py").write_text("def f():\n    from textlab.modes.b import g\n")
    monkeypatch.setattr(sys.modules[__name__], "SRC", fake)
    for bad in (fake / "models" / "bad.py", fake / "modes" / "a.py"):
        with pytest.raises(AssertionError):
            test_imports_point_down_the_layers(bad)


def test_the_top_level_holds_a_handful_of_modules():
    top = sorted(path.name for path in SRC.glob("*.py"))
    # the two LightningModules (classifier, language-model pretraining) and the tokenizers
    assert top == ["__init__.py", "module.py", "pretraining_module.py", "tokenization.py"]


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_modules_and_functions_stay_small(path):
    text = path.read_text()
    lines = text.splitlines()
    assert len(lines) <= MAX_MODULE_LINES, f"{len(lines)} lines: split it by responsibility"
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            body = lines[node.lineno - 1 : node.end_lineno]
            explained = any(line.strip().startswith("# long:") for line in body)
            assert len(body) <= MAX_FUNCTION_LINES or explained, (
                f"{node.name}: {len(body)} lines without a `# long:` comment saying why"
            )
