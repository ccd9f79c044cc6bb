#!/usr/bin/env bash
# The GPU recipe (benchmarks/README.md "A GPU recipe"), bounded to fit a lent GPU machine:
#   bash benchmarks/gpu_pretraining.sh IMDB [OUT [OVERRIDES...]]
# IMDB: an aclImdb folder, or a .tgz of one (a GPU machine cannot download; the train split
# with unsup packs into 51 MB with tar and gzip -1, see that section). Pretrains
# experiment=imdb_pretrain_transformer_gpu (PRETRAIN_EPOCHS, default 8, killed after
# PRETRAIN_S seconds, default 300: last.ckpt is written every epoch), fine-tunes
# experiment=imdb_transformer_gpu from its last checkpoint (FINETUNE_S, default 240), and
# copies each run's metrics.json and run.log to OUT (default $OUT, else /tmp/gpu-out).
# DEADLINE (seconds since the epoch, optional) cuts each bound to the time left before it, so
# the pair ends inside a lease's command limit whatever the pretraining took.
# OVERRIDES go to both runs (a CPU rehearsal: shrink the model and data, same script).
set -u
imdb=$(realpath "$1"); out=$(realpath -m "${2:-${OUT:-/tmp/gpu-out}}"); shift $(( $# < 2 ? $# : 2 ))
cd "$(dirname "$0")/.."  # run.py and conf/ from the project root, wherever this is called from
work=${WORK:-/tmp/gpu-recipe}
python=${PYTHON:-python3}
extra=("$@")
mkdir -p "$out" "$work"
if [ -f "$imdb" ]; then
  tar xzf "$imdb" -C "$work" && imdb=$work/aclImdb
fi
step() {  # NAME SECONDS OVERRIDES...: run.py bounded, its figures into $out
  local name=$1 secs=$2; shift 2
  local start=$(date +%s)
  if [ -n "${DEADLINE:-}" ] && (( DEADLINE - start < secs )); then secs=$(( DEADLINE - start )); fi
  (( secs > 0 )) || secs=1  # timeout 0 would mean no bound at all
  timeout "$secs" "$python" run.py hydra.run.dir="$work/$name" data.root="$imdb" "$@" "${extra[@]}" \
    > "$out/$name.log" 2>&1
  local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - start ))s" | tee -a "$out/status.txt"
  cp "$work/$name/metrics.json" "$out/$name-metrics.json" 2>/dev/null
  cp "$work/$name/run.log" "$out/$name-run.log" 2>/dev/null
  grep -h epoch_log "$work/$name/run.log" 2>/dev/null | tee -a "$out/status.txt"
}
step pretrain "${PRETRAIN_S:-300}" experiment=imdb_pretrain_transformer_gpu \
  trainer.max_epochs="${PRETRAIN_EPOCHS:-8}"
step finetune "${FINETUNE_S:-240}" experiment=imdb_transformer_gpu \
  pretrained="$work/pretrain/checkpoints/last.ckpt"
