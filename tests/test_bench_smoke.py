"""The benchmark harness (bench/): its helpers, and quick mode end to end in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # the harness lives beside the package, not inside it
    sys.path.insert(0, str(ROOT))

from bench.contenders import brms_seed  # noqa: E402
from bench.measure import measure  # noqa: E402
from bench.phases import classify  # noqa: E402
from bench.render import render_markdown  # noqa: E402
from bench.results import loglog_slope, ratio, summarise, target  # noqa: E402
from bench.studies import Sampling, read_yaml, scaling_data, scaling_study, seed_study  # noqa: E402

SECTIONS = {
    "seed_study",
    "warm_store",
    "hierarchical",
    "scaling",
    "memory",
    "profile",
    "spine",
    "cv",
}


def test_summarise_gives_median_and_range_of_present_values() -> None:
    assert summarise([3.0, None, 1.0, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "n": 3}
    assert summarise([None])["median"] is None


def test_ratio_pairs_repetitions_and_skips_failed_ones() -> None:
    found = ratio([2.0, 4.0, None], [4.0, 4.0, 1.0])
    assert found["median"] == pytest.approx(3.0 / 4.0)
    assert (found["min"], found["max"], found["n"]) == (0.5, 1.0, 2)
    assert ratio([1.0], [None])["median"] is None


def test_loglog_slope_recovers_a_power_law() -> None:
    sizes = [1e3, 1e4, 1e5]
    assert loglog_slope(sizes, [2 * n**0.8 for n in sizes]) == pytest.approx(0.8)
    assert loglog_slope(sizes, [None, 1.0, None]) is None


def test_target_verdicts() -> None:
    assert target("t", 0.1, 0.2)["met"] is True
    assert target("t", 0.9, 1.0, at_most=False)["met"] is False
    assert target("t", None, 1.0)["met"] is None


@pytest.mark.parametrize(
    ("stack", "phase"),
    [
        # compile nested inside sampling: the frame nearest the leaf decides
        (
            [
                ("/x/numba/core/compiler.py", "compile_extra"),
                ("/x/nutpie/compile_pymc.py", "compile_pymc_model"),
                ("/x/pymc/sampling/mcmc.py", "sample"),
                ("/x/radonspec/fit/sample.py", "sample_model"),
            ],
            "compile",
        ),
        (
            [("/x/nutpie/sample.py", "wait"), ("/x/pymc/sampling/mcmc.py", "sample")],
            "tune + sample",
        ),
        # an import anywhere below wins, even inside the report
        (
            [
                ("/x/matplotlib/colors.py", "to_rgba"),
                ("<frozen importlib._bootstrap>", "_find_and_load"),
                ("/x/radonspec/report/render.py", "write_report"),
            ],
            "import",
        ),
        ([("/x/arviz_stats/loo/loo.py", "loo"), ("/x/radonspec/report/x.py", "f")], "LOO"),
        ([("/x/bambi/models.py", "predict")], "posterior predictive"),
        ([("/x/bambi/models.py", "fit")], "other"),
        ([("/x/typer/main.py", "__call__")], "other"),
    ],
)
def test_classify_charges_the_nearest_phase(stack: list[tuple[str, str]], phase: str) -> None:
    assert classify(stack) == phase


def test_measure_records_wall_time_and_peak_memory(tmp_path: Path) -> None:
    code = "import time; block = bytearray(200 * 2**20); block[::4096] = b'x' * len(block[::4096]); time.sleep(0.5)"  # noqa: E501
    found = measure([sys.executable, "-c", code], cwd=tmp_path, log=tmp_path / "ok.log")
    assert found.ok
    assert found.wall_s >= 0.5
    assert found.maxrss_mb >= 200
    assert found.peak_rss_mb >= found.maxrss_mb


def test_a_small_command_does_not_read_the_harness_peak(tmp_path: Path) -> None:
    """Linux carries a process's peak across exec: a child forked straight from a process
    that once held 400 MB read at least 400 MB whatever it did itself."""
    held = bytearray(400 * 2**20)
    held[::4096] = b"x" * len(held[::4096])
    del held
    found = measure([sys.executable, "-c", "pass"], cwd=tmp_path, log=tmp_path / "small.log")
    assert found.ok
    assert found.maxrss_mb < 150, found


def test_measure_keeps_the_signal_that_killed_the_command(tmp_path: Path) -> None:
    code = "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"
    found = measure([sys.executable, "-c", code], cwd=tmp_path, log=tmp_path / "killed.log")
    assert found.returncode == -9
    assert found.error is not None and found.error.startswith("exit code -9")


def test_measure_reports_a_failing_command_with_its_output(tmp_path: Path) -> None:
    code = "import sys; print('radonspec exploded'); sys.exit(3)"
    found = measure([sys.executable, "-c", code], cwd=tmp_path, log=tmp_path / "bad.log")
    assert not found.ok
    assert found.returncode == 3
    assert found.error == "exit code 3: radonspec exploded"


def test_measure_stops_a_run_past_its_time_limit(tmp_path: Path) -> None:
    code = "import time; time.sleep(30)"
    found = measure(
        [sys.executable, "-c", code], cwd=tmp_path, log=tmp_path / "slow.log", timeout_s=0.5
    )
    assert not found.ok
    assert found.wall_s < 10
    assert found.error is not None and found.error.startswith("stopped after")


def test_seed_study_keeps_three_models_and_overrides_the_sampler(tmp_path: Path) -> None:
    path = seed_study(tmp_path / "seed.yaml", Sampling(draws=7, tune=5, chains=2))
    study = read_yaml(path)
    assert list(study["models"]) == ["pooled", "unpooled", "hierarchical"]
    assert study["defaults"]["sampler"]["draws"] == 7
    assert study["compare"]["models"] == ["pooled", "unpooled", "hierarchical"]
    assert study["report"]["shrinkage"] == {"from": "unpooled", "to": "hierarchical"}
    alone = read_yaml(seed_study(tmp_path / "h.yaml", Sampling(7, 5, 2), ("hierarchical",)))
    assert list(alone["models"]) == ["hierarchical"]
    assert "shrinkage" not in alone["report"]


def test_generated_studies_are_valid_specs(tmp_path: Path) -> None:
    from radonspec.study.loader import load_study

    sampling = Sampling(draws=7, tune=5, chains=2)
    data, groups = scaling_data(tmp_path / "data.csv", 1000)
    assert groups == 100
    scaling = load_study(scaling_study(tmp_path / "scaling.yaml", data, sampling))
    assert list(scaling.models) == ["varying_intercept"]
    seed = load_study(seed_study(tmp_path / "seed.yaml", sampling))
    assert seed.models["hierarchical"].sampler.draws == 7


def test_brms_is_skipped_with_a_reason_where_r_is_missing(tmp_path: Path) -> None:
    assert brms_seed.unavailable(str(tmp_path / "Rscript")).startswith(
        f"not run: {tmp_path / 'Rscript'} could not be started"
    )
    fake = tmp_path / "Rscript"
    fake.write_text("#!/bin/sh\necho brms rstan\nexit 1\n")
    fake.chmod(0o755)
    assert brms_seed.unavailable(str(fake)) == "not run: R packages missing: brms, rstan"


def test_brms_command_passes_the_harness_settings(tmp_path: Path) -> None:
    command = brms_seed.command(Sampling(7, 5, 2), ("pooled",), tmp_path / "r.json")
    assert command[1] == str(ROOT / "bench" / "contenders" / "brms_seed.R")
    assert command[2:7] == [
        "--draws=7",
        "--tune=5",
        "--chains=2",
        "--target-accept=0.9",
        "--seed=20221",
    ]
    assert command[-4:] == ["--result", str(tmp_path / "r.json"), "--models", "pooled"]


def test_seed_section_renders_brms_stages_and_skips() -> None:
    brms = "brms (R, Stan compile included)"
    stat = {"median": 60.0, "min": 60.0, "max": 60.0, "n": 1}
    section = {
        "contenders": {},
        "stages": {brms: {"load_s": stat, "compile_s": stat, "sample_s": stat, "loo_s": stat}},
        "skipped": {"other": "not run: Rscript is not installed (R is not part of CI)"},
    }
    results = {
        "mode": "full",
        "created": "2026-01-01T00:00:00+00:00",
        "command": "python -m bench",
        "machine": {"cpu": "cpu", "cores_usable": 2, "memory_gb": 8, "os": "os", "python": "3"},
        "versions": {"radonspec": "0.1.0"},
        "settings": {"draws": 50, "tune": 50, "chains": 2, "target_accept": 0.9, "reps": 1},
        "sections": {"seed_study": section},
        "targets": [],
        "failures": [],
    }
    text = render_markdown(results)
    assert f"{brms}, summed over the models: R start and packages 60.0 s, Stan compile" in text
    assert "other: not run: Rscript is not installed (R is not part of CI)." in text


def test_quick_results_are_labelled_not_meaningful() -> None:
    results = {
        "mode": "quick",
        "created": "2026-01-01T00:00:00+00:00",
        "command": "python -m bench --quick",
        "machine": {"cpu": "cpu", "cores_usable": 2, "memory_gb": 8, "os": "os", "python": "3"},
        "versions": {"radonspec": "0.1.0"},
        "settings": {"draws": 50, "tune": 50, "chains": 2, "target_accept": 0.9, "reps": 1},
        "sections": {"seed_study": {"error": "section seed crashed: boom"}},
        "targets": [target("warm-store run wall", None, 3.0, unit=" s")],
        "failures": ["section seed crashed: boom"],
    }
    text = render_markdown(results)
    assert "**not meaningful**" in text
    assert "**The section failed:** section seed crashed: boom" in text
    assert "| warm-store run wall | <= 3 s | n/a | not measured |" in text


@pytest.mark.slow
def test_quick_mode_runs_every_section(tmp_path: Path) -> None:
    out = tmp_path / "out"
    command = [sys.executable, "-m", "bench", "--quick", "--out", str(out)]
    done = subprocess.run(
        [*command, "--work", str(tmp_path / "work")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    assert results["mode"] == "quick"
    assert SECTIONS <= set(results["sections"])
    sections = results["sections"]
    assert set(sections["seed_study"]["contenders"]) == {
        "radonspec",
        "plain Bambi (default sampler)",
        "plain Bambi (nutpie)",
    }
    assert sections["seed_study"]["skipped"] == {
        "brms (R, Stan compile included)": "not run in quick mode: Stan compiles each model"
        " for about a minute"
    }
    assert sections["warm_store"]["contenders"]["radonspec (warm store)"]["failed"] == 0
    hierarchical = sections["hierarchical"]["contenders"]
    assert {"radonspec", "nutpie direct", "plain Bambi (default sampler)"} == set(hierarchical)
    assert all(entry["ess_per_s"]["median"] > 0 for entry in hierarchical.values())
    assert [row["n"] for row in sections["scaling"]["sizes"]] == [300, 1000]
    assert sections["scaling"]["exponent"]["s_per_eff_draw"] is not None
    assert sum(sections["profile"]["phases"].values()) > 0
    spine = sections["spine"]["contenders"]
    assert all(entry["failed"] == 0 for entry in spine.values()), spine
    assert all(v is not None for v in sections["spine"]["watch_overhead_s"])
    kfold = sections["cv"]["kfold"]["rows"][0]
    assert kfold["kfold"]["refits"] == 2 and kfold["refits"]["fits"] == 2, kfold
    assert kfold["kfold"]["elpd"]["pooled"] < 0
    assert {t["name"] for t in results["targets"]} >= {
        "k-fold: fold refits / full fits (wall)",
        "N = 10^5 unthinned peak RSS",
        "warm-store run wall",
        "report from stored fits to a new folder / cold run",
        "watch cycle after one formula change, beyond that model's fit",
    }
    assert "not meaningful" in (out / "RESULTS.md").read_text()


def test_the_contenders_read_the_bundled_radon_data() -> None:
    """The plain Bambi and brms scripts read the file radonspec bundles (it moved once)."""
    from bench.contenders import brms_seed, shared

    assert shared.RADON_CSV.is_file()
    assert 'file.path("radonspec", "data", "datasets", "radon.csv")' in (
        brms_seed.SCRIPT.read_text()
    )
