"""The loaded op namespace, torch.ops.<namespace from the build>."""

import torch

from . import build_info

ops = getattr(torch.ops, build_info["namespace"])
