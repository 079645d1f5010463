"""The shared networks: ``mlp``, ``cnn``, ``rnn``, ``transformer``.

This package is a plugin module like any other: the ``sandbox.plugins`` entry point names it, and
it registers the families lazily so that listing them imports no torch.
"""

from sandbox.registry import backbones as _registry

_registry.register_lazy("mlp", "sandbox.backbones.mlp:MLP", "Multi-layer perceptron; flattens images and sequences. Encoder, decoder and denoiser.")
_registry.register_lazy("cnn", "sandbox.backbones.cnn:CNN", "Convolutional network for images and frame stacks (Nature DQN or small residual stack).")
_registry.register_lazy("rnn", "sandbox.backbones.rnn:RNN", "GRU or LSTM over sequences, image rows, or the frames of a frame stack.")
_registry.register_lazy("transformer", "sandbox.backbones.transformer:Transformer", "Transformer encoder over sequence steps, image patches, frames or vector features.")
