"""Refits go to a worker that has compiled their model; compiles are spent where they pay."""

from __future__ import annotations

from typing import Any

from radonspec.fit.affinity import Affinity
from radonspec.fit.jobs import FitJob
from radonspec.fit.record import Fit


def jobs(**counts: int) -> list[FitJob]:
    made = []
    for model, count in counts.items():
        for fold in range(count):
            made.append(FitJob(None, model, None, f"{model}{fold}", 0, f"{model}@{fold}"))  # type: ignore[arg-type]
    return made


def fitted(job: FitJob, *, compile_s: float | None = None, fit_s: float = 1.0) -> Fit:
    """The record a worker returns: ``compile_s`` when it compiled, else a reuse."""
    record = {"reused": compile_s is None, "seconds": compile_s or 0.0}
    return Fit(
        job.name,
        job.key,
        "ok",
        None,
        {"total": fit_s + (compile_s or 0.0)},
        meta={"compile": record},
    )


def test_first_jobs_go_to_different_models() -> None:
    plan = Affinity(jobs(a=4, b=4, c=2))
    assert [plan.next_for(None).job.model for _ in range(3)] == ["a", "b", "c"]  # type: ignore[union-attr]


def test_a_worker_keeps_to_the_model_it_compiled() -> None:
    plan = Affinity(jobs(a=3, b=3))
    first, second = plan.next_for(None).job, plan.next_for(None).job
    assert first is not None and second is not None
    plan.finished(second, 2, fitted(second, compile_s=3.0))
    plan.finished(first, 1, fitted(first, compile_s=3.0))
    handed = [plan.next_for(2).job, plan.next_for(1).job]
    assert [job.model for job in handed if job is not None] == ["b", "a"]


def drain_a(plan: Affinity, first: Any, compile_s: float) -> Any:
    """Worker 1 fits every refit of model a; returns its next step."""
    job = first
    plan.finished(job, 1, fitted(job, compile_s=compile_s))
    step = plan.next_for(1)
    while step.job is not None and step.job.model == "a":
        plan.finished(step.job, 1, fitted(step.job))
        step = plan.next_for(1)
    return step


def test_a_free_worker_takes_a_model_only_where_the_compile_pays() -> None:
    # 6 a, 5 b and 3 c: worker 1 fits a, worker 2 b; when a is done, 4 b are left for
    # worker 2 and c is untouched: worker 1 takes c (nobody else would fit it)
    plan = Affinity(jobs(a=6, b=5, c=3))
    first, second = plan.next_for(None).job, plan.next_for(None).job
    assert (first.model, second.model) == ("a", "b")  # type: ignore[union-attr]
    assert drain_a(plan, first, compile_s=3.0).job.model == "c"
    # no c: 4 b refits of 1 s left on worker 2; a 2 s compile pays (4 > 2 + 1)
    plan = Affinity(jobs(a=6, b=5))
    first, _ = plan.next_for(None).job, plan.next_for(None).job
    assert drain_a(plan, first, compile_s=2.0).job.model == "b"
    # with a 10 s first compile (3.3 s for one more model) it does not: worker 1 waits
    # about one refit, then asks again
    plan = Affinity(jobs(a=6, b=5))
    first, _ = plan.next_for(None).job, plan.next_for(None).job
    step = drain_a(plan, first, compile_s=10.0)
    assert step.job is None and step.wait == 1.0


def test_every_job_is_handed_out_once() -> None:
    listed = jobs(a=3, b=2, c=4)
    plan = Affinity(listed)
    handed = []
    worker = None
    while (job := plan.next_for(worker).job) is not None:
        handed.append(job)
        plan.finished(job, len(handed) % 3, fitted(job))
        worker = len(handed) % 3
    assert sorted(job.key for job in handed) == sorted(job.key for job in listed)
    assert len(plan) == 0 and plan.next_for(1) == (None, 0.0)


def test_a_worker_between_two_refits_of_its_model_still_counts_as_fitting_it() -> None:
    # a first compile in a process counts a third (the rest is starting numba): 1 s or 10 s
    for compile_s, expected in ((3.0, "a"), (30.0, None)):
        plan = Affinity(jobs(a=6))
        job = plan.next_for(None).job
        assert job is not None
        plan.finished(job, 1, fitted(job, compile_s=compile_s))  # worker 1, not yet re-handed
        step = plan.next_for(2)  # 5 refits of 1 s left, which worker 1 will take
        assert (step.job.model if step.job else None) == expected


def test_a_later_compile_in_a_process_is_the_estimate_once_seen() -> None:
    plan = Affinity(jobs(a=2, b=2, c=6))
    first = plan.next_for(None).job  # c, the most refits
    assert first is not None and first.model == "c"
    plan.finished(first, 1, fitted(first, compile_s=30.0))  # worker 1's first compile
    a = plan.next_for(2).job  # worker 2, new: a (2 left, nobody on it) before c
    assert a is not None
    plan.finished(a, 2, fitted(a, compile_s=30.0))
    b = plan.next_for(2).job  # worker 2 knows a
    assert b is not None and b.model == "a"
    plan.finished(b, 2, fitted(b))
    other = plan.next_for(2).job  # nothing of a left: b, nobody on it
    assert other is not None and other.model == "b"
    plan.finished(other, 2, fitted(other, compile_s=2.0))  # worker 2's second compile
    assert plan._compile_estimate() == 2.0


def test_a_sweeps_cells_of_one_structure_go_to_the_worker_that_compiled_it() -> None:
    """Cells are grouped by ``compile_group`` (their formula), not by model name."""
    cells = [
        FitJob(
            None,
            f"base.{formula}.{scale}",
            None,
            f"k{formula}{scale}",
            0,  # type: ignore[arg-type]
            shared=True,
            group=formula,
        )  # fmt: skip
        for formula in ("f1", "f2")
        for scale in ("s1", "s2", "s3")
    ]
    plan = Affinity(cells)
    first, second = plan.next_for(None).job, plan.next_for(None).job
    assert first is not None and second is not None
    assert {first.group, second.group} == {"f1", "f2"}
    plan.finished(first, 1, fitted(first, compile_s=3.0))
    plan.finished(second, 2, fitted(second, compile_s=3.0))
    for worker, job in ((1, first), (2, second)):
        for _ in range(2):
            step = plan.next_for(worker)
            assert step.job is not None and step.job.group == job.group
            plan.finished(step.job, worker, fitted(step.job))
    assert plan.next_for(1).job is None
