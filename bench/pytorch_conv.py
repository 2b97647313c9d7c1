#!/usr/bin/env python3
"""PyTorch's conv2d passes timed on the CPU, the peer of bench/conv-shapes.ts:

  python3 bench/pytorch_conv.py SHAPES.json --threads 2

SHAPES.json: a list of {batch, inChannels, outChannels, size, kernel, padding} (square images). For each shape,
milliseconds per forward (with bias), input gradient and weight gradient (with the bias's), the median of
a few timed calls after a warm-up, through aten's convolution_backward as autograd calls it. Prints one
JSON list on its last line, in the same order.
"""
import argparse
import json
import time

import torch


def median_ms(fn, seconds=0.3):
    fn()
    times = []
    started = time.perf_counter()
    while len(times) < 3 or (time.perf_counter() - started < seconds and len(times) < 50):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    times.sort()
    return 1000 * times[len(times) // 2]


def passes(s):
    k, p = s['kernel'], s['padding']
    x = torch.randn(s['batch'], s['inChannels'], s['size'], s['size'])
    w = torch.randn(s['outChannels'], s['inChannels'], k, k)
    b = torch.randn(s['outChannels'])
    y = torch.nn.functional.conv2d(x, w, b, 1, p)
    g = torch.randn_like(y)
    backward = torch.ops.aten.convolution_backward

    def grad(mask):
        return lambda: backward(g, x, w, [s['outChannels']], [1, 1], [p, p], [1, 1], False, [0, 0], 1, mask)

    return {
        'forward': median_ms(lambda: torch.nn.functional.conv2d(x, w, b, 1, p)),
        'input': median_ms(grad([True, False, False])),
        'weight': median_ms(grad([False, True, True])),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('shapes')
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with open(args.shapes) as f:
        shapes = json.load(f)
    with torch.no_grad():
        print(json.dumps([passes(s) for s in shapes]))


if __name__ == '__main__':
    main()
