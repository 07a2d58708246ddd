"""SQLite-dialect SQL -> PostgreSQL, mechanically (pure functions, cached per statement).

The tables write SQLite SQL, portable where it can be written so; this translates the
few spellings PostgreSQL does not share:

- parameters: ``?`` (in order) and ``:name`` become ``$1, $2...`` (a name used twice is
  one parameter);
- the two-argument ``max(a, b)`` / ``min(a, b)`` become ``greatest`` / ``least``
  (the one-argument aggregates stay);
- ``INSERT OR IGNORE INTO ...`` becomes ``INSERT INTO ... ON CONFLICT DO NOTHING``.

String literals (``'...'``) and quoted names (``"..."``) are never touched. And the DDL of
a migration: ``INTEGER`` -> ``BIGINT`` (Discord ids are 64-bit), ``REAL`` -> ``DOUBLE
PRECISION``, ``INTEGER PRIMARY KEY AUTOINCREMENT`` -> an identity column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Final

_NAME_START: Final = re.compile(r"[A-Za-z_]")
_NAME: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TWO_ARGUMENT: Final = {"max": "greatest", "min": "least"}
_FUNCTION: Final = re.compile(r"\b(max|min)\s*\(", re.IGNORECASE)
_OR_IGNORE: Final = re.compile(r"^\s*INSERT\s+OR\s+IGNORE\s+INTO\b", re.IGNORECASE)
_RETURNING: Final = re.compile(r"\bRETURNING\b", re.IGNORECASE)


def translate(sql: str, params: Sequence[Any] | Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The PostgreSQL statement and its positional arguments."""
    text, names, count = _translated(sql)
    if isinstance(params, Mapping):
        missing = [name for name in names if name not in params]
        if missing:
            raise KeyError(f"no value for the SQL parameter :{missing[0]}")
        return text, [params[name] for name in names]
    values = list(params)
    if len(values) != count:
        raise ValueError(f"the statement takes {count} parameters, {len(values)} given")
    return text, values


@lru_cache(maxsize=1024)
def _translated(sql: str) -> tuple[str, tuple[str, ...], int]:
    """(statement, parameter names in ``$n`` order, number of ``?``)."""
    text, names, count = _parameters(sql)
    text = _two_argument_functions(text)
    if _OR_IGNORE.match(text):
        text = _OR_IGNORE.sub("INSERT INTO", text, count=1)
        returning = _outside_literals(text, _RETURNING)
        clause = " ON CONFLICT DO NOTHING"
        if returning:
            text = text[:returning].rstrip() + clause + " " + text[returning:]
        else:
            text = text.rstrip() + clause
    return text, names, count


def _literal_end(sql: str, start: int) -> int:
    """The index just past the quoted literal or name starting at ``start``."""
    quote = sql[start]
    i = start + 1
    while i < len(sql):
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:  # '' inside a literal
                i += 2
                continue
            return i + 1
        i += 1
    return i


def _parameters(sql: str) -> tuple[str, tuple[str, ...], int]:
    out: list[str] = []
    names: list[str] = []
    positional = 0
    i = 0
    while i < len(sql):
        char = sql[i]
        if char in "'\"":
            end = _literal_end(sql, i)
            out.append(sql[i:end])
            i = end
        elif char == "?":
            positional += 1
            out.append(f"${positional}")
            i += 1
        elif char == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
        elif char == ":" and i + 1 < len(sql) and _NAME_START.match(sql[i + 1]):
            match = _NAME.match(sql, i + 1)
            assert match is not None
            name = match[0]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            i = match.end()
        else:
            out.append(char)
            i += 1
    if positional and names:
        raise ValueError("a statement uses either ? or :name parameters, not both")
    return "".join(out), tuple(names), positional


def _literal_mask(sql: str) -> list[bool]:
    mask = [False] * len(sql)
    i = 0
    while i < len(sql):
        if sql[i] in "'\"":
            end = _literal_end(sql, i)
            mask[i:end] = [True] * (end - i)
            i = end
        else:
            i += 1
    return mask


def _outside_literals(sql: str, pattern: re.Pattern[str]) -> int:
    mask = _literal_mask(sql)
    for match in pattern.finditer(sql):
        if not mask[match.start()]:
            return match.start()
    return 0


def _two_argument_functions(sql: str) -> str:
    mask = _literal_mask(sql)
    result = sql
    for match in reversed(list(_FUNCTION.finditer(sql))):
        if mask[match.start()] or not _has_top_level_comma(sql, match.end(), mask):
            continue
        name = _TWO_ARGUMENT[match[1].lower()]
        result = result[: match.start()] + name + "(" + result[match.end() :]
    return result


def _has_top_level_comma(sql: str, start: int, mask: list[bool]) -> bool:
    depth = 0
    for i in range(start, len(sql)):
        if mask[i]:
            continue
        if sql[i] == "(":
            depth += 1
        elif sql[i] == ")":
            if depth == 0:
                return False
            depth -= 1
        elif sql[i] == "," and depth == 0:
            return True
    return False


_DDL_RULES: Final = (
    (
        re.compile(r"\bINTEGER\s+PRIMARY\s+KEY\s+AUTOINCREMENT\b", re.IGNORECASE),
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
    ),
    (re.compile(r"\bINTEGER\b", re.IGNORECASE), "BIGINT"),
    (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"),
)


def ddl_to_postgres(script: str) -> str:
    """A migration's DDL with PostgreSQL's column types."""
    for pattern, replacement in _DDL_RULES:
        script = pattern.sub(replacement, script)
    return script
