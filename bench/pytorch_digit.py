#!/usr/bin/env python3
"""The `digit` network of the PyTorch MNIST tutorial, as a peer and a cross-check:

  python3 bench/pytorch_digit.py --seconds 20          training throughput on the CPU (the bench's peer)
  python3 bench/pytorch_digit.py --check CKPT          loads one of our safetensors checkpoints with
                                                       load_state_dict(strict=True) and evaluates it
  python3 bench/pytorch_digit.py --check CKPT --images SET.bin
                                                       the same on an image set (an image-folder cache
                                                       file), normalized with the checkpoint's recorded
                                                       per-channel mean and std
  python3 bench/pytorch_digit.py --reference --epochs N --seed S
                                                       trains the tutorial's way (PyTorch's own init and
                                                       shuffle) and prints the test accuracy per epoch

Needs only torch (Debian: apt-get install python3-torch). Prints one JSON object on its last line.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from pytorch_layers import LAYERS


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 5)
        self.conv2 = nn.Conv2d(10, 20, 3)
        self.fc1 = nn.Linear(20 * 10 * 10, 500)
        self.fc2 = nn.Linear(500, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.relu(self.conv2(x))
        x = F.relu(self.fc1(x.view(x.size(0), -1)))
        return F.log_softmax(self.fc2(x), dim=1)


class SpecNet(nn.Module):
    """Any model description of src/nn/spec.ts (the presets fast and best, --model files), built from the
    model_spec our checkpoints record, each layer by its kind's module in pytorch_layers.py (generated
    from src/nn/layers/): layers with a name become attributes of that name, so the state_dict names are ours."""

    def __init__(self, spec):
        super().__init__()
        self.steps = []
        shape = list(spec['input'])
        for index, layer in enumerate(spec['layers']):
            kind = layer['kind']
            if kind not in LAYERS:
                sys.exit(f'unknown layer kind {kind} (run `npm run gen:pytorch`?)')
            module = LAYERS[kind](layer, shape)
            # Unnamed layers (no parameters) are children too, so eval() reaches dropout.
            setattr(self, layer.get('name', f'{kind}{index}'), module)
            self.steps.append(module)
            shape = list(self._shape(spec['input'])[1:])

    def _shape(self, input_shape):
        """The output shape of the layers so far, for the next layer's sizes."""
        with torch.no_grad():
            x = torch.zeros(2, *input_shape)
            for m in self.steps:
                x = m.eval()(x)
                m.train()
        return x.shape

    def forward(self, x):
        for m in self.steps:
            x = m(x)
        return F.log_softmax(x, dim=1)


def read_idx(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    magic, count = struct.unpack('>II', data[:8])
    if magic == 2051:
        rows, cols = struct.unpack('>II', data[8:16])
        return torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8).view(count, 1, rows, cols)
    return torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long()


def find(data_dir, name):
    for candidate in (name + '.gz', name):
        path = os.path.join(data_dir, candidate)
        if os.path.exists(path):
            return path
    sys.exit(f'{name}(.gz) not found in {data_dir}')


def load_pixels(data_dir, split):
    """A split's images as floats in [0, 1] (not normalized) and its labels."""
    prefix = 'train' if split == 'train' else 't10k'
    images = read_idx(find(data_dir, f'{prefix}-images-idx3-ubyte'))
    labels = read_idx(find(data_dir, f'{prefix}-labels-idx1-ubyte'))
    return images.float() / 255.0, labels


def load(data_dir, split):
    pixels, labels = load_pixels(data_dir, split)
    return (pixels - 0.1307) / 0.3081, labels


