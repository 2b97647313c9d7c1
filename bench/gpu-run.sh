#!/usr/bin/env bash
# The device run for issue 14 (see ../shared/gpu/README.md): after `bash ../shared/gpu/pack.sh` here,
# run tool command "bash bench/gpu-run.sh", carry [".gpu"], timeout_s ~540. Tunes first (the cache in
# /tmp, so the device machine's home is left alone), then trains 2 epochs, evaluates and benchmarks
# with the tuned configurations; .gpu/run.sh adds the PyTorch-CUDA and jax-js peers and writes each
# command's output to $OUT/NN.log. Works on lavapipe too (slowly): OUT=/tmp/gpu-out bash bench/gpu-run.sh
set -uo pipefail
cache=/tmp/gpu-tune.json
exec bash .gpu/run.sh \
  "deno run -A src/cli.ts info" \
  "deno run -A src/cli.ts tune --seconds 50 --tune-cache $cache" \
  "deno run -A src/cli.ts train --epochs 2 --json --out /tmp/gpu-digit.safetensors --tune-cache $cache --verbose" \
  "deno run -A src/cli.ts eval --checkpoint /tmp/gpu-digit.safetensors --tune-cache $cache --verbose" \
  "deno run -A bench/run.ts --no-torch --tune-cache $cache"
