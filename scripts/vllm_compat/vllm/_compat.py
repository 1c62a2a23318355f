"""The adapter's own machinery: which device it runs for, and placeholders for vLLM names it
does not provide.

A placeholder stands for a name that vLLM's test helpers import but the selected tests never
use (fused-MoE and attention helpers in tests/kernels/utils.py, for instance). Importing it
works; calling it, iterating it or testing its truth raises NotProvidedError naming it, so a test
that does need it fails with a message saying so instead of passing by accident. Attribute
access on a placeholder gives another placeholder, because some such names are read at import
time (a default argument `AttentionType.ENCODER_DECODER`). Names starting with an underscore
are never invented: pytest and inspect probe objects for private attributes and must get the
usual AttributeError.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys

import torch

DEVICES = ("cpu", "cuda")


class NotProvidedError(NotImplementedError):
    """A vLLM name that the compat adapter does not implement was used."""

    def __init__(self, name: str, why: str = ""):
        super().__init__(f"not provided by the vllm-ops compat adapter: {name}" + (f" ({why})" if why else ""))
        self.name = name


class Placeholder:
    """Stands for the vLLM object `name`; any real use raises NotProvidedError."""

    __slots__ = ("_name",)

    def __init__(self, name: str):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        return Placeholder(f"{self._name}.{attr}")

    def __setattr__(self, attr, value):
        raise NotProvidedError(self._name)

    def _fail(self, *args, **kwargs):
        raise NotProvidedError(self._name)

    __call__ = __bool__ = __iter__ = __len__ = __getitem__ = __contains__ = _fail
    __enter__ = __exit__ = __mro_entries__ = __index__ = __int__ = __float__ = _fail

    def __repr__(self) -> str:
        return f"<not provided by the vllm-ops compat adapter: {self._name}>"


def module_getattr(module_name: str):
    """A module-level __getattr__ that answers a placeholder for a public name it lacks."""

    def __getattr__(attr: str):
        if attr.startswith("_"):
            raise AttributeError(f"module {module_name!r} has no attribute {attr!r}")
        return Placeholder(f"{module_name}.{attr}")

    return __getattr__


class _PlaceholderModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Last on sys.meta_path: a `vllm.*` module with no file in the adapter becomes an empty
    package whose public attributes are placeholders."""

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("vllm."):
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__path__ = []
        module.__doc__ = "placeholder module of the vllm-ops compat adapter: every public name is a placeholder"
        module.__getattr__ = module_getattr(module.__name__)


def install_placeholder_modules() -> None:
    if not any(isinstance(f, _PlaceholderModules) for f in sys.meta_path):
        sys.meta_path.append(_PlaceholderModules())


def compat_device() -> str:
    """The device the tests run on: VLLM_COMPAT_DEVICE, else cuda when torch sees a GPU."""
    device = os.environ.get("VLLM_COMPAT_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    if device not in DEVICES:
        raise ValueError(f"VLLM_COMPAT_DEVICE must be one of {', '.join(DEVICES)}, got {device!r}")
    return device


def alias_c_namespace(namespace: str) -> None:
    """Make torch.ops._C (what vLLM's tests call) the namespace our library registered."""
    if namespace != "_C":
        torch.ops._C = getattr(torch.ops, namespace)
