"""bench/RESULTS.md: the targets table, and replacing some sections of an existing file
(``python -m bench.run --only N``) while keeping the others' figures."""

from __future__ import annotations

import re

from bench.common import Section

TARGETS_HEAD = ["## Targets", "", "| benchmark | target | result |", "|---|---|---|"]


def number(title: str) -> int:
    """``"8. Scale: ..."`` -> 8."""
    return int(title.split(".", 1)[0])


def target_rows(sections: list[Section]) -> list[str]:
    """One ``| benchmark | target | met/missed |`` row per judged target."""
    return [
        f"| {s.title.split(' (')[0]} | {t.text} | {'met' if t.met else 'missed'} |"
        for s in sections
        for t in s.targets
        if t.met is not None
    ]


def targets_table(rows: list[str]) -> str:
    return "\n".join([*TARGETS_HEAD, *rows]) + "\n"


def merge(old: str, sections: list[Section], rerun: str) -> str:
    """``old`` RESULTS.md with ``sections`` in place of the ones of the same number (or
    added in number order), their target rows replaced, and ``rerun`` noted in the header."""
    parts = re.split(r"(?m)^(?=## )", old)
    head, body = parts[0], parts[1:]
    numbered: dict[int, str] = {}
    old_rows: list[str] = []
    for part in body:
        title = part[3:].split("\n", 1)[0]
        if title == "Targets":
            old_rows = [line for line in part.splitlines() if line.startswith("| ")][1:]
        elif re.match(r"\d+\. ", title):
            numbered[number(title)] = part
    fresh = {number(s.title) for s in sections}
    for s in sections:
        numbered[number(s.title)] = s.markdown() + "\n"
    rows = [r for r in old_rows if _row_number(r) not in fresh] + target_rows(sections)
    rows.sort(key=_row_number)
    head_lines = head.rstrip("\n").splitlines()
    same = rerun.split(" on ", 1)[0]  # an earlier re-run of the same command is replaced
    head_lines = [line for line in head_lines if not line.startswith(same)]
    head = "\n".join([*head_lines, rerun, ""]) + "\n"
    return head + "".join(numbered[n] for n in sorted(numbered)) + targets_table(rows)


def _row_number(row: str) -> int:
    match = re.match(r"\| (\d+)\. ", row)
    return int(match[1]) if match else 0
