"""Greedy layer-wise pretraining of the hidden layers with autoencoders.

Hidden layer ``l`` is trained as the encoder of a one-hidden-layer
autoencoder ``a_{l-1} -> g(w_l a_{l-1} + b_l) -> linear -> a_{l-1}`` that
reconstructs its own input under squared error, with the same hand-written
backprop and training loop as everything else. The next layer's autoencoder
is then fed layer ``l``'s output as the network computes it with the
pretrained weights (with batch norm: normalized over the training inputs,
with the layer's scale and shift). The output layer is left as initialised;
the supervised fine-tuning that follows trains all layers.
"""

from typing import Callable

import jax
import optax

from nn_jax import losses
from nn_jax import mlp
from nn_jax import train


def pretrain(key: jax.Array, params: mlp.Params, model: mlp.Model,
             x: jax.Array, *, epochs: int, batch_size: int,
             make_optimizer: Callable[[], optax.GradientTransformation],
             grad: str = "manual") -> tuple[mlp.Params, list]:
  """Returns ``params`` with every hidden layer pretrained, and the final
  reconstruction cost of each autoencoder.

  Args:
    key: PRNG key (init of the decoders, shuffles).
    params: the network's initial parameters.
    model: its activation (dropout, batch norm and L2 are not used in the
      autoencoders: each is a plain network; batch-norm layers keep their
      scale and shift and get only ``w``). Skip connections are refused: a
      layer ``a + g(w a + b)`` is not the encoder trained here.
    x: training inputs ``(n, n_in)``.
    epochs: epochs per autoencoder.
    batch_size: as in :func:`train.fit`.
    make_optimizer: returns a fresh optax transformation per autoencoder.
    grad: ``"manual"`` or ``"autodiff"``.

  Raises:
    ValueError: the model has skip connections (``residual``).
  """
  if model.residual:
    raise ValueError("pretrain trains plain layers; it cannot be combined "
                     "with residual")
  ae_model = mlp.Model(model.activation, losses.linear_squared)
  plain = model._replace(dropout=0.0)  # the layers' outputs, without masks
  params = [dict(layer) for layer in params]
  costs = []
  a = x
  keys = jax.random.split(key, max(len(params) - 1, 1))
  for l in range(len(params) - 1):
    k_init, k_fit = jax.random.split(keys[l])
    n_hidden, n_in = params[l]["w"].shape
    ae = mlp.init(k_init, [n_in, n_hidden, n_in], ae_model,
                  dtype=params[l]["w"].dtype)
    ae[0]["w"] = params[l]["w"]
    if "b" in params[l]:
      ae[0]["b"] = params[l]["b"]
    if "alpha" in params[l]:
      ae[0]["alpha"] = params[l]["alpha"]
    result = train.fit(ae, ae_model, make_optimizer(),
                       train.Data(a, a, a[:0], a[:0]),
                       train.FitOptions(epochs=epochs, batch_size=batch_size,
                                        grad=grad, train_metrics="full"),
                       key=k_fit)
    encoder = result.params[0]
    params[l]["w"] = encoder["w"]
    if "b" in params[l]:
      params[l]["b"] = encoder["b"]
    if "alpha" in params[l]:
      params[l]["alpha"] = encoder["alpha"]
    costs.append(float(result.history["train_loss"][-1]))
    _, cache = mlp.forward(params, x, plain, train=True)
    a = cache["activations"][l + 1]
  return params, costs
