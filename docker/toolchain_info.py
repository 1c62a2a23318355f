"""Prints the toolchain versions of an image as JSON (run during the image build)."""

import json
import shutil
import subprocess
import sys


def line(cmd, last=False):
    if shutil.which(cmd[0]) is None:
        return None
    out = subprocess.run(cmd, capture_output=True, text=True).stdout.strip().splitlines()
    return (out[-1] if last else out[0]) if out else None


info = {
    "image": sys.argv[1],
    "cmake": line(["cmake", "--version"]),
    "ninja": line(["ninja", "--version"]),
    "ccache": line(["ccache", "--version"]),
    "python": line(["python3", "--version"]),
    "g++": line(["g++", "--version"]),
    "nvcc": line(["nvcc", "--version"], last=True),
    "hipcc": line(["hipcc", "--version"]),
}
print(json.dumps({k: v for k, v in info.items() if v is not None}, sort_keys=True))
