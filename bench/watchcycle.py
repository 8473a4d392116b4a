"""One ``watch`` cycle after a model's formula changed, timed in-process (issue 18).

``watch`` keeps its process, so a cycle pays no imports; what it should cost beyond the
changed model's own fit is the target (at most 2 s). Run with a study whose fits are all
stored: the first cycle serves them; then one model's formula gets a term and the second
cycle fits that model alone. Prints JSON: the second cycle's wall seconds, the refit's
own seconds (from its stored record) and the difference.

After a good cycle ``watch`` imports in the background what the next fit needs (PyMC,
Bambi, ...) while the user edits. A user's edit takes longer than that; this script
edits at once, so it waits for those imports first (``warm_up_s``, reported apart) and
the second cycle is measured as a user meets it.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

from rich.console import Console


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("study", type=Path)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model", required=True, help="the model whose formula changes")
    parser.add_argument("--add", default="log_uranium", help="the term added to it")
    parser.add_argument("--result", type=Path, required=True)
    args = parser.parse_args()

    from radonspec.cli.watch import Watcher

    console = Console(file=io.StringIO())
    watcher = Watcher(args.study, store=args.store, out_dir=args.out, jobs=1, console=console)
    first = watcher.cycle()
    assert first.ok and not first.sampled, (first.errors, first.sampled)
    tick = time.perf_counter()
    watcher.settle()
    warm_up = time.perf_counter() - tick
    text = args.study.read_text()
    start = text.index(f"  {args.model}:")
    line = text.index("formula:", start)
    end = text.index("\n", line)
    args.study.write_text(text[:end] + f" + {args.add}" + text[end:])
    tick = time.perf_counter()
    second = watcher.cycle()
    wall = time.perf_counter() - tick
    watcher.close()  # its warm-up thread must not be running when the interpreter shuts down
    assert second.ok and second.sampled == (args.model,), (second.errors, second.sampled)
    assert second.study is not None
    from radonspec.fit.runner import open_store, plan_study

    item = next(p for p in plan_study(second.study, [args.model]))
    meta = open_store(args.store).read_meta(item.key) or {}
    fit_s = float((meta.get("seconds") or {}).get("total", 0.0))
    found = {"cycle_s": wall, "fit_s": fit_s, "overhead_s": wall - fit_s, "warm_up_s": warm_up}
    args.result.write_text(json.dumps(found))
    print(json.dumps(found))


if __name__ == "__main__":
    main()
