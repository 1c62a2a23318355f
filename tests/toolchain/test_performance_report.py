"""docs/performance.md is generated from the benchmarks' JSON (buildenv/performance.py)."""

import math

import pytest

from buildenv import performance


def test_committed_report_matches_the_results():
    assert not performance.stale(), "docs/performance.md is out of date: run `invoke report`"


def test_a_hand_edit_makes_the_report_stale(tmp_path):
    report = tmp_path / "performance.md"
    assert performance.write(report) and not performance.write(report)  # written once, then unchanged
    assert not performance.stale(report)
    report.write_text(report.read_text().replace("| 45 |", "| 44 |", 1))
    assert performance.stale(report)


def test_summary_of_synthetic_rows():
    timed = {"part": "mmq", "ours_us": 1.0}
    rows = [
        {**timed, "type": "Q4_0", "speedup_vs_vllm": 2.0, "ours_over_matmul": 2.0, "ours_of_copy": 0.5},
        {**timed, "type": "Q8_0", "speedup_vs_vllm": 0.5, "ours_over_matmul": 0.5, "ours_of_copy": 0.8},
        {"part": "agreement", "type": "Q4_0", "ours_max_rel_err": 0.01},  # no timing: not summarized
    ]
    summary = performance.summarize(rows, "part")
    assert list(summary) == ["mmq"]
    vllm = summary["mmq"]["vllm"]
    assert vllm.cases == 2 and vllm.geomean == pytest.approx(1.0) and vllm.worst == 0.5 and vllm.below_1 == 1
    assert vllm.worst_case == "type=Q8_0"
    matmul = summary["mmq"]["fp16 matmul on the dense weight"]  # a time ratio, inverted to a speed ratio
    assert matmul.worst == pytest.approx(0.5) and matmul.worst_case == "type=Q4_0"
    copy = summary["mmq"]["of copy"]
    assert copy.geomean == pytest.approx(math.sqrt(0.4)) and copy.worst == 0.5


def test_a_missing_source_is_named(tmp_path):
    with pytest.raises(performance.BuildEnvError, match="bench_activation.json"):
        performance.render(tmp_path)
