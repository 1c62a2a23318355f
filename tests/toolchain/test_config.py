import re

import pytest

from buildenv import config
from buildenv.errors import ConfigError


def test_repository_env_yaml_is_valid():
    cfg = config.load(profile="")  # the defaults, also where VLLM_OPS_PROFILE is set (CI sets ci)
    assert cfg.namespace == "vllm_ops"
    assert cfg.torch_target_version_macro == "0x020a000000000000"  # 2.10
    assert cfg.cuda_arch_list == ["7.5", "8.0", "8.6", "8.9", "9.0a", "10.0", "12.0+PTX"]
    assert config.load(profile="ci").cuda_arch_list == ["9.0a"]
    assert len(cfg.sha256) == 64


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda d: d["build"].update(parallel=4), "build.parallel"),
        (lambda d: d.update(extra_section={}), "extra_section"),
        (lambda d: d["torch"].update(target_abi=2.1), "torch.target_abi"),
        (lambda d: d["build"].update(max_jobs=0), "build.max_jobs"),
        (lambda d: d["cuda"].update(arch_list=["sm90"]), "cuda.arch_list[0]"),
        (lambda d: d["rocm"].update(arch_list=[]), "rocm.arch_list"),
        (lambda d: d["images"]["cuda"]["apt"].update({"cmake": 3}), "images.cuda.apt.cmake"),
        (lambda d: d["images"]["rocm"]["base"].update(ref="rocm/dev:latest"), "images.rocm.base.ref"),
        (lambda d: d["ops"].pop("namespace"), "ops.namespace"),
        (lambda d: d["ops"].update(namespace="vllm-ops"), "ops.namespace"),
        # Values that used to pass validation and fail later (issue 18).
        (lambda d: d["build"]["job_peak_gib"].update(cuda=float("nan")), "build.job_peak_gib.cuda"),
        (lambda d: d["build"]["job_peak_gib"].update(cpu=float("inf")), "build.job_peak_gib.cpu"),
        (lambda d: d["build"].update(max_jobs=100000000), "build.max_jobs"),
        (lambda d: d.update(schema_version=99), "schema_version"),
        (lambda d: d.update(profiles=False), "profiles"),
        (lambda d: d["images"]["cuda"]["base"].update(ref="x@sha256:"), "images.cuda.base.ref"),
        (lambda d: d["images"]["cuda"]["base"].update(ref="x@sha256:" + "a" * 63), "images.cuda.base.ref"),
        (lambda d: d["ops"].update(namespace="aten"), "ops.namespace"),
        (lambda d: d["ops"].update(namespace="torch"), "ops.namespace"),
        (lambda d: d["ops"].update(namespace="prim"), "ops.namespace"),
        (lambda d: d["ops"].update(namespace="class"), "ops.namespace"),
        (lambda d: d["ops"].update(namespace="__init__"), "ops.namespace"),
        (lambda d: d["profiles"]["ci"].update(profiles={"x": {}}), "profiles.ci.profiles"),
        (lambda d: d["build"]["compiler_cache"].update(remote="http://cache:8080"), "build.compiler_cache.remote"),
        (lambda d: d["build"]["compiler_cache"].update(remote="redis://"), "build.compiler_cache.remote"),
        (lambda d: d["build"]["compiler_cache"].update(remote="redis://host:port"), "build.compiler_cache.remote"),
        (lambda d: d["build"]["compiler_cache"].update(remote=6379), "build.compiler_cache.remote"),
        (lambda d: d["build"].pop("compiler_cache"), "build.compiler_cache"),
    ],
)
def test_invalid_values_name_the_key(env_data, write_env, mutate, key):
    mutate(env_data)
    with pytest.raises(ConfigError, match=r"env.yaml: .*" + re.escape(key)):
        config.load(write_env(env_data))


def test_target_abi_newer_than_header_torch_is_impossible(env_data, write_env):
    env_data["torch"]["target_abi"] = "2.14"
    with pytest.raises(ConfigError, match=r"torch.target_abi must be no newer than torch.header_version"):
        config.load(write_env(env_data))


def test_target_abi_older_than_the_first_stable_abi_is_rejected(env_data, write_env):
    env_data["torch"]["target_abi"] = "2.8"
    with pytest.raises(ConfigError, match=r"torch.target_abi must be at least"):
        config.load(write_env(env_data))


