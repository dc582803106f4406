"""The class report: how the class did on each exercise, and what went wrong most often.

Written next to the gradebook as ``<stem>_class.md`` (to read) and ``<stem>_class.csv``
(one row per exercise and outcome, to sort and plot). Per exercise: how many submissions,
how many passed, the pass rate, the median points, and every outcome code with its count
(``kl-with-the-wrong-sign``: 3) and one example message. Per notebook: how the notebooks
ran, the cells that raised most often and the slowest cells (median seconds over the
submissions; cells are matched across students by their first line). Only the latest attempt
of each student counts; roster students who handed nothing in are counted apart.

The cell timings vary between runs; everything else is the same when the same submissions
are graded again.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict

from .protocol import Graded, Status, exercise_key
from .report import _csv, clean, latest, points

CSV_COLUMNS = ["notebook", "exercise", "title", "max_points", "submissions", "passed", "pass_rate",
               "median_points", "status", "code", "count", "example"]
TOP = 5
MIN_SLOW_S = 0.1  # faster cells are not worth a line


def _exercise_stats(graded: list[Graded]) -> dict:
    stats = defaultdict(lambda: {"title": "", "max": 0, "points": [], "outcomes": Counter(), "examples": {}})
    for g in graded:
        for r in g.results:
            if not r.exercise:
                continue
            s = stats[(g.notebook, r.exercise)]
            s["title"], s["max"] = r.title, r.max_points
            s["points"].append(r.points)
            key = (str(r.status), r.code or str(r.status))
            s["outcomes"][key] += 1
            s["examples"].setdefault(key, clean(r.message, 200))
    return stats


def _passed(stats: dict) -> int:
    return sum(count for (status, _), count in stats["outcomes"].items() if status == Status.PASSED)


def _ordered_outcomes(outcomes: Counter) -> list:
    return sorted(outcomes.items(), key=lambda item: (item[0][0] != Status.PASSED, -item[1], item[0]))


def class_csv(graded: list[Graded]) -> str:
    handed_in = [g for g in latest(graded) if g.path]
    rows = []
    for (notebook, ex_id), s in sorted(_exercise_stats(handed_in).items(),
                                       key=lambda item: (item[0][0], exercise_key(item[0][1]))):
        n = len(s["points"])
        passed = _passed(s)
        for (status, code), count in _ordered_outcomes(s["outcomes"]):
            rows.append([notebook, ex_id, s["title"], s["max"], n, passed, f"{passed / n:.2f}",
                         points(statistics.median(s["points"])), status, code, count,
                         "" if status == Status.PASSED else s["examples"][(status, code)]])
    return _csv(rows, CSV_COLUMNS)


def class_markdown(graded: list[Graded], title: str = "Class report") -> str:
    current = latest(graded)
    handed_in = [g for g in current if g.path]
    missing = sorted({(g.student, g.notebook) for g in current if not g.path})
    students = {g.student for g in current}
    lines = [f"# {title}", "",
             f"{len(students)} students, {len(handed_in)} submissions graded"
             + (f", {len(missing)} not handed in" if missing else "") + ".", ""]
    stats = _exercise_stats(handed_in)
    for notebook in sorted({g.notebook for g in handed_in}):
        subs = [g for g in handed_in if g.notebook == notebook]
        lines += [f"## {notebook or '(unknown notebook)'} ({len(subs)} submissions)", "",
                  "| Exercise | Passed | Pass rate | Median points | Most common problems |",
                  "| --- | --- | --- | --- | --- |"]
        for (nb, ex_id), s in sorted(stats.items(), key=lambda item: exercise_key(item[0][1])):
            if nb != notebook:
                continue
            n = len(s["points"])
            passed = _passed(s)
            problems = [f"`{code}` ×{count}" for (status, code), count in _ordered_outcomes(s["outcomes"])
                        if status != Status.PASSED][:3]
            lines.append(f"| {ex_id} {s['title']} | {passed} / {n} | {100 * passed / n:.0f}% | "
                         f"{points(statistics.median(s['points']))} / {s['max']} | {', '.join(problems) or '-'} |")
        lines.append("")
        mistakes = [(ex_id, status, code, count, s["examples"][(status, code)])
                    for (nb, ex_id), s in stats.items() if nb == notebook
                    for (status, code), count in s["outcomes"].items() if status != Status.PASSED]
        if mistakes:
            lines += ["### Mistakes, most common first", "", "| Exercise | Status | Code | Count | Example message |",
                      "| --- | --- | --- | --- | --- |"]
            for ex_id, status, code, count, example in sorted(mistakes, key=lambda m: (-m[3], exercise_key(m[0]),
                                                                                       m[2])):
                lines.append(f"| {ex_id} | {status} | `{code}` | {count} | {example.replace('|', '/')} |")
            lines.append("")
        runs = Counter(str(g.run.status) for g in subs)
        lines += ["### Running the notebook", "", "Runs: " + ", ".join(f"{status} {n}" for status, n
                                                                          in sorted(runs.items())) + ".", ""]
        failing = Counter()
        for g in subs:
            for e in {(e.first_line, e.ename) for e in g.run.errors}:
                failing[e] += 1
        if failing:
            lines += ["Cells that raised most often:", ""]
            lines += [f"- «{clean(line, 60)}» raised `{ename}` in {n} submission{'s' if n > 1 else ''}"
                      for (line, ename), n in sorted(failing.items(), key=lambda i: (-i[1], i[0]))[:TOP]]
            lines.append("")
        times = defaultdict(list)
        for g in subs:
            for t in g.run.timings:
                times[t.first_line].append(t.seconds)
        if times:
            slow = sorted(((statistics.median(v), max(v), line) for line, v in times.items()
                           if line and max(v) >= MIN_SLOW_S), reverse=True)[:TOP]
            if slow:
                lines += ["Slowest cells (median and maximum seconds over the submissions; these vary from run to "
                          "run):", ""]
                lines += [f"- «{clean(line, 60)}»: {median:.1f} s (max {most:.1f} s)" for median, most, line in slow]
                lines.append("")
    if missing:
        lines += ["## Not handed in", ""] + [f"- {student}: {notebook}" for student, notebook in missing] + [""]
    return "\n".join(lines)
