"""Replaying a whole run as one captured CUDA graph, where that is safe.

On a backend that can capture (`backend.capture`), the first run is an ordinary run (it compiles
kernels and creates library handles: nothing is captured while that happens), the second is
captured by stream capture and launched, and every later run launches the graph again: one call
instead of one launch per kernel. Everything the graph reads from outside lives at fixed
addresses: inputs in the executable's own buffers (`runtime.staging`), parameters in their own
storage; if a parameter is rebound to another array, the run is captured again.

Capture is skipped, and the reason logged at DEBUG on `graphc.runtime`, when the graph talks to
other processes (collectives run on the host), when it is turned off, or when capturing fails
(a kernel that synchronizes with the host or reads device values on the host, such as a shape
that depends on data): such runs launch kernel by kernel, as before.
"""

from __future__ import annotations

import logging

from ir.ops.registry import COLLECTIVE

log = logging.getLogger("graphc.runtime")


class StepCapture:
    """Runs `step` (a callable doing one whole run on the device) captured when safe."""

    def __init__(self, backend, graph, program, enabled: bool | None = None):
        self.backend, self.name, self.program = backend, graph.name, program
        self.graph = None  # the captured run, once there is one
        self.bound: list = []  # what the external slots held at capture
        self.runs = 0
        self.replays = 0
        self.reason = self._refusal(graph, enabled)
        if self.reason is not None and enabled is not False and backend.can_capture:
            log.debug("%s: not captured as a CUDA graph: %s", self.name, self.reason)
        self.external = [s for s in range(len(program.env)) if s not in program.static]

    def _refusal(self, graph, enabled) -> str | None:
        if not self.backend.can_capture:
            return f"the {self.backend.name} backend has no graphs"
        if enabled is False:
            return "capture=False"
        collectives = sorted({n.op for n in graph.nodes if n.opdef.has(COLLECTIVE)})
        if collectives:
            return f"it communicates with other processes ({', '.join(collectives)})"
        return None

    @property
    def captured(self) -> bool:
        return self.graph is not None

    def run(self, step) -> None:
        self.runs += 1
        if self.reason is not None or self.runs == 1:
            step()  # not capturable, or the warm-up run
            return
        env = self.program.env
        if self.graph is not None:
            if all(env[s] is held for s, held in zip(self.external, self.bound)):
                self.replays += 1
                self.graph.launch()
                return
            log.debug("%s: an input or parameter was rebound; capturing again", self.name)
        try:
            self.graph = self.backend.capture(step)
        except RuntimeError as err:  # CUDA's and the kernels' errors: run launch by launch now
            self.graph, self.reason = None, f"capture failed: {type(err).__name__}: {err}"
            log.debug("%s: not captured as a CUDA graph: %s", self.name, self.reason)
            step()
            return
        self.bound = [env[s] for s in self.external]
        self.graph.launch()
