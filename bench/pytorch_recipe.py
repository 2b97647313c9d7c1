#!/usr/bin/env python3
"""A model description of src/nn/spec.ts trained with a recipe in PyTorch on the CPU, as `train` trains it:
Adam, batch 64 by default, mean cross-entropy of log-softmax, the learning-rate schedules of
src/train/schedule.ts (OneCycleLR without cycling beta1, as ours), and with --augment the random affine
transform of shaders/augment_affine.wgsl (rotation, scale, shift about the image centre, bilinear, zero
outside) applied to the raw pixels before normalizing, each image's transform drawn from the same
Philox4x32-10 stream as ours (seed, step, image in batch), so the same images come out up to float
rounding. Tensors are preloaded (no DataLoader).

  python3 bench/pytorch_recipe.py --spec MODEL.json --epochs 20 --lr 0.003 --schedule onecycle --augment
      PyTorch's own initialization and shuffle (seeded with --seed)
  python3 bench/pytorch_recipe.py --replay DIR --epochs N [recipe options]
      from DIR/init.safetensors (the model its model_spec describes) in the order of DIR/order-<epoch>.u32,
      both written by bench/pytorch-replay.ts: everything as ours but dropout's masks and float rounding

Prints one JSON object per epoch ({"event": "epoch", "epoch", "test_accuracy", "seconds"}, seconds since
the script started) and one {"event": "done", ...} line last. Needs only torch.
"""
import argparse
import json
import math
import os
import sys
import time

START = time.monotonic()

import torch  # noqa: E402  (imported after START so the wall clock includes PyTorch's start-up)
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402
from pytorch_digit import SpecNet, evaluate, load_pixels, read_safetensors  # noqa: E402

MEAN, STD = 0.1307, 0.3081


def cosine_anneal(start, end, fraction):
    return end + (start - end) / 2 * (1 + math.cos(math.pi * fraction))


def learning_rate(schedule, lr, gamma, step, epoch, total_steps):
    """src/train/schedule.ts's learningRate, step counted from 1."""
    t = step - 1
    if schedule == 'constant':
        return lr
    if schedule == 'step':
        return lr * gamma ** epoch
    if schedule == 'cosine':
        return cosine_anneal(lr, 0, min(t, total_steps) / total_steps)
    initial = lr / 25
    low = initial / 1e4
    warm_end = 0.3 * total_steps - 1
    if t <= warm_end:
        return cosine_anneal(initial, lr, t / warm_end if warm_end > 0 else 1)
    last = total_steps - 1
    return cosine_anneal(lr, low, min(t - warm_end, last - warm_end) / (last - warm_end) if last > warm_end else 1)


AUGMENT_SALT = 0xa5a5a5a5


