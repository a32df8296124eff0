"""Generated stages (`codegen`) bound to a memory plan's buffers: one callable per node.

`StagedKernel` runs a node's stages in order: CuPy kernels compiled once per structure and dtypes
(`KernelCache`), cuBLAS products (`xp.matmul(out=)`), other anchors by their own write kernel,
and the copies of results the plan computes elsewhere. Each materialized value lives where the
plan put it (a body's workspace, the node's operands and results); a gemm product goes to the
gemm's own buffer, or to the program's scratch block when that buffer holds an operand still
to be read (an optimizer's in-place `momentum = alpha * g + beta * momentum`).

Stages compute in another order than the plan assumed (a whole prologue before the reduction
that recomputes it), so before binding, the order is replayed over the buffers: every read must
find the value it wants, and a kernel may not overwrite what it reads at other elements. If a
product in scratch or materializing the reduction's operand does not make it safe, the node
runs op by op (`runtime.program.FusedKernel`) and the reason is logged.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from runtime.cuda.codegen import ElementwiseSource, Stage, generated_body, stages

log = logging.getLogger("graphc.runtime")

IN, OUT, STATIC = "in", "out", "static"  # where a kernel argument comes from at each call


class KernelCache:
    """Compiled CuPy kernels by source structure: bodies of one structure and dtypes (the same
    layer in another place, the same update for another parameter) share one kernel."""

    def __init__(self, xp):
        self.xp = xp
        self.kernels: dict = {}
        self.hits = 0

    def get(self, source):
        kernel = self.kernels.get(source.key)
        if kernel is not None:
            self.hits += 1
            return kernel
        xp = self.xp
        if isinstance(source, ElementwiseSource):
            kernel = xp.ElementwiseKernel(source.in_params, source.out_params, source.operation,
                                          source.name, preamble=source.preamble)
        else:
            kernel = xp.ReductionKernel(source.in_params, source.out_params, source.map_expr,
                                        source.reduce_expr, source.post_map_expr,
                                        source.identity, source.name, source.reduce_type,
                                        preamble=source.preamble)
        self.kernels[source.key] = kernel
        return kernel

    def __len__(self) -> int:
        return len(self.kernels)


_CACHES: dict[int, KernelCache] = {}


def kernel_cache(xp) -> KernelCache:
    """The process's cache of compiled kernels for the array module `xp`."""
    cache = _CACHES.get(id(xp))
    if cache is None or cache.xp is not xp:
        cache = _CACHES[id(xp)] = KernelCache(xp)
    return cache


class Scratch:
    """One block for the GEMM products that cannot go to their own buffer, shared by every node
    (they run one at a time), allocated once when the program is built."""

    def __init__(self, backend):
        self.backend, self.nbytes, self.block = backend, 0, None

    def view(self, shape, dtype):
        """A placeholder resolved to a view of the block by `allocate`."""
        nbytes = math.prod(shape) * np.dtype(dtype).itemsize
        self.nbytes = max(self.nbytes, nbytes)
        return _ScratchView(self, tuple(shape), dtype)

    def allocate(self) -> None:
        if self.nbytes:
            self.block = self.backend.empty((self.nbytes,), "uint8")


@dataclass(frozen=True)
class _ScratchView:
    scratch: Scratch
    shape: tuple
    dtype: str

    def resolve(self):
        nbytes = math.prod(self.shape) * np.dtype(self.dtype).itemsize
        return self.scratch.block[:nbytes].view(self.dtype).reshape(self.shape)


class Unsafe(Exception):
    """The stages cannot run over these buffers in this order."""


@dataclass
class Layout:
    """Where each value of a body lives: `place[value] = (IN, k) | (OUT, j) | (STATIC, array)`,
    and `key[value]`, the identity of its memory (values sharing memory share keys)."""

    place: dict
    key: dict
    outputs: list  # the body's results: each must be in its place at the end
    copies: list  # (j, array): results computed elsewhere, copied into output j at the end


def fused_layout(body, plan, program) -> Layout:
    """The layout of a fused body from its memory plan and the Program resolving its slots."""
    place, key = {}, {}
    for value in body.values():
        buffer = plan.buffer_of[value]
        key[value] = id(buffer)
        if buffer.kind == "output":
            place[value] = (OUT, buffer.index)
        elif buffer.kind != "input":
            place[value] = (STATIC, program.env[program.slot[value]])
    for k, value in enumerate(body.inputs):  # (its memory may also be an output's)
        place[value] = (IN, k)
    copies = [(j, program.env[program.slot[body.outputs[j]]]) for j in plan.copied_outputs]
    return Layout(place, key, list(body.outputs), copies)


def single_layout(node, body, operands, plan) -> Layout:
    """The layout of a one-node body (`codegen.single`) over the outer plan's buffers."""
    place, key = {}, {}
    for inner, outer in zip(body.inputs, operands):
        place[inner] = (IN, node.inputs.index(outer))
        key[inner] = id(plan.buffer_of[outer])
    for j, (inner, outer) in enumerate(zip(body.outputs, node.outputs)):
        place[inner] = (OUT, j)
        key[inner] = id(plan.buffer_of[outer])
    for value in body.constants:
        place[value], key[value] = (STATIC, value.data), id(value)
    return Layout(place, key, list(body.outputs), [])


