"""Reductions over axes with keepdims: sum, max, min, argmax, argmin."""