def test_profile_overlays_and_unknown_profile(env_data, write_env):
    path = write_env(env_data)
    assert config.load(path, profile="ci").rocm_arch_list == ["gfx942"]
    with pytest.raises(ConfigError, match="profile 'fast' is not defined"):
        config.load(path, profile="fast")


def test_profile_keys_are_validated(env_data, write_env):
    env_data["profiles"]["ci"]["rocm"]["archs"] = ["gfx942"]
    with pytest.raises(ConfigError, match=r"unknown key profiles.ci.rocm.archs"):
        config.load(write_env(env_data))


def test_not_yaml_and_missing_file(tmp_path):
    bad = tmp_path / "env.yaml"
    bad.write_text("ops: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        config.load(bad)
    with pytest.raises(ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.yaml")


@pytest.mark.parametrize("free_gib, target, expected", [(23.0, "cuda", 2), (7.0, "cuda", 1), (1.6, "cuda", 1),
                                                         (1.2, "rocm", 1)])
def test_auto_jobs_fit_in_memory(monkeypatch, free_gib, target, expected):
    monkeypatch.setattr(config.os, "cpu_count", lambda: 2)
    assert config.load().max_jobs(target, available_gib=free_gib) == expected


def test_auto_jobs_never_exceed_memory_on_a_big_machine(monkeypatch):
    monkeypatch.setattr(config.os, "cpu_count", lambda: 64)
    cfg = config.load()
    jobs = cfg.max_jobs("cuda", available_gib=8.0)
    assert jobs * cfg.data["build"]["job_peak_gib"]["cuda"] <= 8.0 - 1.0


def test_pinned_jobs_are_used_as_is(env_data, write_env):
    env_data["build"]["max_jobs"] = 3
    assert config.load(write_env(env_data)).max_jobs("cuda", available_gib=1.0) == 3


@pytest.mark.parametrize("arch, ok", [("9.0a", True), ("8.0+PTX", True), ("12.0", True), ("sm_80", False),
                                      ("8.0+ptx", False)])
def test_cuda_arch_entries(env_data, write_env, arch, ok):
    env_data["cuda"]["arch_list"] = [arch]
    # profile="": CI exports VLLM_OPS_PROFILE=ci, whose own arch list would replace the one under test
    if ok:
        assert config.load(write_env(env_data), profile="").cuda_arch_list == [arch]
    else:
        with pytest.raises(ConfigError, match="cuda.arch_list\\[0\\]"):
            config.load(write_env(env_data), profile="")


def test_empty_profile_ignores_the_environment(monkeypatch):
    monkeypatch.setenv("VLLM_OPS_PROFILE", "ci")
    assert config.load().profile == "ci"
    assert config.load(profile="").rocm_arch_list == ["gfx90a", "gfx942"]


def test_a_digest_pinned_base_ref_is_accepted(env_data, write_env):
    env_data["images"]["cuda"]["base"]["ref"] = "docker.io/library/debian@sha256:" + "0123456789abcdef" * 4
    assert config.load(write_env(env_data)).image("cuda")["base"]["ref"].endswith("0123456789abcdef")


def test_the_drop_in_namespace_is_allowed(env_data, write_env):
    env_data["ops"]["namespace"] = "_C"
    assert config.load(write_env(env_data)).namespace == "_C"


def test_yaml_scalar_surprises_say_what_to_write(env_data, write_env, tmp_path):
    # Unquoted 1e3 is a string to YAML (no dot), unquoted 2.10 the float 2.1: say so, and what to write.
    text = write_env(env_data).read_text()
    path = tmp_path / "env_number.yaml"
    path.write_text(re.sub(r"source_date_epoch: .*", "source_date_epoch: 1e3", text))
    with pytest.raises(ConfigError, match=r"build.source_date_epoch .*YAML reads 1e3 as a string; write 1000"):
        config.load(path)
    path.write_text(re.sub(r"target_abi: .*", "target_abi: 2.10", text))
    with pytest.raises(ConfigError, match=r"torch.target_abi .*got 2.1 .*quote it"):
        config.load(path)


@pytest.mark.parametrize("remote", [None, "redis://cache.internal", "redis://10.0.0.5:6379/2",
                                    "redis://ci:secret@cache.internal:6380"])
def test_compiler_cache_remote_takes_redis_endpoints(env_data, write_env, remote):
    env_data["build"]["compiler_cache"]["remote"] = remote
    assert config.load(write_env(env_data)).cache_remote == remote
