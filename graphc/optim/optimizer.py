"""`Optimizer`: PyTorch's optimizer API (param_groups, state, zero_grad, state_dict) over IR updates.

A subclass defines its update rule once, as IR (`emit_param`), plus its hyper-parameters, state and
structural options. `step()` runs that IR (one cached Executable per set of parameter shapes and
structure) on the parameters' own storage, updating parameters and state in place;
`graphc.compile_train_step` emits the same IR into the training-step graph.
"""

from __future__ import annotations

from collections.abc import MutableMapping

import numpy as np

from graphc.device import array_module, backend_name, device_of, move
from graphc.optim.program import Entry, UpdateProgram, storage
from ir.graph import Graph
from ir.types import TensorType

STEP_DTYPE = "float32"  # PyTorch keeps the step count as a float32 0-d tensor


class ParamState(MutableMapping):
    """`optimizer.state`: per-parameter dicts keyed by the parameter Tensor itself (by identity).

    Like PyTorch's `defaultdict(dict)`: reading a parameter without state gives (and keeps) `{}`.
    """

    def __init__(self):
        self._items: dict[int, tuple[object, dict]] = {}

    def __getitem__(self, param) -> dict:
        if id(param) not in self._items:
            self._items[id(param)] = (param, {})
        return self._items[id(param)][1]

    def __setitem__(self, param, value: dict) -> None:
        self._items[id(param)] = (param, value)

    def __delitem__(self, param) -> None:
        del self._items[id(param)]

    def __contains__(self, param) -> bool:
        return id(param) in self._items

    def __iter__(self):
        return (param for param, _ in list(self._items.values()))

    def __len__(self) -> int:
        return len(self._items)


