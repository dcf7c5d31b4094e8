"""Grading a class: 30 submissions of one lab, the whole notebooks, as ``reglab grade`` runs them.

    python benchmarks/bench_grading.py [--lab 01] [--students 30] [--workers 1 2] [--timeout 60]

The class is made from the lab's own notebooks: two thirds the solution notebook (every figure and widget
cell runs), one sixth the untouched student lab (stubs), one sixth the solution with one exercise broken
(the first exercise's function renamed). Prints, per number of workers, the wall time for the class and
per notebook, the machine's memory in use (before, peak, after: MemTotal − MemAvailable, sampled every 0.5 s; other jobs on a shared machine move it),
the grader's own resident memory before and after, the kernel processes still alive afterwards, and the memory the
run kept per notebook (grader growth + live kernels, / students), and checks that the score tables are identical.
"""

import argparse
import json
import os
import tempfile
import threading
import time
from pathlib import Path

from reglab.console import tolerate_any_terminal
from reglab.course import grading


def used_mb():
    """The machine's memory in use (MB): MemTotal − MemAvailable (Linux), else the grader's peak RSS."""
    try:
        fields = dict(line.split(":", 1) for line in open("/proc/meminfo", encoding="utf-8"))
        return (int(fields["MemTotal"].split()[0]) - int(fields["MemAvailable"].split()[0])) / 1024
    except (OSError, KeyError, ValueError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb(pid="self"):
    """Resident memory of a process (MB, Linux ``/proc``), 0 when unknown."""
    try:
        for line in open(f"/proc/{pid}/status", encoding="utf-8"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def kernels_alive():
    """``(count, MB)`` of the processes whose command line is a grading kernel's (Linux)."""
    count, memory = 0, 0.0
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else []:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as stream:
                if b"_kernel_main" in stream.read():
                    count, memory = count + 1, memory + rss_mb(pid)
        except OSError:
            continue
    return count, memory


def make_class(folder, lab, students):
    """Write ``students`` notebooks of ``lab`` into ``folder``; return the expected totals."""
    reference = grading.find_lab(lab)
    solution = json.loads((reference.parent.parent / "solutions" / reference.name).read_text(encoding="utf-8"))
    stub = json.loads((reference.parent.parent / "labs" / reference.name).read_text(encoding="utf-8"))
    exercises = grading.lab_exercises(solution)
    first = exercises[0].function
    broken = json.loads(json.dumps(solution))
    for cell in broken["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "code" and f"def {first}(" in source:
            cell["source"] = source.replace(f"def {first}(", f"def {first}_renamed(")
    expected = {}
    full = sum(e.points for e in exercises)
    for i in range(students):
        kind = "stub" if i % 6 == 0 else "broken" if i % 6 == 1 else "solution"
        notebook = {"stub": stub, "broken": broken, "solution": solution}[kind]
        name = f"student_{i:02d}"
        (folder / f"{name}.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
        expected[name] = {"stub": 0.0, "broken": full - exercises[0].points, "solution": full}[kind]
    return expected


def main(argv=None):
    tolerate_any_terminal()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lab", default="01")
    parser.add_argument("--students", type=int, default=30)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary) / "submitted"
        folder.mkdir()
        expected = make_class(folder, args.lab, args.students)
        import shutil

        from reglab.course.checks import core

        checks, hidden = Path(temporary) / "checks", Path(temporary) / "hidden"   # a snapshot: the checkout may be
        shutil.copytree(Path(core.__file__).parent, checks)                      # edited meanwhile
        shutil.copytree(grading.COURSE / "instructor" / "hidden", hidden)
        tables, rows, memory = [], [], []
        for workers in args.workers:
            out = Path(temporary) / f"grades-{workers}"
            before, grader_before, samples, done = used_mb(), rss_mb(), [], threading.Event()

            def sample():
                while not done.wait(0.5):
                    samples.append(used_mb())

            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            start = time.perf_counter()
            reports = grading.grade(folder, lab=args.lab, out=out, workers=workers,
                                    limits=grading.Limits(cell=args.timeout, notebook=10 * args.timeout),
                                    progress=False, checks=checks, hidden=hidden)
            seconds = time.perf_counter() - start
            done.set()
            sampler.join()
            time.sleep(1)
            after = used_mb()
            alive, alive_mb = kernels_alive()
            kept = rss_mb() - grader_before + alive_mb              # what the run left in use, by its own processes
            memory.append((workers, before, max(samples or [after]), after, grader_before, rss_mb(), alive,
                           kept / len(reports)))
            wrong = [r.student for r in reports if r.total != expected[r.student]]
            for report in [r for r in reports if r.student in wrong][:2]:
                print(f"unexpected: {report.student} {report.total:g} (expected {expected[report.student]:g}):",
                      "; ".join([*report.notes[:2], *(s.reason for s in report.scores.values() if not s.passed)])[:400])
            tables.append((out / "scores.csv").read_text(encoding="utf-8"))
            rows.append((workers, seconds, seconds / len(reports), len(wrong)))
        print(f"lab {args.lab}: {args.students} submissions (full notebooks), per-cell limit {args.timeout:g} s")
        print(f"{'workers':>8} {'class (s)':>10} {'per notebook (s)':>17} {'unexpected totals':>18}")
        for workers, seconds, each, wrong in rows:
            print(f"{workers:>8} {seconds:>10.1f} {each:>17.2f} {wrong:>18}")
        print("memory (MB): the machine's in use (shared: other jobs move it) and the grader's own, before and after")
        print(f"{'workers':>8} {'machine before':>15} {'peak':>7} {'after':>7} {'grader before':>14} {'after':>7} "
              f"{'kernels alive':>14} {'kept/notebook':>14}")
        for workers, before, peak, after, grader, grader_after, alive, kept in memory:
            print(f"{workers:>8} {before:>15.0f} {peak:>7.0f} {after:>7.0f} {grader:>14.0f} {grader_after:>7.0f} "
                  f"{alive:>14} {kept:>14.1f}")
        print("isolation:", "; ".join(line.split(" (")[0] for line in grading.detect().describe()))
        print("score tables identical across worker counts:", all(table == tables[0] for table in tables))


if __name__ == "__main__":
    main()
