"""Inside 90 minutes? The README's distilled-transformer recipe end to end, one stage after the
other as a user runs it (every core to each stage); prints each stage's wall time, the total
against the 90-minute budget of #16, and the student's val accuracy per epoch.

    TEXTLAB_IMDB_ROOT=/path/to/aclImdb python benchmarks/transformer_recipe.py data.carve=movie

Stages, each a `run.py` process run as benchmarks/pretraining.py runs them (skipped when its run
dir already has its output, so a killed benchmark continues where it stopped):
1. pretrain: `experiment=imdb_pretrain_transformer` (MLM on train/unsup + the training reviews);
2. teacher: `experiment=imdb_ngram` (the NBSVM bag) on the same validation carve;
3. predict: the teacher's probabilities for train/unsup;
4. student: `experiment=imdb_transformer_distilled pretrained=<1> data.extra_train=<3>`, the
   README's command (a 3-epoch schedule stopped after its second epoch, where every 3-epoch run
   kept its best).
Extra arguments go to stages 1, 2 and 4 (the carve, seeds). Writes <out>/recipe.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from pretraining import imdb_stages_setup, print_runs, stage
from self_training import predict, unlabelled_jsonl

BUDGET_S = 90 * 60
STUDENT = ["experiment=imdb_transformer_distilled"]


def main() -> None:
    out, root, data = imdb_stages_setup(__doc__, "bench-transformer-recipe")
    runs = {"pretrain": stage("pretrain", out, ["experiment=imdb_pretrain_transformer", *data])}
    runs["teacher"] = stage("teacher", out, ["experiment=imdb_ngram", *data])
    reviews = unlabelled_jsonl(Path(root), out / "unsup.jsonl")
    predictions = predict(out / "teacher" / "checkpoints" / "best.ckpt", reviews, out / "predict")
    pretrained = out / "pretrain" / "checkpoints" / "last.ckpt"
    student = [*STUDENT, *data, f"pretrained={pretrained}", f"data.extra_train={predictions}"]
    runs["student"] = stage("student", out, student)
    predict_s = float((out / "predict" / "wall_s.txt").read_text())
    walls = {"pretrain": runs["pretrain"]["wall_s"], "teacher": runs["teacher"]["wall_s"]}
    walls |= {"predict": predict_s, "student": runs["student"]["wall_s"]}
    total = sum(walls.values())
    (out / "recipe.json").write_text(json.dumps({**runs, "wall_s": walls}, indent=2) + "\n")
    for name, wall in walls.items():
        print(f"{name}: {wall:.0f} s")
    print(f"total: {total:.0f} s = {total / 60:.1f} min, {total / BUDGET_S:.2f} of 90 minutes")
    print_runs({name: runs[name] for name in ("teacher", "student")})


if __name__ == "__main__":
    main()
