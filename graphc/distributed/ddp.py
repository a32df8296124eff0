"""`DistributedDataParallel`: one model replica per process, gradients averaged over processes.

Construction broadcasts rank 0's parameters and buffers, so every replica starts equal. Eagerly,
`backward()` averages gradients in buckets (post-accumulate-grad hooks start a bucket's all-reduce
once all its gradients are in); `graphc.compile_train_step` puts the same bucketed all-reduces into
the step graph (`StepSync`). Batch statistics (BatchNorm) are computed per process on its own
batch; with `broadcast_buffers` (the default, as in PyTorch) rank 0's running statistics are
broadcast before each forward.
"""

from __future__ import annotations

import contextlib

import numpy as np

from graphc import state
from graphc.distributed import process_group as pg
from graphc.distributed.buckets import (
    DEFAULT_BUCKET_CAP_MB,
    insert_gradient_all_reduce,
    plan_buckets,
)
from graphc.nn.module import Module


def broadcast_from_rank0(tensors) -> None:
    """Give every process rank 0's values of `tensors` (in place)."""
    for tensor in tensors:
        pg.broadcast(tensor.detach(), 0)


def sync_module_states(module) -> None:
    """Give every process rank 0's parameters and buffers."""
    broadcast_from_rank0([*module.parameters(), *module.buffers()])


class DistributedDataParallel(Module):
    """Wrap `module` for data-parallel training over the default process group (PyTorch's API).

    `bucket_cap_mb` (default 25) sizes the gradient buckets. Every parameter that requires grad
    must take part in the loss (`find_unused_parameters=True` is not supported). `no_sync()`
    skips the averaging, for gradient accumulation. `dim`, `check_reduction`,
    `gradient_as_bucket_view` and `static_graph` are accepted for PyTorch code and change nothing.
    """

    def __init__(self, module, device_ids=None, output_device=None, dim: int = 0,
                 broadcast_buffers: bool = True, init_sync: bool = True, process_group=None,
                 bucket_cap_mb: float | None = None, find_unused_parameters: bool = False,
                 check_reduction: bool = False, gradient_as_bucket_view: bool = False,
                 static_graph: bool = False):
        super().__init__()
        if device_ids is not None or output_device is not None:
            raise ValueError("DistributedDataParallel device_ids and output_device arguments "
                             "only work with GPU modules; leave them None for CPU modules")
        if find_unused_parameters:
            raise NotImplementedError("find_unused_parameters=True is not supported: every "
                                      "parameter that requires grad must take part in the loss")
        self.module = module
        self.comm = pg.communicator(process_group)
        self.broadcast_buffers = broadcast_buffers
        self.bucket_cap_mb = DEFAULT_BUCKET_CAP_MB if bucket_cap_mb is None else bucket_cap_mb
        self.require_backward_grad_sync = True
        if init_sync:
            sync_module_states(module)
        self._reducer = _Reducer(self, [p for p in module.parameters() if p.requires_grad])

    def forward(self, *inputs, **kwargs):
        self._reducer.check_finished()
        if self.broadcast_buffers and state.trace is None:
            broadcast_from_rank0(self.module.buffers())
        return self.module(*inputs, **kwargs)

    @contextlib.contextmanager
    def no_sync(self):
        """Within the block, backward() accumulates gradients locally without averaging them."""
        previous, self.require_backward_grad_sync = self.require_backward_grad_sync, False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous


class _Reducer:
    """Averages the parameters' gradients in buckets as backward() accumulates them."""

    def __init__(self, ddp: DistributedDataParallel, params: list):
        self.ddp = ddp
        # Eager backward accumulates gradients last layer first: bucket in reverse order.
        params = params[::-1]
        sizes = [(p._data.nbytes, p._data.dtype.name) for p in params]
        self.buckets = [[params[i] for i in b] for b in plan_buckets(sizes, ddp.bucket_cap_mb)]
        self.bucket_of = {id(p): k for k, b in enumerate(self.buckets) for p in b}
        self.ready: set[int] = set()
        self.requests: list = []
        for p in params:
            p.register_post_accumulate_grad_hook(self.on_grad)

    def on_grad(self, param) -> None:
        if not self.ddp.require_backward_grad_sync:
            return
        self.ready.add(id(param))
        bucket = self.buckets[self.bucket_of[id(param)]]
        if all(id(p) in self.ready for p in bucket):
            flat = np.concatenate([p.grad._storage().reshape(-1) for p in bucket])
            self.requests.append((bucket, flat, self.ddp.comm.start_all_reduce(flat, "avg")))
        if len(self.requests) == len(self.buckets):
            self.finish()

    def finish(self) -> None:
        for bucket, flat, request in self.requests:
            request.wait()
            offset = 0
            for p in bucket:
                grad = p.grad._storage()
                grad[...] = flat[offset:offset + grad.size].reshape(grad.shape)
                offset += grad.size
                p.grad._vc[0] += 1
        self.requests, self.ready = [], set()

    def check_finished(self) -> None:
        if self.ready:
            raise RuntimeError(
                "Expected to have finished reduction in the prior iteration before starting a new "
                "one. This error indicates that your module has parameters that were not used in "
                "producing loss: every parameter that requires grad must take part in the loss "
                "(graphc does not support find_unused_parameters=True)."
            )


class StepSync:
    """What `compile_train_step` does for data parallelism: bucketed gradient averaging in the
    step graph, and (with `broadcast_buffers`) rank 0's buffers before each step."""

    def __init__(self, module, bucket_cap_mb: float, broadcast_buffers: bool):
        self.module, self.bucket_cap_mb = module, bucket_cap_mb
        self.broadcast_buffers = broadcast_buffers

    def reduce_gradients(self, graph, grads: dict, exclude=()) -> dict:
        """`grads` with each gradient (except those in `exclude`) averaged over the processes."""
        kept = {name: g for name, g in grads.items() if name not in exclude}
        return {**grads, **insert_gradient_all_reduce(graph, kept,
                                                      bucket_cap_mb=self.bucket_cap_mb)}

    def before_step(self) -> None:
        if self.broadcast_buffers:
            broadcast_from_rank0(self.module.buffers())


def data_parallel(model, distributed: bool) -> tuple[object, StepSync | None]:
    """(the model to compile, its StepSync or None) for `compile_train_step`.

    A DistributedDataParallel model compiles as its `.module`, with its options; a plain model
    with `distributed=True` as if wrapped with the defaults (its parameters broadcast now).
    """
    if isinstance(model, DistributedDataParallel):
        return model.module, StepSync(model.module, model.bucket_cap_mb, model.broadcast_buffers)
    if not distributed:
        return model, None
    pg.communicator()  # the error PyTorch gives when there is no process group
    sync_module_states(model)
    return model, StepSync(model, DEFAULT_BUCKET_CAP_MB, broadcast_buffers=True)
