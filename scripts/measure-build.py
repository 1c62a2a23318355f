"""Measures one clean, single-job, cache-off compile of a target in its image: wall time and the
peak resident memory of the compiler processes (sampled from the host every 50 ms).

    .venv/bin/python scripts/measure-build.py cuda
"""

import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from buildenv import config, engine  # noqa: E402
from buildenv.compile import compile_in_image  # noqa: E402

COMPILERS = ("cc1plus", "cicc", "ptxas", "cudafe++", "nvcc", "clang", "clang-17", "clang++-17", "ld.lld", "lld",
             "collect2", "ld", "fatbinary", "nvlink", "g++-12", "gcc-12", "cc1")


def sample(stop, peak):
    while not stop.is_set():
        out = subprocess.run(["ps", "-eo", "rss=,comm="], capture_output=True, text=True).stdout
        total = sum(int(line.split()[0]) for line in out.splitlines()
                    if line.split()[1:] and line.split()[1] in COMPILERS)
        peak[0] = max(peak[0], total)
        time.sleep(0.05)


def main(target):
    cfg = config.load()
    client = engine.connect()
    with tempfile.TemporaryDirectory() as tmp:
        stop, peak = threading.Event(), [0]
        thread = threading.Thread(target=sample, args=(stop, peak))
        thread.start()
        start = time.monotonic()
        compile_in_image(client, cfg, target, Path(tmp) / "build", jobs=1, log=lambda line: None,
                                   use_ccache=False)
        seconds = time.monotonic() - start
        stop.set()
        thread.join()
    print(f"{target}: clean -j1 compile {seconds:.1f} s, peak compiler RSS {peak[0] / 1024 / 1024:.2f} GiB")


if __name__ == "__main__":
    main(sys.argv[1])