class Optimizer:
    """Base class. Subclasses set `defaults` through `__init__` and define the IR hooks below."""


    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.state = ParamState()
        self.param_groups: list[dict] = []
        self._eager: dict = {}
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    # -- IR hooks (subclasses) -----------------------------------------------------------------
    def needs_fresh(self, group: dict) -> bool:
        """Whether this group's update reads Slot.fresh (its first step differs)."""
        return False

    def hyper_values(self, group: dict) -> dict[str, float]:
        """The group's numeric hyper-parameters, fed as 0-d float64 inputs on every run."""
        raise NotImplementedError

    def state_names(self, group: dict) -> tuple[str, ...]:
        """Names of the per-parameter state this group's update reads and writes."""
        raise NotImplementedError

    def structure(self, group: dict) -> tuple:
        """The options that change the update's graph (the rest are runtime inputs)."""
        raise NotImplementedError

    def emit_param(self, b, slot, hyper: dict, group: dict):
        """Emit one parameter's update; return (new param Value, {state name: new Value})."""
        raise NotImplementedError

    def state_type(self, name: str, param_type: TensorType) -> TensorType:
        return TensorType((), STEP_DTYPE) if name == "step" else param_type

    def initial_state(self, name: str, param: np.ndarray, group: dict) -> np.ndarray:
        """The value of state `name` before the first step (zeros; `step` is a float32 0), on
        the parameter's device."""
        xp = array_module(param)
        if name == "step":
            return xp.zeros((), dtype=STEP_DTYPE)
        return xp.zeros_like(param)

    # -- PyTorch API ---------------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group: its `params` plus per-group options; missing options take the defaults."""
        group = dict(param_group)
        params = group["params"]
        group["params"] = [params] if _is_tensor(params) else list(params)
        for key, value in self.defaults.items():
            group.setdefault(key, value)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        for p in group["params"]:
            if not _is_tensor(p):
                raise TypeError(f"optimizer can only optimize Tensors, got {type(p).__name__}")
            if id(p) in seen:
                raise ValueError("some parameters appear in more than one parameter group")
            seen.add(id(p))
        self._check_group(group)
        self.param_groups.append(group)

    # Hyper-parameters that must not be negative (PyTorch's "Invalid <name> value" errors).
    non_negative: tuple[str, ...] = ()

    def _check_group(self, group: dict) -> None:
        if group["lr"] < 0:
            raise ValueError(f"Invalid learning rate: {group['lr']}")
        for key in self.non_negative:
            if group[key] < 0:
                raise ValueError(f"Invalid {key} value: {group[key]}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    storage(p.grad)[...] = 0

    def step(self, closure=None):
        """Update every parameter that has a gradient, in place, by running the update IR."""
        loss = None
        if closure is not None:
            import graphc

            with graphc.enable_grad():
                loss = closure()
        params = [
            (gi, p) for gi, group in enumerate(self.param_groups)
            for p in group["params"] if p.grad is not None
        ]
        if not params:
            return loss
        exe, feeder = self._eager_program(params)
        tensors = [p for _, p in params]
        feeder.before(tensors)
        for k, p in enumerate(tensors):
            exe.feed(f"g{k}", storage(p.grad))
            exe.feed(f"p{k}", storage(p))
        exe.run()
        feeder.after()
        return loss

    def _eager_program(self, params):
        """The cached (Executable, Feeder) for this set of shapes and group structures."""
        key = tuple(
            (gi, tuple(p.shape), storage(p).dtype.name, self.structure(self.param_groups[gi]),
             p.device.type)
            for gi, p in params
        )
        if key not in self._eager:
            from graphc.compile import build

            graph = Graph(f"{type(self).__name__}.step")
            entries = []
            for k, (gi, shape, dtype, _, _) in enumerate(key):
                ptype = TensorType(shape, dtype)
                param = graph.add_param(f"p{k}", ptype)
                grad = graph.add_input(f"g{k}", ptype)
                entries.append(Entry(gi, f"p{k}", param, grad))
            program = UpdateProgram(self, graph, entries)
            graph.updates = list(program.updates)
            # on the parameters' device (one for all: an op mixing devices fails earlier)
            exe = build(graph, backend=backend_name(params[0][1].device))[3]
            self._eager[key] = (exe, program.feeder(exe))
        return self._eager[key]

    def state_dict(self) -> dict:
        """{'state': {index: {name: Tensor}}, 'param_groups': [{..., 'params': [index, ...]}]}."""
        index, groups = {}, []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: dict(s) for p, s in self.state.items() if id(p) in index and s
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Load a `state_dict()`; everything is checked before anything changes."""
        from graphc import Tensor

        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"loaded state dict has {len(saved_groups)} parameter group(s), "
                f"optimizer has {len(self.param_groups)}"
            )
        by_index = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"parameter group {i}: loaded state dict has {len(saved['params'])} "
                    f"parameter(s), optimizer has {len(group['params'])}"
                )
            by_index.update(zip(saved["params"], group["params"]))
        new_state = {}
        for idx, entries in state_dict["state"].items():
            if idx not in by_index:
                raise ValueError(f"loaded optimizer state names parameter {idx}, which is unknown")
            param = by_index[idx]
            new_state[id(param)] = (param, _converted_state(idx, entries, storage(param)))
        groups = []
        for saved, group in zip(saved_groups, self.param_groups):
            restored = {k: v for k, v in saved.items() if k != "params"}
            restored["params"] = group["params"]
            groups.append(restored)
        self.param_groups = groups
        self.state = ParamState()
        for param, entries in new_state.values():
            self.state[param] = {k: Tensor._wrap(v) for k, v in entries.items()}

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])


def _converted_state(idx, entries: dict, param: np.ndarray) -> dict:
    """Copies of one parameter's loaded state on its device: `step` as float32, the rest as
    the param's dtype (as PyTorch's load_state_dict casts and moves state)."""
    out, where, xp = {}, device_of(param), array_module(param)
    for name, value in entries.items():
        array = storage(value) if hasattr(value, "detach") else np.asarray(value)
        array = move(array, where)
        if name == "step":
            out[name] = xp.array(array, dtype=STEP_DTYPE).reshape(())
            continue
        if array.shape != param.shape:
            raise ValueError(
                f"loaded optimizer state '{name}' of parameter {idx} has shape "
                f"{tuple(array.shape)}, the parameter has {tuple(param.shape)}"
            )
        out[name] = xp.array(array, dtype=param.dtype)
    return out


def _is_tensor(x) -> bool:
    from graphc import Tensor

    return isinstance(x, Tensor)
