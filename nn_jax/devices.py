"""Device meshes: data-parallel training and populations split over devices."""

import os
from typing import Optional

import jax
import numpy as np


def make_mesh(devices: int, axis: str = "data"
              ) -> Optional[jax.sharding.Mesh]:
  """A one-axis mesh (named ``axis``) over the first ``devices`` devices
  (None for 1). For several processes or hosts, call
  ``jax.distributed.initialize()`` first; ``jax.devices()`` then lists every
  process's devices, and a mesh over several processes spans them all."""
  available = jax.device_count()
  if not 1 <= devices <= available:
    platform = jax.devices()[0].platform
    hint = ("; XLA_FLAGS=--xla_force_host_platform_device_count=N makes the "
            "CPU N devices" if platform == "cpu" else "")
    raise ValueError(f"devices must be between 1 and the {available} "
                     f"available ({platform}); got {devices}{hint}")
  if devices == 1:
    return None
  if jax.process_count() > 1 and devices != available:
    raise ValueError(f"devices must be 1 or all {available} devices of the "
                     f"{jax.process_count()} processes; got {devices}")
  return jax.sharding.Mesh(np.array(jax.devices()[:devices]), (axis,))


def sharding(mesh: jax.sharding.Mesh, axis: Optional[str] = None
             ) -> jax.sharding.NamedSharding:
  """Arrays split along their first dimension over ``mesh``'s ``axis``
  (replicated on every device without one)."""
  return jax.sharding.NamedSharding(
      mesh, jax.sharding.PartitionSpec(*([axis] if axis else [])))


def gathered(tree, mesh: Optional[jax.sharding.Mesh]):
  """``tree`` with every array whole on every device of ``mesh``: what a
  process can read when the arrays are split over several processes'
  devices (no copy when they are already in this process)."""
  if mesh is None or all(d.process_index == jax.process_index()
                         for d in mesh.devices.flat):
    return tree
  return jax.jit(lambda t: t, out_shardings=sharding(mesh))(tree)


def available_bytes() -> Optional[int]:
  """Memory free for arrays on the default device: the accelerator's limit
  less what is in use, or the host's available memory for a CPU (None when
  it cannot be told)."""
  stats = jax.local_devices()[0].memory_stats() or {}
  if "bytes_limit" in stats:
    return stats["bytes_limit"] - stats.get("bytes_in_use", 0)
  try:
    with open("/proc/meminfo") as f:
      for line in f:
        if line.startswith("MemAvailable:"):
          return int(line.split()[1]) * 1024
  except OSError:
    pass
  try:
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
  except (ValueError, OSError, AttributeError):
    return None
