"""Fake (meta) implementations, so the ops trace under torch.compile and pass opcheck.

Ops that only mutate their `Tensor!` arguments and return nothing need no shape logic: their
fake does nothing. They are found from the registered schemas, so a new op of that kind needs
no entry here.
"""

import torch


def _mutates_only(schema) -> bool:
    return not schema.returns and any(a.alias_info and a.alias_info.is_write for a in schema.arguments)


def register_all(namespace: str) -> None:
    for schema in torch._C._jit_get_all_schemas():
        if schema.name.startswith(f"{namespace}::") and _mutates_only(schema):
            qualified = schema.name + (f".{schema.overload_name}" if schema.overload_name else "")
            torch.library.register_fake(qualified)(_no_output)


def _no_output(*args, **kwargs) -> None:
    return None
