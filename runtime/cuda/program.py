"""`CudaProgram`: a planned graph's steps on the GPU, generated kernels wherever they apply."""

from __future__ import annotations

from runtime.cuda.kernels import Scratch, kernel_cache, node_kernel
from runtime.program import Program


class CudaProgram(Program):
    """A Program whose fused nodes, elementwise ops, reductions and GEMMs launch generated CuPy
    kernels and cuBLAS (`runtime.cuda.kernels`); views, other ops, and fused nodes whose stages
    cannot run over their buffers keep the reference kernels (on CuPy arrays).

    `generated` lists the nodes with generated kernels, `fallbacks` the (node, reason) of fused
    nodes that run op by op; `cache` is the process's kernel cache, `scratch` the block for GEMM
    products that cannot go to their own buffer.
    """

    def __init__(self, graph, plan, backend, arena):
        self.cache = kernel_cache(backend.xp)
        self.scratch = Scratch(backend)
        self.generated: list = []
        self.fallbacks: list = []
        super().__init__(graph, plan, backend, arena)
        self.scratch.allocate()

    def _step(self, node):
        if node.opdef.view is None:
            kernel = node_kernel(self, node)
            if kernel is not None:
                env = self.env
                ins = tuple(self.slot[v] for v in node.inputs)
                outs = tuple(self.slot[v] for v in node.outputs)
                return lambda: kernel([env[o] for o in outs], [env[i] for i in ins])
        return super()._step(node)
