"""Reproducibility check in the spirit of Debian's reprotest: build a target twice from clean,
varying what must not matter, and compare the bytes.

Varied between the two builds: the checkout path, the host build directory, the time (the
builds run at different moments; the compiler sees only SOURCE_DATE_EPOCH), the user id, the
job count, the locale and timezone, and the umask. The compiler cache is off, so each build
really compiles. On a mismatch, diffoscope (when installed) says where the bytes differ.

With a control (`invoke repro --against-dist`), the first build is the one `invoke build` already
published in dist/<target>/ from this same commit, and only the varied second build runs: CI
has just built every target, and building each twice more cost it a quarter of an hour.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from . import abi, publish, wheel
from .compile import LIBRARY_NAME, compile_in_image, find_header_torch
from .config import REPO_ROOT, EnvConfig, load
from .errors import BuildEnvError
from .files import Log, export_tree, sha256_file

VARIANTS = (
    {"name": "a", "user": None, "jobs": 1, "umask": "022", "env": {"LANG": "C.UTF-8", "TZ": "UTC"}},
    {"name": "b", "user": "4321:4321", "jobs": 2, "umask": "077",
     "env": {"LANG": "fr_FR.UTF-8", "LC_ALL": "fr_FR.UTF-8", "TZ": "Asia/Tokyo"}},
)


@dataclass
class ReproResult:
    target: str
    sha256: tuple[str, str]
    wheel_sha256: tuple[str, str]
    seconds: tuple[float, float] = (0.0, 0.0)
    difference: str = ""

    @property
    def identical(self) -> bool:
        return self.sha256[0] == self.sha256[1] and self.wheel_sha256[0] == self.wheel_sha256[1]


def describe_difference(a: Path, b: Path) -> str:
    if shutil.which("diffoscope"):
        out = subprocess.run(["diffoscope", "--text", "-", str(a), str(b)], capture_output=True, text=True)
        return out.stdout[-6000:]
    out = subprocess.run(["cmp", "-l", str(a), str(b)], capture_output=True, text=True)
    lines = out.stdout.splitlines()
    return f"{len(lines)} bytes differ (install diffoscope for detail); first offsets:\n" + "\n".join(lines[:20])


@dataclass(frozen=True)
class Control:
    """A published build standing in for the first variant."""
    library: Path
    sha256: str
    wheel_sha256: str
    jobs: int


def published_control(cfg: EnvConfig, target: str, dist: Path | None = None) -> Control:
    """dist/<target>/ as the control build, after checking that it is this commit's, clean, of
    this env.yaml and profile, and unchanged since it was published."""
    dist = dist or publish.dist_dir(target)
    manifest_path = dist / publish.MANIFEST_NAME
    fix = f"run `invoke build --target {target}` first, or drop --against-dist"
    if not manifest_path.is_file():
        raise BuildEnvError(f"--against-dist: no {manifest_path}; {fix}")
    data = json.loads(manifest_path.read_text())
    now = publish.git_state()
    problems = []
    if data.get("target") != target:
        problems.append(f"it is a {data.get('target')} build")
    if data.get("profile") != cfg.profile:
        problems.append(f"it was built with profile {data.get('profile')}, this run uses {cfg.profile}")
    if data.get("env_yaml_sha256") != cfg.sha256:
        problems.append("env.yaml changed since")
    if data["git"]["commit"] != now["commit"] or data["git"]["dirty"] or now["dirty"]:
        problems.append(f"it was built at commit {data['git']['commit']}{' (dirty)' if data['git']['dirty'] else ''}, "
                        f"the tree is at {now['commit']}{' (dirty)' if now['dirty'] else ''}")
    wheels = [name for name in data["artifacts"] if name.endswith(".whl")]
    if len(wheels) != 1:
        problems.append(f"its manifest lists {len(wheels)} wheels, not one")
    for name, sha in data["artifacts"].items():
        if not (dist / name).is_file() or sha256_file(dist / name) != sha:
            problems.append(f"{name} is missing or no longer matches the manifest")
    if problems:
        raise BuildEnvError(f"--against-dist: {dist} cannot be the control build: {'; '.join(problems)}; {fix}")
    return Control(dist / LIBRARY_NAME, data["artifacts"][LIBRARY_NAME], data["artifacts"][wheels[0]],
                   data.get("jobs") or cfg.max_jobs(target))


def varied_jobs(cfg: EnvConfig, target: str, control_jobs: int) -> int:
    """A job count other than the control's: one more where memory allows (on a machine whose
    cores the control already used, that costs no time), else one fewer."""
    if control_jobs + 1 <= cfg.jobs_memory_allows(target):
        return control_jobs + 1
    return max(1, control_jobs - 1)


def check(client, cfg: EnvConfig, target: str, log: Log = print, keep: bool = False,
          control: Control | None = None) -> ReproResult:
    """The builds' output goes to their build.log and wheel.log only; `log` gets one line per build.
    With a control, it is the first variant and only the second is built."""
    root = Path(tempfile.mkdtemp(prefix="vllm-ops-repro-"))
    try:
        hashes, libraries, wheel_hashes, seconds = [], [], [], []
        variants = list(VARIANTS)
        if control:
            log(f"repro {target}: build a is {control.library.parent} (published, -j{control.jobs})")
            hashes, libraries = [control.sha256], [control.library]
            wheel_hashes, seconds = [control.wheel_sha256], [0.0]
            variants = [{**VARIANTS[1], "jobs": varied_jobs(cfg, target, control.jobs)}]
        # All checkouts are taken now: the second build starts tens of minutes later (the full
        # CUDA arch list), and an edit to the working tree in between made the two differ.
        checkouts = [root / f"checkout-{variant['name']}" / "nested" / "vllm-ops" for variant in variants]
        for checkout in checkouts:
            export_tree(checkout)
        for variant, checkout in zip(variants, checkouts, strict=True):
            start = time.monotonic()
            build_dir = root / f"build-{variant['name']}-{target}"
            build_dir.mkdir(parents=True)
            os.chmod(build_dir, 0o777)  # the second variant builds as another user
            log(f"repro {target}: build {variant['name']} in {checkout} as {variant['user'] or 'caller'}, "
                f"-j{variant['jobs']}, umask {variant['umask']}, {variant['env']}")
            library = compile_in_image(
                client, cfg, target, build_dir, variant["jobs"], log=lambda line: None,
                source_dir=checkout, user=variant["user"], env=variant["env"], umask=variant["umask"],
                use_ccache=False)
            libraries.append(library)
            hashes.append(sha256_file(library))
            tag = abi.verdict(library, find_header_torch(cfg).include_dir, cfg.target_abi)["platform_tag"]
            built = wheel.build(client, cfg, target, build_dir, variant["jobs"], tag, lambda line: None, checkout)
            wheel_hashes.append(sha256_file(built))
            seconds.append(time.monotonic() - start)
        result = ReproResult(target, (hashes[0], hashes[1]), (wheel_hashes[0], wheel_hashes[1]),
                             (seconds[0], seconds[1]))
        if not result.identical:
            result.difference = describe_difference(*libraries)
        return result
    finally:
        if not keep:
            subprocess.run(["rm", "-rf", str(root)], check=False)


@dataclass
class VerifyResult:
    target: str
    expected: str
    rebuilt: str
    notes: list[str]

    @property
    def ok(self) -> bool:
        return self.expected == self.rebuilt


def verify_manifest(client, manifest_path: Path, log: Log = print) -> VerifyResult:
    """Rebuild the commit a manifest names, from clean and without the compiler cache, and compare."""
    data = json.loads(Path(manifest_path).read_text())
    commit, notes = data["git"]["commit"], []
    if not commit:
        raise BuildEnvError(f"{manifest_path} names no git commit")
    if data["git"]["dirty"]:
        notes.append("the manifest was written from a tree with uncommitted changes; the commit alone may differ")
    root = Path(tempfile.mkdtemp(prefix="vllm-ops-verify-"))
    try:
        source = root / "src"
        source.mkdir()
        archive = subprocess.run(["git", "-C", str(REPO_ROOT), "archive", commit], capture_output=True)
        if archive.returncode != 0:
            raise BuildEnvError(f"commit {commit} is not in this repository: {archive.stderr.decode().strip()}")
        subprocess.run(["tar", "-x", "-C", str(source)], input=archive.stdout, check=True)
        cfg = load(source / "env.yaml", profile=data.get("profile"))
        if cfg.sha256 != data["env_yaml_sha256"]:
            notes.append("env.yaml at that commit does not hash to the manifest's env_yaml_sha256")
        image = data.get("image") or {}
        current = client.images.get(image.get("tag")).id if image.get("tag") else None
        if current and current != image.get("id"):
            notes.append(f"toolchain image is now {current[:19]}, the manifest used {image.get('id', '')[:19]}")
        log(f"verify: rebuilding {data['target']} at {commit[:12]} in {source}")
        build_dir = root / "build"
        library = compile_in_image(client, cfg, data["target"], build_dir, cfg.max_jobs(data["target"]),
                                   log=lambda line: None, source_dir=source, use_ccache=False)
        return VerifyResult(data["target"], data["artifacts"][LIBRARY_NAME], sha256_file(library), notes)
    finally:
        subprocess.run(["rm", "-rf", str(root)], check=False)
