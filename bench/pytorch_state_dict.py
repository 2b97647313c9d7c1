#!/usr/bin/env python3
"""Trains the `digit` network in PyTorch (the tutorial's own init, shuffle and Adam) and writes its
state_dict as safetensors, exactly as `safetensors.torch.save_file(model.state_dict(), OUT)` does:
with that package where installed, else with the few lines below (the format is an 8-byte
little-endian header length, a JSON header, then the tensors' bytes, in the order save_file uses).
Then evaluates it on the test set and prints {"correct", "count", "accuracy", "mean_loss", "writer"}.

  python3 bench/pytorch_state_dict.py --out digit.safetensors [--steps 400] [--data DIR]

Used by bench/pytorch-import.ts; needs only torch.
"""
import argparse
import json
import os
import struct
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_digit import Net, evaluate, load  # noqa: E402


def save_file(tensors, path):
    """safetensors.torch.save_file without the package: no __metadata__, tensors sorted by
    (dtype alignment descending, name), header padded with spaces to a multiple of 8."""
    try:
        from safetensors.torch import save_file as real
        real(tensors, path)
        return 'safetensors package'
    except ImportError:
        pass
    names = sorted(tensors, key=lambda n: (-tensors[n].element_size(), n))
    header, offset, blobs = {}, 0, []
    for name in names:
        t = tensors[name].detach().contiguous().cpu()
        assert t.dtype == torch.float32, name
        data = t.numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    return 'hand-written (no safetensors package)'


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', default=os.environ.get('MNIST_DIR', 'data/mnist'))
    parser.add_argument('--out', required=True)
    parser.add_argument('--steps', type=int, default=400)
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    images, labels = load(args.data, 'train')
    model = Net()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    order = torch.randperm(len(labels))
    for step in range(args.steps):
        index = order[(step * 64) % len(labels):][:64]
        optimizer.zero_grad()
        F.nll_loss(model(images[index]), labels[index]).backward()
        optimizer.step()
    writer = save_file(model.state_dict(), args.out)
    test_images, test_labels = load(args.data, 'test')
    correct, loss = evaluate(model, test_images, test_labels)
    print(json.dumps({'correct': correct, 'count': len(test_labels), 'accuracy': correct / len(test_labels),
                      'mean_loss': loss, 'writer': writer, 'steps': args.steps, 'torch': torch.__version__}))


if __name__ == '__main__':
    main()
