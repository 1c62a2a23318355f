"""Integer helpers the kernel tests use."""

from vllm._compat import module_getattr


def cdiv(a: int, b: int) -> int:
    """a / b rounded up."""
    return -(-a // b)


def round_up(x: int, multiple: int) -> int:
    """The smallest multiple of `multiple` that is >= x."""
    return cdiv(x, multiple) * multiple


def round_down(x: int, multiple: int) -> int:
    return (x // multiple) * multiple


def next_power_of_2(n: int) -> int:
    return 1 if n < 1 else 1 << (n - 1).bit_length()


__getattr__ = module_getattr(__name__)
