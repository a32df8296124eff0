"""Ops that move data: reshape, permute, broadcast_to, slice, concat, split, pad, gather, ..."""
