#!/usr/bin/env bash
# One prepared run on a GPU machine: it needs a Vulkan driver there, and Python 3 with CUDA PyTorch for
# the peer; no Node, no network. Prepare it from the project root after `npm ci` with
# `bash ../shared/gpu/pack.sh`, which fills the git-ignored .gpu/ with Deno, the MNIST files, the Vulkan
# loader, .gpu/run.sh and the peers; then, on the GPU machine, from a copy of the checkout with .gpu/ in it:
# `bash bench/gpu-run.sh` (about 9 minutes). Tunes first (the cache in /tmp, so the machine's home is
# left alone), then trains 2 epochs, evaluates and benchmarks with the tuned configurations; .gpu/run.sh
# adds the PyTorch-CUDA and jax-js peers and writes each command's output to $OUT/NN.log.
#
# Every command plans for a discrete GPU ($WEBGPU_DIGITS_DEVICE_CLASS, default discrete-gpu): an adapter
# taken for something else still runs the GPU-class kernels, and `info` (01.log) says what it was taken for.
#
# The rehearsal on a CPU driver runs the same commands on the same kernels, scaled to fit .gpu/run.sh's
# 9 minutes there (lavapipe runs the GPU-class kernels at ~130 images/s): GPU_RUN_REHEARSAL=1
#   OUT=$(mktemp -d) GPU_RUN_REHEARSAL=1 bash bench/gpu-run.sh
# (a git worktree cannot run pack.sh itself, whose .git/info/exclude line needs a .git folder: pack in
# a scratch folder with package.json, node_modules and .git/info, then move its .gpu/ here).
set -uo pipefail
[ -f .gpu/run.sh ] || { echo "no .gpu/run.sh: run bash ../shared/gpu/pack.sh in the project root first" >&2; exit 1; }
export WEBGPU_DIGITS_DEVICE_CLASS=${WEBGPU_DIGITS_DEVICE_CLASS:-discrete-gpu}
cache=/tmp/gpu-tune.json
rm -f "$cache" # each run tunes afresh: a cache from an earlier run or engine would be ignored anyway
if [ "${GPU_RUN_REHEARSAL:-0}" = 1 ]; then
  tune_seconds=20 train="--epochs 1 --limit 1280 --no-test" eval="--limit 2000"
  bench="--seconds 5 --no-epoch --no-gpu-class --eval-images 1000"
  export JAXJS_STEPS=${JAXJS_STEPS:-10}
else
  tune_seconds=50 train="--epochs 2" eval="" bench=""
fi
exec bash .gpu/run.sh \
  "deno run -A src/cli.ts info" \
  "deno run -A src/cli.ts tune --seconds $tune_seconds --tune-cache $cache" \
  "deno run -A src/cli.ts train $train --json --out /tmp/gpu-digit.safetensors --overwrite --tune-cache $cache --verbose" \
  "deno run -A src/cli.ts eval --checkpoint /tmp/gpu-digit.safetensors $eval --tune-cache $cache --verbose" \
  "deno run -A bench/run.ts --no-torch --tune-cache $cache $bench"
