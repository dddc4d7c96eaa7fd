"""Training memory that does not depend on the machine: the bytes autograd keeps for backward.

Every differentiable operation hands the tensors its backward pass will need (its input, a mask,
a membrane) to autograd, which holds them until ``backward`` has used them. That store is what
makes backpropagation through time grow with the number of steps, and it is what
:class:`SavedBytes` measures, through ``torch.autograd.graph.saved_tensors_hooks``:

- ``pack`` is called once per saved tensor; the meter adds its bytes (``numel x element_size``)
  to the live count and wraps the tensor in a small holder;
- when autograd lets go of the tensor (after ``backward``, or when the graph is dropped), the
  holder is deleted and its bytes leave the live count.

A tensor saved by several operations is counted once while any of them holds it; tensors that
share storage with ``exclude`` (pass the model's parameters: they live anyway) are not counted.
The allocator's caches, fragmentation and the tensors the caller keeps are not counted either;
this is the part of training memory an algorithm changes, in bytes, the same on every machine
(process RSS or ``tracemalloc`` would mostly report the allocator's caching).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch


class _Held:
    """A saved tensor in the meter's custody; deleting the holder returns its bytes."""

    __slots__ = ("tensor", "key", "meter")

    def __init__(self, tensor: torch.Tensor, key: tuple, meter: SavedBytes):
        self.tensor, self.key, self.meter = tensor, key, meter

    def __del__(self):
        self.meter._release(self.key)


class SavedBytes:
    """Context manager counting the bytes autograd saves for backward while it is active.

    Attributes (bytes unless named otherwise):
        live: held right now; peak: the most held at once; total: ever saved (with repeats);
        tensors: how many tensors were saved (with repeats).

    ``exclude``: tensors (e.g. ``model.parameters()``) whose storage is not counted.
    Example::

        with SavedBytes(exclude=net.parameters()) as mem:
            loss = net(x).sum()
            loss.backward()
        mem.peak            # bytes held just before backward freed them
    """

    def __init__(self, exclude: Iterable[torch.Tensor] = ()):
        self._skip = {p.untyped_storage().data_ptr() for p in exclude}
        self._counts: dict[tuple, list[int]] = {}   # key -> [holders, bytes]
        self.live = self.peak = self.total = self.tensors = 0
        self._hooks = None

    def __enter__(self) -> SavedBytes:
        self._hooks = torch.autograd.graph.saved_tensors_hooks(self._pack, self._unpack)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._hooks.__exit__(*exc)

    def _pack(self, t: torch.Tensor):
        storage = t.untyped_storage().data_ptr()
        if storage in self._skip:
            return t
        nbytes = t.numel() * t.element_size()
        key = (storage, t.storage_offset(), tuple(t.shape), tuple(t.stride()), t.dtype)
        self.total += nbytes
        self.tensors += 1
        entry = self._counts.setdefault(key, [0, nbytes])
        if entry[0] == 0:
            self.live += nbytes
            self.peak = max(self.peak, self.live)
        entry[0] += 1
        return _Held(t.detach(), key, self)   # detached: no cycle through its grad_fn

    @staticmethod
    def _unpack(held):
        return held.tensor if isinstance(held, _Held) else held

    def _release(self, key: tuple) -> None:
        entry = self._counts[key]
        entry[0] -= 1
        if entry[0] == 0:
            self.live -= entry[1]
            del self._counts[key]

    def __repr__(self) -> str:
        return (f"SavedBytes(peak={self.peak / 1e6:.3f} MB, live={self.live / 1e6:.3f} MB, "
                f"total={self.total / 1e6:.3f} MB in {self.tensors} tensors)")


def peak_saved_bytes(fn: Callable[[], object], exclude: Iterable[torch.Tensor] = ()) -> int:
    """Run ``fn()`` (e.g. one training step: forward and backward) under :class:`SavedBytes`
    and return the peak bytes autograd held at once."""
    with SavedBytes(exclude) as meter:
        fn()
    return meter.peak
