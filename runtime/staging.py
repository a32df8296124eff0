"""How an executable on a device backend gets its inputs and parameters.

A device array given for a parameter is bound as it is: it is the parameter's own storage,
which updates write into. A device array given for an input is copied into a buffer the
executable keeps for it, so kernels (and a captured CUDA graph) always read the same address.
A host array is bound *by reference*, as on the CPU: it is copied to the device before every
run, since its owner may refill it between runs (an optimizer's learning rate, an input batch).
All host arrays travel in one copy: they are packed into one host block whose device twin holds
their device arrays. A host array given for a parameter gets the run's update copied back.
"""

from __future__ import annotations

import numpy as np

ALIGN = 64  # bytes between packed arrays


class Staging:
    """The bindings of one executable's inputs and parameters on a device backend."""

    def __init__(self, backend, env: list):
        self.backend, self.env = backend, env
        self.buffers: dict[int, object] = {}  # slot -> the device buffer of a device input
        self.host: dict[int, tuple] = {}  # slot -> (host array, Value)
        self.packed = None  # (host block, device block, [(slot, offset, nbytes)])

    def bind(self, slot: int, value, array) -> None:
        """Bind the checked `array` to the input or parameter `value` in `slot`."""
        if not self.backend.holds(array):
            if slot not in self.host:
                self.packed = None  # laid out again before the next run
            self.host[slot] = (array, value)
            return
        if self.host.pop(slot, None) is not None:
            self.packed = None
        if value.kind != "input":
            self.env[slot] = array
            return
        buffer = self.buffers.get(slot)
        if buffer is None:
            buffer = self.buffers[slot] = self.backend.empty(value.shape, value.dtype)
        self.backend.copy_into(buffer, array)
        self.env[slot] = buffer

    def before_run(self) -> None:
        """Copy every host-bound array to the device, in one transfer."""
        if not self.host:
            return
        if self.packed is None:
            self._lay_out()
        host_block, device_block, places = self.packed
        for slot, offset, nbytes in places:
            array = self.host[slot][0]
            host_block[offset: offset + nbytes] = np.ascontiguousarray(array).reshape(-1).view(
                np.uint8)
        self.backend.upload(device_block, host_block)

    def after_run(self, updated: set) -> None:
        """Copy the new values of host-bound parameters the run updated back to their owner."""
        for slot, (array, value) in self.host.items():
            if value.kind == "param" and slot in updated:
                np.copyto(array, self.backend.to_host(self.env[slot]))

    def _lay_out(self) -> None:
        places, total = [], 0
        for slot, (array, value) in self.host.items():
            places.append((slot, total, value.type.nbytes))
            total += -(-value.type.nbytes // ALIGN) * ALIGN
        host_block = np.zeros(max(total, 1), np.uint8)
        device_block = self.backend.empty((max(total, 1),), "uint8")
        for slot, offset, nbytes in places:
            value = self.host[slot][1]
            self.env[slot] = device_block[offset: offset + nbytes].view(value.type.np_dtype) \
                .reshape(value.shape)
        self.packed = (host_block, device_block, places)
