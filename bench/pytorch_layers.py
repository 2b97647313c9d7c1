# Generated from src/nn/layers/ by `npm run gen:pytorch` (scripts/gen-pytorch-layers.ts); do not edit.
# Each layer kind as a torch.nn module, from its model-file object and its per-sample input shape.
import torch.nn as nn

LAYERS = {
    "conv2d": lambda layer, shape: nn.Conv2d(shape[0], layer['outChannels'], layer['kernel'], layer.get('stride', 1), layer.get('padding', 0)),
    "relu": lambda layer, shape: nn.ReLU(),
    "maxpool2d": lambda layer, shape: nn.MaxPool2d(layer['kernel'], layer.get('stride', layer['kernel'])),
    "avgpool2d": lambda layer, shape: nn.AvgPool2d(layer['kernel'], layer.get('stride', layer['kernel'])) if 'kernel' in layer else nn.AdaptiveAvgPool2d(1),
    "flatten": lambda layer, shape: nn.Flatten(),
    "linear": lambda layer, shape: nn.Linear(shape[0], layer['outFeatures']),
    "batchnorm2d": lambda layer, shape: nn.BatchNorm2d(shape[0], layer.get('eps', 1e-5), layer.get('momentum', 0.1)),
    "batchnorm1d": lambda layer, shape: nn.BatchNorm1d(shape[0], layer.get('eps', 1e-5), layer.get('momentum', 0.1)),
    "dropout": lambda layer, shape: nn.Dropout(layer['p']),
    "gelu": lambda layer, shape: nn.GELU(approximate='tanh'),
    "silu": lambda layer, shape: nn.SiLU(),
    "leakyrelu": lambda layer, shape: nn.LeakyReLU(layer.get('slope', 0.01)),
    "tanh": lambda layer, shape: nn.Tanh(),
    "sigmoid": lambda layer, shape: nn.Sigmoid(),
}
