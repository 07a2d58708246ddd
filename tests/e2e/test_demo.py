"""`make demo` keeps working as the bridge grows."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


async def test_demo_tells_the_whole_story() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.demo",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout=120)
    text = out.decode()
    assert proc.returncode == 0, text
    staff_side = text.split("--- What staff see in Discord ---")[1].split("---")[0]
    customer_side = text.split("--- What the customer sees on SellApp ---")[1]
    assert "Sorry Sam! Your key is ABCD-1234" in customer_side
    assert "Got it, thank you!" in staff_side
    assert "✅" in staff_side
    assert "exit 0" in text
