"""env.yaml `families`: validated with the key named, and cmake/sources.cmake generated from it
(the committed file matches; a planted change is caught; a CUDA-only family stays off HIP)."""

import copy

import pytest

from buildenv import config, families
from buildenv.errors import ConfigError

CFG = config.load(profile="")


def with_families(update) -> config.EnvConfig:
    data = copy.deepcopy(CFG.data)
    update(data["families"])
    return config.EnvConfig(data=data, sha256=CFG.sha256, path=CFG.path)


def test_committed_sources_cmake_matches_env_yaml():
    assert not families.drifted(CFG), "run `invoke families` and commit cmake/sources.cmake"


def test_a_new_source_in_env_yaml_is_drift():
    planted = with_families(lambda f: f["gptq"]["host_sources"].append("csrc/cpu/quant_cpu.cpp"))
    assert families.drifted(planted)


def test_cuda_only_family_goes_to_the_cuda_only_list():
    def add(f):
        f["permute"] = {"backends": ["cuda"], "host_sources": [], "dependencies": ["cutlass"],
                        "gpu_sources": ["csrc/libtorch_stable/quantization/gptq/gptq_shuffle.cu"]}

    lists = families.source_lists(with_families(add))
    shuffle = "csrc/libtorch_stable/quantization/gptq/gptq_shuffle.cu"
    assert ("permute", [shuffle]) in lists["VLLM_OPS_CUDA_ONLY_SOURCES"]
    assert all(name != "permute" for name, _ in lists["VLLM_OPS_GPU_SOURCES"])


def test_missing_source_file_is_named():
    broken = with_families(lambda f: f["gguf"]["host_sources"].append("csrc/cpu/absent.cpp"))
    with pytest.raises(ConfigError, match="families.gguf lists csrc/cpu/absent.cpp, which does not exist"):
        families.render(broken)


@pytest.mark.parametrize("change, message", [
    (lambda f: f["gguf"].update(backends=["cpu", "cuda", "rocm"], dependencies=["cutlass"]),
     "families.gguf.backends must not include rocm: cutlass is CUDA-only"),
    (lambda f: f["gguf"].update(backends=["cuda", "rocm"]), "families.gguf.host_sources must be given exactly"),
    (lambda f: f["gguf"].update(backends=["cpu", "tpu"]), "families.gguf.backends\\[1\\] must be cpu or cuda or rocm"),
    (lambda f: f["gguf"].update(backends=["cpu", "rocm"]), "a family with rocm also builds for cuda"),
    (lambda f: f["gguf"].update(gpu_sources=["src/x.cu"]), "families.gguf.gpu_sources\\[0\\] must be a source path"),
    (lambda f: f["gguf"].pop("dependencies"), "missing key families.gguf.dependencies"),
])
def test_bad_family_is_a_config_error_naming_the_key(env_data, write_env, change, message):
    change(env_data["families"])
    with pytest.raises(ConfigError, match=message):
        config.load(write_env(env_data))
