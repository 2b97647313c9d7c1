#!/usr/bin/env python3
"""PyTorch on the CPU training and evaluating a model built from one of our model descriptions, the peer
of bench/models.ts:

  python3 bench/pytorch_models.py --spec MODEL.json --train-images N --eval-images M --threads 2
  python3 bench/pytorch_models.py --tutorial ...     the tutorial's own `digit` program instead of a spec

Tensors are preloaded and normalized before timing (no DataLoader), Adam at batch 64, a few warm-up
steps first; evaluation runs under no_grad at batch 1000. Prints one JSON object on its last line.
"""
import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

from pytorch_digit import Net, SpecNet, load


def train_rate(model, images, labels, count, batch_size):
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()

    def step(begin):
        index = slice(begin, begin + batch_size)
        optimizer.zero_grad()
        F.nll_loss(model(images[index]), labels[index]).backward()
        optimizer.step()

    for begin in range(0, 3 * batch_size, batch_size):
        step(begin)
    steps = max(1, count // batch_size)
    started = time.perf_counter()
    for i in range(steps):
        step((i * batch_size) % (len(labels) - batch_size))
    return steps * batch_size / (time.perf_counter() - started)


def eval_rate(model, images, count, batch_size=1000):
    model.eval()
    with torch.no_grad():
        model(images[:batch_size])
        started = time.perf_counter()
        for begin in range(0, count, batch_size):
            model(images[begin:min(begin + batch_size, count)])
    return count / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=os.environ.get('MNIST_DIR', 'data/mnist'))
    parser.add_argument('--spec', metavar='MODEL.json')
    parser.add_argument('--tutorial', action='store_true')
    parser.add_argument('--train-images', type=int, default=1920)
    parser.add_argument('--eval-images', type=int, default=2000)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    if args.tutorial:
        model = Net()
    else:
        with open(args.spec) as f:
            model = SpecNet(json.load(f))
    images, labels = load(args.data, 'train')
    needed = max(args.train_images, args.eval_images) + 4 * args.batch_size
    images, labels = images[:needed].contiguous(), labels[:needed].contiguous()
    train = train_rate(model, images, labels, args.train_images, args.batch_size)
    evaluation = eval_rate(model, images, args.eval_images)
    print(json.dumps({'train_images_per_second': train, 'eval_images_per_second': evaluation,
                      'threads': torch.get_num_threads(), 'version': torch.__version__}))


if __name__ == '__main__':
    main()