class StagedKernel:
    """A node's stages bound to a layout: `kernel(outs, ins)` launches them in order."""

    def __init__(self, stages: list[Stage], layout: Layout, xp, cache: KernelCache,
                 scratch: Scratch, products_in_scratch: set):
        self.xp, self.layout = xp, layout
        self.launches = []
        for stage in stages:
            self.launches.append(self._bind(stage, cache, scratch, products_in_scratch))
        self.copies = layout.copies

    def _argument(self, value, scratch_values: dict):
        if value in scratch_values:
            return (STATIC, scratch_values[value])
        if value not in self.layout.place:  # a gemm's product, in the gemm's own buffer
            value = value.node.outputs[0]
        where, what = self.layout.place[value]
        if where == STATIC and value.kind == "const":
            what = self.xp.asarray(what)  # on the device once
        return (where, what)

    def _bind(self, stage: Stage, cache, scratch, products_in_scratch):
        scratch_values = {v: scratch.view(v.shape, v.dtype) for v in products_in_scratch}
        reads = [self._argument(v, scratch_values) for v in stage.reads]
        writes = [self._argument(v, scratch_values) for v in stage.writes]
        if stage.kind == "library":
            return _Library(stage.node, reads, writes, self.xp)
        kernel = cache.get(stage.source)
        if stage.kind == "elementwise":
            return _Launch(kernel, reads + writes, {})
        return _Launch(kernel, reads + writes, {"axis": stage.source.axes,
                                                "keepdims": stage.source.keepdims})

    def __call__(self, outs: list, ins: list) -> None:
        for launch in self.launches:
            launch(outs, ins)
        for j, array in self.copies:
            self.xp.copyto(outs[j], array)


def _resolve(argument, outs, ins):
    where, what = argument
    if where == IN:
        return ins[what]
    if where == OUT:
        return outs[what]
    return what.resolve() if isinstance(what, _ScratchView) else what


class _Launch:
    def __init__(self, kernel, arguments, options):
        self.kernel, self.arguments, self.options = kernel, arguments, options

    def __call__(self, outs, ins):
        self.kernel(*[_resolve(a, outs, ins) for a in self.arguments], **self.options)


class _Library:
    """An anchor by a library call: matmul/gemm products by cuBLAS, other ops by their write."""

    def __init__(self, node, reads, writes, xp):
        self.node, self.reads, self.writes, self.xp = node, reads, writes, xp

    def __call__(self, outs, ins):
        node, xp = self.node, self.xp
        operands = [_resolve(a, outs, ins) for a in self.reads]
        (out,) = [_resolve(a, outs, ins) for a in self.writes]
        if node.op in ("matmul", "gemm"):
            a, b = operands
            if node.attrs["trans_a"]:
                a = a.swapaxes(-1, -2)
            if node.attrs["trans_b"]:
                b = b.swapaxes(-1, -2)
            xp.matmul(a, b, out=out)
        else:
            node.opdef.write(xp, out, *operands, **node.attrs)


# -- building, with the order checked over the buffers -----------------------------------------------
def build(body, layout: Layout, name: str, xp, cache: KernelCache, scratch: Scratch):
    """A StagedKernel computing `body` over `layout`, or (None, reason) when its stages cannot
    run safely over those buffers, whether gemm products go to scratch or not and whether
    reductions recompute their prologue or read it materialized."""
    reason = None
    for recompute in (True, False):
        found = stages(body, name, recompute)
        products = [s.writes[0] for s in found if s.kind == "library" and s.product]
        for in_scratch in (set(), set(products)):
            try:
                check_order(found, layout, in_scratch)
            except Unsafe as err:
                reason = str(err)
                continue
            return StagedKernel(found, layout, xp, cache, scratch, in_scratch), None
    return None, reason


def check_order(stages: list[Stage], layout: Layout, in_scratch: set) -> None:
    """Replay the stages over the buffers; Unsafe if a read would not find its value."""

    def key(value):
        if value in in_scratch:
            return "scratch"
        if value in layout.key:
            return layout.key[value]
        return layout.key[value.node.outputs[0]]  # a product in its gemm's buffer

    holds = {}
    for value, where in layout.place.items():
        if where[0] == IN or (where[0] == STATIC and value.kind != "node"):
            holds[key(value)] = value
    for stage in stages:
        for value in stage.reads:
            if holds.get(key(value)) is not value:
                raise Unsafe(f"%{value.name} is overwritten before a {stage.kind} kernel "
                             "reads it")
        read_keys = {key(v): v for v in stage.reads}
        for value in stage.writes:
            other = read_keys.get(key(value))
            if other is None:
                continue
            same_element = stage.kind == "elementwise" and other.shape == stage.shape
            if not same_element:
                raise Unsafe(f"a {stage.kind} kernel writes %{value.name} over %{other.name}, "
                             "which it reads at other elements")
        for value in stage.writes:
            holds[key(value)] = value
    for value in layout.outputs:
        if holds.get(key(value)) is not value:
            raise Unsafe(f"result %{value.name} is overwritten before the node returns")


def node_kernel(program, node):
    """The generated kernel of one node of `program` (a CudaProgram), or None: the node runs by
    its own kernel (the reason is logged when a fused node cannot be generated)."""
    found = generated_body(node)
    if found is None:
        return None
    body, operands = found
    name = f"graphc_{len(program.generated)}"
    if node.op == "fused":
        workspace = program.plan.workspaces[node]
        memory = program.arena[workspace.offset: workspace.offset + workspace.nbytes]
        from runtime.program import Program

        layout = fused_layout(body, workspace.body, Program(body, workspace.body,
                                                             program.backend, memory))
    else:
        layout = single_layout(node, body, operands, program.plan)
    try:
        kernel, reason = build(body, layout, name, program.xp, program.cache, program.scratch)
    except NotImplementedError as err:
        kernel, reason = None, str(err)
    if kernel is None:
        program.fallbacks.append((node, reason))
        log.debug("%s runs op by op: %s", _label(node), reason)
    else:
        program.generated.append(node)
    return kernel


def _label(node) -> str:
    return node.attrs["body"].name if node.op == "fused" else node.op
