"""``python -m bench.run --only N`` rewrites only benchmark N's part of bench/RESULTS.md."""

from __future__ import annotations

from bench.common import Section, Target
from bench.results import merge, target_rows, targets_table


def section(n: int, figure: str, met: bool) -> Section:
    return Section(
        title=f"{n}. Bench {n} (detail)",
        setup="setup",
        headers=["a", "b"],
        rows=[["x", figure]],
        targets=[Target(f"target {n}", met, figure), Target("nothing to judge", None)],
    )


def results_md(*sections: Section) -> str:
    head = "# Benchmarks\n\n- command: `python -m bench.run`\n\n"
    body = "\n".join(s.markdown() for s in sections)
    return head + body + "\n" + targets_table(target_rows(list(sections)))


def test_only_the_rerun_section_and_its_targets_change() -> None:
    old = results_md(section(1, "11", True), section(2, "22", True), section(3, "33", True))
    new = merge(
        old, [section(2, "99", False)], "- re-run alone: `python -m bench.run --only 2` on X"
    )
    assert "| x | 11 |" in new and "| x | 33 |" in new
    assert "| x | 22 |" not in new and "| x | 99 |" in new
    assert new.index("## 1.") < new.index("## 2.") < new.index("## 3.") < new.index("## Targets")
    targets = new[new.index("## Targets") :]
    assert targets.count("| 2. Bench 2 | target 2 | missed |") == 1
    assert "| 2. Bench 2 | target 2 | met |" not in targets
    assert "| 1. Bench 1 | target 1 | met |" in targets and "| 3. Bench 3 |" in targets
    assert "- command: `python -m bench.run`" in new and "--only 2` on X" in new


def test_a_new_section_is_added_in_order_and_a_repeated_rerun_noted_once() -> None:
    old = results_md(section(1, "11", True), section(3, "33", True))
    once = merge(
        old, [section(2, "22", True)], "- re-run alone: `python -m bench.run --only 2` on X"
    )
    twice = merge(
        once, [section(2, "23", True)], "- re-run alone: `python -m bench.run --only 2` on Y"
    )
    assert twice.index("## 1.") < twice.index("## 2.") < twice.index("## 3.")
    assert "--only 2` on X" not in twice and twice.count("--only 2` on Y") == 1
    assert "| x | 23 |" in twice and "| x | 22 |" not in twice
    assert twice.count("| 2. Bench 2 | target 2 | met |") == 1
