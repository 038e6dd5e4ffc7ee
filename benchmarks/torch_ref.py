"""The PyTorch reference for ``python -m benchmarks.run``: a plain torch loop.

An idiomatic CPU training loop: ``nn.Sequential`` of ``nn.Linear`` and
``nn.ReLU``, ``nn.CrossEntropyLoss``, ``torch.optim.SGD`` (no momentum, no
weight decay), and mini-batches sliced from tensors permuted once per epoch
(``x[order]``, the job a ``DataLoader`` with ``shuffle=True`` would do). The
network starts from the weights of an ``nn_jax`` network (``w`` is
``(n_out, n_in)`` in both libraries) and visits the examples in the order the
caller gives, so the same epoch runs in both libraries.

Importing this module imports torch; ``benchmarks.run`` imports it only when
torch is installed.
"""

import time
from typing import Sequence

import numpy as np
import torch
from torch import nn


def set_threads(threads: int) -> int:
  """Sets torch's intra-op threads and returns the number in effect."""
  torch.set_num_threads(int(threads))
  return torch.get_num_threads()


def make_net(params: Sequence[dict]) -> nn.Sequential:
  """A ReLU ``nn.Sequential`` holding copies of ``params``' weights.

  Args:
    params: an ``nn_jax`` parameter list, ``[{"w": (n_out, n_in), "b":
      (n_out,)}, ...]`` (JAX or NumPy arrays).

  Returns:
    ``Linear, ReLU, ..., Linear`` in float32, in training mode.
  """
  layers = []
  for l, layer in enumerate(params):
    w = np.array(layer["w"], np.float32)     # a writable copy
    linear = nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
      linear.weight.copy_(torch.from_numpy(w))
      linear.bias.copy_(torch.from_numpy(np.array(layer["b"], np.float32)))
    layers.append(linear)
    if l < len(params) - 1:
      layers.append(nn.ReLU())
  return nn.Sequential(*layers).train()


def params_of(net: nn.Sequential) -> list:
  """The weights of ``net`` as an ``nn_jax``-shaped list of NumPy dicts."""
  return [{"w": m.weight.detach().numpy().copy(),
           "b": m.bias.detach().numpy().copy()}
          for m in net if isinstance(m, nn.Linear)]


def train_epoch(net: nn.Sequential, x: torch.Tensor, y: torch.Tensor,
                order: torch.Tensor, batch_size: int,
                learning_rate: float) -> float:
  """One epoch of plain SGD; returns its wall-clock seconds.

  The examples are visited in ``order``; an incomplete last batch is dropped
  (as ``nn_jax.train`` does). The permutation of ``x`` and ``y`` is timed,
  as ``nn_jax`` times its own gather.

  Args:
    net: the network, trained in place.
    x: ``(n, n_in)`` float32 inputs.
    y: ``(n,)`` int64 class labels.
    order: ``(n,)`` int64 permutation of the examples.
    batch_size: examples per step (1: online SGD).
    learning_rate: eta.
  """
  optimizer = torch.optim.SGD(net.parameters(), lr=learning_rate)
  loss_fn = nn.CrossEntropyLoss()
  start = time.perf_counter()
  x_perm, y_perm = x[order], y[order]
  for i in range(len(order) // batch_size):
    xb = x_perm[i * batch_size:(i + 1) * batch_size]
    yb = y_perm[i * batch_size:(i + 1) * batch_size]
    optimizer.zero_grad()
    loss = loss_fn(net(xb), yb)
    loss.backward()
    optimizer.step()
  return time.perf_counter() - start


class EpochRunner:
  """Times epochs that all start from the same weights and order.

  Each call builds a fresh network from ``params`` (untimed), trains it one
  epoch in ``order`` and returns the seconds; ``last_params`` holds the
  weights after the latest epoch.
  """

  def __init__(self, params, x: np.ndarray, labels: np.ndarray,
               order: np.ndarray, batch_size: int, learning_rate: float):
    self.params = params
    self.x = torch.from_numpy(np.require(x, np.float32, ["C", "W"]))
    self.y = torch.from_numpy(np.array(labels, np.int64))
    self.order = torch.from_numpy(np.array(order, np.int64))
    self.batch_size = batch_size
    self.learning_rate = learning_rate
    self.last_params = None

  def __call__(self) -> float:
    net = make_net(self.params)
    seconds = train_epoch(net, self.x, self.y, self.order, self.batch_size,
                          self.learning_rate)
    self.last_params = params_of(net)
    return seconds


def version() -> str:
  return torch.__version__