def read_image_set(path):
    """Pictures as src/data/image-folder.ts caches them: magic, u32 header length, JSON header, labels, images."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:8] != b'WGDFOLD1':
        sys.exit(f'{path} is not an image set written by the image-folder cache')
    (length,) = struct.unpack('<I', data[8:12])
    header = json.loads(data[12:12 + length])
    count, shape = header['count'], (header['channels'], header['height'], header['width'])
    labels = torch.frombuffer(bytearray(data[12 + length:12 + length + count]), dtype=torch.uint8).long()
    images = torch.frombuffer(bytearray(data[12 + length + count:]), dtype=torch.uint8).view(count, *shape)
    return images, labels


def normalize(images, metadata):
    """The checkpoint's recorded per-channel normalization, else MNIST's constants, in float32 as the kernels."""
    recorded = json.loads(metadata['normalization']) if 'normalization' in metadata else {'mean': [0.1307], 'std': [0.3081]}
    mean = torch.tensor(recorded['mean'], dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(recorded['std'], dtype=torch.float32).view(1, -1, 1, 1)
    return (images.float() / 255.0 - mean) / std


def read_safetensors(path):
    """A minimal reader of the safetensors format (F32 only), so no extra package is needed."""
    with open(path, 'rb') as f:
        data = f.read()
    (length,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + length])
    base = 8 + length
    tensors = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        assert info['dtype'] == 'F32', f'{name}: dtype {info["dtype"]}'
        begin, end = info['data_offsets']
        t = torch.frombuffer(bytearray(data[base + begin:base + end]), dtype=torch.float32)
        tensors[name] = t.view(info['shape'])
    return tensors, header.get('__metadata__', {})


def bench(args):
    torch.set_num_threads(args.threads or os.cpu_count())
    torch.manual_seed(1)
    images, labels = load(args.data, 'train')
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(labels))
    steps, position = 0, 0

    def step():
        nonlocal position
        index = order[position:position + args.batch_size]
        position = (position + args.batch_size) % (len(labels) - args.batch_size)
        optimizer.zero_grad()
        loss = F.nll_loss(model(images[index]), labels[index])
        loss.backward()
        optimizer.step()

    for _ in range(20):
        step()
    started = time.perf_counter()
    while time.perf_counter() - started < args.seconds:
        step()
        steps += 1
    elapsed = time.perf_counter() - started
    print(json.dumps({'images_per_second': steps * args.batch_size / elapsed, 'threads': torch.get_num_threads(),
                      'version': torch.__version__}))


def evaluate(model, images, labels):
    model.eval()
    with torch.no_grad():
        log_probs = model(images)
    model.train()
    return int((log_probs.argmax(1) == labels).sum()), float(F.nll_loss(log_probs, labels, reduction='mean'))


def check(args):
    tensors, metadata = read_safetensors(args.check)
    model = Net() if metadata.get('model', 'digit') == 'digit' else SpecNet(json.loads(metadata['model_spec']))
    model.load_state_dict(tensors, strict=True)
    if args.images:
        pixels, labels = read_image_set(args.images)
        images = normalize(pixels, metadata)
    else:
        images, labels = load(args.data, 'test')
    correct, loss = evaluate(model, images, labels)
    print(json.dumps({'correct': correct, 'count': len(labels), 'accuracy': correct / len(labels), 'mean_loss': loss,
                      'epoch': metadata.get('epoch')}))


def train_epochs(args, model, order_of_epoch):
    """Adam 1e-3, batch args.batch_size, mean NLL of log-softmax; test accuracy after every epoch."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = load(args.data, 'train')
    test_images, test_labels = load(args.data, 'test')
    accuracies = []
    for epoch in range(args.epochs):
        order = order_of_epoch(epoch, len(labels))
        for start in range(0, len(order), args.batch_size):
            index = order[start:start + args.batch_size]
            optimizer.zero_grad()
            F.nll_loss(model(images[index]), labels[index]).backward()
            optimizer.step()
        correct, _ = evaluate(model, test_images, test_labels)
        accuracies.append(correct / len(test_labels))
        print(f'PyTorch epoch {epoch + 1}: test accuracy {100 * accuracies[-1]:.2f}%', file=sys.stderr, flush=True)
    print(json.dumps({'test_accuracy': accuracies}))


def reference(args):
    """The tutorial's own run: PyTorch's initialisation and shuffling, seeded with --seed."""
    torch.set_num_threads(args.threads or os.cpu_count())
    torch.manual_seed(args.seed)
    model = Net()
    train_epochs(args, model, lambda _epoch, count: torch.randperm(count))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=os.environ.get('MNIST_DIR', 'data/mnist'))
    parser.add_argument('--seconds', type=float, default=20)
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--threads', type=int, default=0)
    parser.add_argument('--check', metavar='CHECKPOINT')
    parser.add_argument('--images', metavar='FILE', help='with --check: evaluate on this image set (an image-folder cache file)')
    parser.add_argument('--epochs', type=int, default=1)
    parser.add_argument('--reference', action='store_true')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    if args.check:
        check(args)
    elif args.reference:
        reference(args)
    else:
        bench(args)


if __name__ == '__main__':
    main()
