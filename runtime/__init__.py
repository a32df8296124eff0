"""Executors for IR graphs: the reference interpreter and compiled executables."""

from runtime.backend import Backend, available_backends, get_backend
from runtime.executable import Executable
from runtime.interpreter import ExecutionError, check_array, run_graph

__all__ = [
    "Backend",
    "Executable",
    "ExecutionError",
    "available_backends",
    "check_array",
    "get_backend",
    "run_graph",
]
