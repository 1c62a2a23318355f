"""Pure-torch references, written from the math, independent of the compiled kernels."""
