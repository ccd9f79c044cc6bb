#!/usr/bin/env bash
# What textlab checks on a lent GPU machine, in one bounded command (under 10 minutes):
#   bash benchmarks/gpu_lease.sh        from the project root, on the GPU machine (timeout_s 590)
# Parts, each switched by a variable (1 on, 0 off; the default in brackets: the parts already
# measured on an H200 are off, benchmarks/README.md has their figures), in this order:
#   TIMING   [0] transformer_mfu.py at BERT-small and BERT-base, attention_speed.py, alone on
#            the GPU
#   FT_SPEED [1] 150 fine-tuning steps with data.pad_to_multiple_of 1 and 64; the recipe then pads
#            as the faster did (at least 10% faster to switch); with FT_SPEED=0 it pads by PAD (64)
#   (always) gpu_pretraining.sh's recipe, pretraining then fine-tuning, done by BUDGET seconds;
#            PROFILE [1] adds Lightning's simple profiler to both runs (a step's breakdown)
#   FUNC     [0] beside the pretraining: accelerator auto-selection, one bf16 epoch, eval, predict,
#            ONNX export
#   SERVE    [1] beside the fine-tuning, once its best.ckpt exists: mode=serve serve.device=cuda
#            answering /health, /info and /predict (wheels in .gpu/serve-wheels)
#   AFTER    [1] once the recipe is done, while there is time before LIMIT seconds:
#            TEACH [1] the fine-tuned transformer's probabilities for train/unsup, without
#            their text, in all.tgz as teacher-unsup.jsonl.gz (for CPU students:
#            benchmarks/teacher_probabilities.py join), transformer_mfu.py --compile at
#            BERT-base, serve_load.py on the fine-tuned checkpoint, --compile at BERT-small
# Here, beforehand: the wheels the machine lacks in .gpu/wheels (hydra-core, omegaconf,
# antlr4-python3-runtime; fastapi, uvicorn, pydantic and their needs in .gpu/serve-wheels) and
# the packed train split in .gpu/aclImdb-train.tgz (benchmarks/README.md "A GPU recipe"); carry
# .gpu. A lease returns at most 8 files, so the logs come back as $OUT/all.tgz (repacked every
# 20 s, so a cut command still returns them) and status.txt. DEV/ACCEL/*_ARGS/TGZ let the same
# script rehearse on a CPU with a shrunk model (see the section above).
set -u
T0=$(date +%s)
OUT=${OUT:-/tmp/gpu-out}; mkdir -p "$OUT"
LOG=/tmp/gpulog; mkdir -p $LOG
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
ACCEL=${ACCEL:-gpu}; DEV=${DEV:-cuda}; BUDGET=${BUDGET:-530}; LIMIT=${LIMIT:-$(( BUDGET + 45 ))}
TIMING=${TIMING:-0}; FT_SPEED=${FT_SPEED:-1}; FUNC=${FUNC:-0}; SERVE=${SERVE:-1}; AFTER=${AFTER:-1}
python3 -m pip install -q --no-deps --no-index .gpu/wheels/*.whl > $LOG/pip.log 2>&1
# the serving wheels on their own: a clash there must not cost the recipe its Hydra
if [ "$SERVE$AFTER" != 00 ] && ls .gpu/serve-wheels/*.whl > /dev/null 2>&1; then
  python3 -m pip install -q --no-deps --no-index .gpu/serve-wheels/*.whl >> $LOG/pip.log 2>&1
fi
{ nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv,noheader
  python3 -c 'import torch, lightning, hydra, tokenizers, torchmetrics; print("torch", torch.__version__, "lightning", lightning.__version__, "hydra", hydra.__version__, "tokenizers", tokenizers.__version__, "torchmetrics", torchmetrics.__version__)'
  nproc; python3 --version; } > $LOG/machine.txt 2>&1
pack() { tar czf $OUT/.all.tgz -C $LOG . 2>/dev/null && mv $OUT/.all.tgz $OUT/all.tgz; cp $LOG/status.txt $OUT/ 2>/dev/null; }
( while sleep 20; do pack; done ) & packer=$!
# GPU busy share and memory every 5 s: a stage far under 100% waits on the CPU side
if command -v nvidia-smi > /dev/null; then
  nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv -l 5 > $LOG/util.csv 2>&1 &
  sampler=$!
fi
step() {  # NAME SECONDS CMD...: bounded, logged to $LOG/NAME.log, one status line
  local name=$1 secs=$2; shift 2
  local start=$(date +%s)
  timeout "$secs" "$@" > "$LOG/$name.log" 2>&1; local rc=$?
  echo "$name rc=$rc $(( $(date +%s) - start ))s (t=$(( $(date +%s) - T0 ))s)" | tee -a "$LOG/status.txt"
}
left() { echo $(( T0 + LIMIT - $(date +%s) )); }  # seconds before LIMIT
mkdir -p /tmp/imdb; ( tar xzf ${TGZ:-.gpu/aclImdb-train.tgz} -C /tmp/imdb; echo "untar rc=$? t=$(( $(date +%s) - T0 ))s" >> $LOG/status.txt ) &
untar=$!
mfu="python3 benchmarks/transformer_mfu.py --device $DEV"; x=${MFU_ARGS:-}
small="--d-model 512 --num-heads 8 --num-layers 4 --ffn-dim 2048"
# 1. timing, nothing else on the GPU
if [ "$TIMING" = 1 ]; then
  step mfu_small 45 $mfu $small $x
  step mfu_small_b128 45 $mfu $small --batch-size 128 $x
  step mfu_base 45 $mfu $x
  step mfu_small_manual 45 $mfu $small --attention manual $x
  step attention 45 python3 benchmarks/attention_speed.py --device $DEV --dtype bf16 ${ATT_ARGS:-}
fi
wait $untar
# fine-tuning step time at the recipe's shape, tight padding against multiples of 64 (the first
# lease saw 107 ms a step against the benchmark's 9.3 ms); run_training_batch in each log's report
ft="python3 run.py experiment=imdb_transformer_gpu data.root=/tmp/imdb/aclImdb trainer.max_epochs=1"
ft="$ft +trainer.limit_train_batches=150 +trainer.limit_val_batches=5 +trainer.profiler=simple"
pad=${PAD:-64}  # imdb_transformer_gpu's own
if [ "$FT_SPEED" = 1 ]; then
  for p in 1 64; do
    step ft_pad$p 100 $ft data.pad_to_multiple_of=$p hydra.run.dir=/tmp/gpu-runs/ft$p ${FT_ARGS:-}
    grep -a "run_training_batch" $LOG/ft_pad$p.log | head -1 | tr -s ' ' >> $LOG/status.txt
  done
  step_s() { awk -F'|' '/run_training_batch/ { gsub(/[ \t]/, "", $3); print $3; exit }' "$1" 2>/dev/null; }
  a=$(step_s $LOG/ft_pad1.log); b=$(step_s $LOG/ft_pad64.log); pad=1
  # the recipe fine-tunes with whichever padding stepped faster (at least 10% faster to switch)
  if [ -n "$a" ] && [ -n "$b" ] && awk "BEGIN { exit !($b < 0.9 * $a) }"; then pad=64; fi
  echo "recipe: data.pad_to_multiple_of=$pad (s/step: ${a:-?} at 1, ${b:-?} at 64)" >> $LOG/status.txt
fi
# 2. the recipe (pretrain, fine-tune) in the background, bounded to end by the deadline
export DEADLINE=$(( T0 + BUDGET ))
prof=; [ "${PROFILE:-1}" = 1 ] && prof=+trainer.profiler=simple
recipe_dir=/tmp/gpu-recipe
PRETRAIN_EPOCHS=${PRETRAIN_EPOCHS:-8} PRETRAIN_S=${PRETRAIN_S:-250} FINETUNE_S=${FINETUNE_S:-400} \
  WORK=$recipe_dir bash benchmarks/gpu_pretraining.sh /tmp/imdb/aclImdb $LOG/recipe \
  data.pad_to_multiple_of=$pad $prof ${RECIPE_ARGS:-} > $LOG/recipe.out 2>&1 &
recipe=$!
echo "recipe started: data.pad_to_multiple_of=$pad $prof (t=$(( $(date +%s) - T0 ))s)" >> $LOG/status.txt
# 3. functional checks beside it (small; they share the GPU with the pretraining's first minutes)
d=/tmp/gpu-runs
if [ "$FUNC" = 1 ]; then
  step fast_auto 120 python3 run.py debug=fast hydra.run.dir=$d/fast ${FUNC_ARGS:-}
  grep -h "GPU available\|TPU available\|accelerator" $LOG/fast_auto.log | head -3 >> $LOG/status.txt
  step bf16 180 python3 run.py model=transformer trainer.accelerator=$ACCEL trainer.precision=bf16-mixed \
    trainer.max_epochs=1 hydra.run.dir=$d/bf16 ${FUNC_ARGS:-}
  cp $d/bf16/metrics.json $LOG/bf16-metrics.json 2>/dev/null
  ck=$d/bf16/checkpoints/best.ckpt
  if [ -f "$ck" ]; then
    step eval 90 python3 run.py mode=eval ckpt_path=$ck trainer.accelerator=$ACCEL hydra.run.dir=$d/eval
    cp $d/eval/metrics.json $LOG/eval-metrics.json 2>/dev/null
    step predict 60 python3 run.py mode=predict ckpt_path=$ck trainer.accelerator=$ACCEL 'predict.text="a sharp, funny film"' hydra.run.dir=$d/pred
    step export 90 python3 run.py mode=export ckpt_path=$ck hydra.run.dir=$d/export
  fi
fi
# 4. serving on the GPU beside the fine-tuning, from its first best.ckpt (a functional check:
# the GPU is shared, so no speed is read from it)
tuned=$recipe_dir/finetune/checkpoints/best.ckpt
if [ "$SERVE" = 1 ]; then
  while [ ! -f "$tuned" ] && kill -0 $recipe 2> /dev/null; do sleep 5; done
  if [ -f "$tuned" ]; then
    sleep 5  # the checkpoint is written whole (renamed into place); give the epoch's end a moment
    step serve 90 python3 benchmarks/serve_check.py "$tuned" $DEV serve.device=$DEV
  fi
fi
wait $recipe
echo "recipe done t=$(( $(date +%s) - T0 ))s" >> $LOG/status.txt
# 5. after the recipe, while time is left: compiled MFU, then serving under load
if [ "$AFTER" = 1 ]; then
  if [ "${TEACH:-1}" = 1 ] && [ -f "$tuned" ] && (( $(left) > 60 )); then
    # numbered as benchmarks/self_training.py numbers them here, so the join finds each text
    step teach_input 40 python3 -c "import sys; sys.path.insert(0, 'benchmarks')
from pathlib import Path; from self_training import unlabelled_jsonl
unlabelled_jsonl(Path('/tmp/imdb/aclImdb'), Path('/tmp/unsup.jsonl'))"
    step teach $(( $(left) - 10 )) python3 run.py mode=predict ckpt_path="$tuned" \
      predict.input=/tmp/unsup.jsonl hydra.run.dir=$d/teach
    [ -f $d/teach/predictions.jsonl ] && step teach_strip 30 python3 \
      benchmarks/teacher_probabilities.py strip $d/teach/predictions.jsonl $LOG/teacher-unsup.jsonl.gz
  fi
  (( $(left) > 60 )) && step mfu_base_compile 60 $mfu --compile $x
  (( $(left) > 50 )) && [ -f "$tuned" ] && step serve_load $(( $(left) - 5 )) python3 \
    benchmarks/serve_load.py --models transformer --backends torch --ckpt-transformer "$tuned" \
    --rounds 1 --warmup 2 --duration 5 --no-pin
  (( $(left) > 50 )) && step mfu_small_compile $(( $(left) - 5 )) $mfu $small --compile $x
fi
nvidia-smi >> $LOG/machine.txt 2>&1
kill $packer ${sampler:-}; pack
cat $LOG/status.txt
