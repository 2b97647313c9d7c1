#!/usr/bin/env bash
# One prepared run on a GPU machine: it needs a Vulkan driver there, and Python 3 with CUDA PyTorch for
# the peer; no Node, no network. Prepare it from the project root after `npm ci` with
# `bash ../shared/gpu/pack.sh`, which fills the git-ignored .gpu/ with Deno, the MNIST files, the Vulkan
# loader, .gpu/run.sh and the peers; then, on the GPU machine, from a copy of the checkout with .gpu/ in it:
# `bash bench/gpu-run.sh` (about 9 minutes). Tunes first (the cache in /tmp, so the machine's home is
# left alone), then trains 2 epochs, evaluates and benchmarks with the tuned configurations; .gpu/run.sh
# adds the PyTorch-CUDA and jax-js peers and writes each command's output to $OUT/NN.log.
# Works on lavapipe too (slowly): OUT=/tmp/gpu-out bash bench/gpu-run.sh
set -uo pipefail
cache=/tmp/gpu-tune.json
exec bash .gpu/run.sh \
  "deno run -A src/cli.ts info" \
  "deno run -A src/cli.ts tune --seconds 50 --tune-cache $cache" \
  "deno run -A src/cli.ts train --epochs 2 --json --out /tmp/gpu-digit.safetensors --tune-cache $cache --verbose" \
  "deno run -A src/cli.ts eval --checkpoint /tmp/gpu-digit.safetensors --tune-cache $cache --verbose" \
  "deno run -A bench/run.ts --no-torch --tune-cache $cache"
