"""Executors for IR graphs: the reference interpreter and compiled executables."""

from runtime.interpreter import ExecutionError, bind_inputs, run_graph

__all__ = ["ExecutionError", "bind_inputs", "run_graph"]
