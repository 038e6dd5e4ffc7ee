"""nn_jax: neural networks from the perceptron to backpropagation, in JAX.

Modules are imported by name (``from nn_jax import mlp``); importing the
package itself loads nothing. ``nn_jax.load_model(workdir)`` reads a
finished run's model (:func:`nn_jax.bundle.load_model`).
"""


def __getattr__(name):
  if name == "load_model":
    from nn_jax import bundle  # pylint: disable=g-import-not-at-top
    return bundle.load_model
  raise AttributeError(f"module 'nn_jax' has no attribute {name!r}")