def philox4x32(counter, key):
    """src/reference/philox.ts's Philox4x32-10, vectorized: counter a list of four uint32 arrays, key two ints."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) & 0xffffffff for c in counter)
    k0, k1 = np.uint64(key[0] & 0xffffffff), np.uint64(key[1] & 0xffffffff)
    mask = np.uint64(0xffffffff)
    for _ in range(10):
        p0 = np.uint64(0xd2511f53) * c0
        p1 = np.uint64(0xcd9e8d57) * c2
        c0, c1, c2, c3 = ((p1 >> np.uint64(32)) ^ c1 ^ k0, p1 & mask, (p0 >> np.uint64(32)) ^ c3 ^ k1, p0 & mask)
        k0 = (k0 + np.uint64(0x9e3779b9)) & mask
        k1 = (k1 + np.uint64(0xbb67ae85)) & mask
    return c0, c1, c2, c3


def unit(word):
    """philox_unit: 24 random bits as a float in [0, 1)."""
    return torch.from_numpy((word >> np.uint64(8)).astype(np.float64) / 16777216)


def augment(pixels, seed, step, rotation=10.0, min_scale=0.9, max_scale=1.1, shift=2.0):
    """augment_affine.wgsl's transform, image n of training step `step` drawn at Philox counter
    (n, step, SALT, 0), key (seed, 0): output (x, y) samples the source at
    R(angle) ((x, y) - centre - shift) / scale + centre, bilinearly, zero outside."""
    n, _, h, w = pixels.shape
    r = philox4x32([np.arange(n), np.full(n, step), np.full(n, AUGMENT_SALT), np.zeros(n)], [seed, 0])
    angle = ((2 * unit(r[0]) - 1) * np.float32(math.radians(rotation))).float()
    scale = (min_scale + (max_scale - min_scale) * unit(r[1])).float()
    shift_x = ((2 * unit(r[2]) - 1) * shift).float()
    shift_y = ((2 * unit(r[3]) - 1) * shift).float()
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # affine_grid works in [-1, 1] coordinates (align_corners=True: -1 and 1 are the edge pixels' centres).
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1] = cos, sin * (h - 1) / (w - 1)
    theta[:, 1, 0], theta[:, 1, 1] = -sin * (w - 1) / (h - 1), cos
    theta[:, 0, 2] = -(cos * shift_x + sin * shift_y) * 2 / (w - 1)
    theta[:, 1, 2] = -(-sin * shift_x + cos * shift_y) * 2 / (h - 1)
    grid = F.affine_grid(theta, list(pixels.shape), align_corners=True)
    return F.grid_sample(pixels, grid, mode='bilinear', padding_mode='zeros', align_corners=True)


def order_of_epoch(args, epoch, count):
    if not args.replay:
        return torch.randperm(count)
    with open(os.path.join(args.replay, f'order-{epoch}.u32'), 'rb') as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.int32).long()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--spec', help='model description (JSON, src/nn/spec.ts shape)')
    parser.add_argument('--replay', metavar='DIR', help='initial weights and data order from bench/pytorch-replay.ts')
    parser.add_argument('--data', default=os.environ.get('MNIST_DIR', 'data/mnist'))
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--lr', type=float, default=1e-3)
    parser.add_argument('--weight-decay', type=float, default=0)
    parser.add_argument('--schedule', choices=['constant', 'step', 'cosine', 'onecycle'], default='constant')
    parser.add_argument('--gamma', type=float, default=0.7)
    parser.add_argument('--label-smoothing', type=float, default=0)
    parser.add_argument('--augment', action='store_true')
    parser.add_argument('--limit', type=int, default=0, help='train on the first N images only')
    parser.add_argument('--seed', type=int, default=1)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()

    if not args.spec and not args.replay:
        parser.error('give --spec MODEL.json or --replay DIR')
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    if args.replay:
        tensors, metadata = read_safetensors(os.path.join(args.replay, 'init.safetensors'))
        model = SpecNet(json.loads(metadata['model_spec']))
        model.load_state_dict(tensors, strict=True)
    else:
        with open(args.spec) as f:
            model = SpecNet(json.load(f))
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    pixels, labels = load_pixels(args.data, 'train')
    if args.limit:
        pixels, labels = pixels[:args.limit], labels[:args.limit]
    test_pixels, test_labels = load_pixels(args.data, 'test')
    test_images = (test_pixels - MEAN) / STD
    steps_per_epoch = math.ceil(len(labels) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    step = 0
    accuracy = None
    for epoch in range(args.epochs):
        order = order_of_epoch(args, epoch, len(labels))
        started = time.monotonic()
        for start in range(0, len(order), args.batch_size):
            index = order[start:start + args.batch_size]
            step += 1
            for group in optimizer.param_groups:
                group['lr'] = learning_rate(args.schedule, args.lr, args.gamma, step, epoch, total_steps)
            batch = pixels[index]
            if args.augment:
                batch = augment(batch, args.seed, step)
            optimizer.zero_grad()
            loss = F.cross_entropy(model((batch - MEAN) / STD), labels[index], label_smoothing=args.label_smoothing)
            loss.backward()
            optimizer.step()
        train_seconds = time.monotonic() - started
        correct, _ = evaluate(model, test_images, test_labels)
        accuracy = correct / len(test_labels)
        print(json.dumps({'event': 'epoch', 'epoch': epoch + 1, 'test_accuracy': accuracy,
                          'images_per_second': len(order) / train_seconds,
                          'seconds': time.monotonic() - START}), flush=True)
    print(json.dumps({'event': 'done', 'test_accuracy': accuracy, 'seconds': time.monotonic() - START,
                      'threads': torch.get_num_threads(), 'version': torch.__version__}), flush=True)


if __name__ == '__main__':
    main()
