"""Tiny attention-only networks (Reddy 2024) with hand-written Numba kernels."""
