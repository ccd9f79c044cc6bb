"""Self-training pays? A teacher labels aclImdb's 50k unlabelled reviews, and the LSTM alone
trains on them beside the labelled ones (`data.extra_train`); prints the table and writes the
val-accuracy plot against the same LSTM trained on the labelled reviews only.

    TEXTLAB_IMDB_ROOT=/path/to/aclImdb python benchmarks/self_training.py [overrides ...]

Stages, each a `run.py` process run as benchmarks/pretraining.py runs them (skipped when its
run dir already has its output, so a killed benchmark continues where it stopped):
1. teacher: `experiment=imdb_ngram` (the NBSVM bag, on the same validation carve);
2. predict: `mode=predict` with the teacher's best checkpoint on train/unsup, written first
   as one JSONL file (`unsup.jsonl`, a review per line, in sorted file order);
3. student: `experiment=imdb_lstm data.extra_train=<predict>/predictions.jsonl`;
4. distilled: the same with `data.extra_train_targets=probabilities` (the teacher's
   probabilities as targets, not its labels);
5. labelled: `experiment=imdb_lstm` alone, the baseline.
Extra arguments go to the teacher and both LSTM runs. Writes <out>/self_training.json and
<out>/val_acc.png.
"""

from __future__ import annotations

import json
from pathlib import Path

from pretraining import finish_plot, imdb_stages_setup, print_runs, run_once, stage


def unlabelled_jsonl(root: Path, path: Path) -> Path:
    """train/unsup/*.txt (one review per file) as one JSONL file mode=predict can read."""
    if not path.is_file():
        files = sorted((root / "train" / "unsup").glob("*.txt"))
        with path.open("w", encoding="utf-8") as out:
            for review in files:
                out.write(json.dumps({"text": review.read_text(encoding="utf-8")}) + "\n")
    return path


def predict(checkpoint: Path, reviews: Path, run_dir: Path) -> Path:
    predictions = run_dir / "predictions.jsonl"
    run_once(
        ["mode=predict", f"ckpt_path={checkpoint}", f"predict.input={reviews}"],
        run_dir,
        predictions,
    )
    return predictions


def plot(results: dict, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6, 4))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    labels = {
        "student": "LSTM, labelled + 50k teacher-labelled",
        "distilled": "LSTM, labelled + 50k teacher probabilities",
        "labelled": "LSTM, labelled only",
        "teacher": "teacher (n-gram bag)",
    }
    for name, label in labels.items():
        accs = results[name]["val_acc"]
        style = ":" if name == "teacher" else "-"
        axes.plot(range(1, len(accs) + 1), accs, style, marker="o", label=label)
    finish_plot(figure, axes, "experiment=imdb_lstm: self-training on train/unsup", path)


def main() -> None:
    out, root, data = imdb_stages_setup(__doc__, "bench-self-training")
    results = {"teacher": stage("teacher", out, ["experiment=imdb_ngram", *data])}
    reviews = unlabelled_jsonl(Path(root), out / "unsup.jsonl")
    teacher = out / "teacher" / "checkpoints" / "best.ckpt"
    predictions = predict(teacher, reviews, out / "predict")
    student = ["experiment=imdb_lstm", *data, f"data.extra_train={predictions}"]
    results["student"] = stage("student", out, student)
    soft = [*student, "data.extra_train_targets=probabilities"]
    results["distilled"] = stage("distilled", out, soft)
    results["labelled"] = stage("labelled", out, ["experiment=imdb_lstm", *data])
    (out / "self_training.json").write_text(json.dumps(results, indent=2) + "\n")
    plot(results, out / "val_acc.png")
    print_runs(results)
    print(f"plot: {out / 'val_acc.png'}")


if __name__ == "__main__":
    main()
