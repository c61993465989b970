"""Peers that cannot share the project's venv: Qrlew gets its own, made on first use.

Every failure (venv, install, run) is recorded word for word in the results' notes with
the command that failed, and the Qrlew columns stay empty; no number is ever invented.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.data import Size
from sample_data import generate as sample

HERE = Path(__file__).parent
VENV = HERE / "peers" / "qrlew"
REQUIREMENTS = HERE / "qrlew-requirements.txt"


def _run(command: list[str], notes: list[str]) -> bool:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        notes.append(f"Qrlew: `{' '.join(command)}` exited {done.returncode}: {' | '.join(tail)}")
        return False
    return True


def qrlew_python(notes: list[str]) -> Path | None:
    """The interpreter of the Qrlew venv, made and installed if needed; None on failure."""
    python = VENV / "bin" / "python"
    stamp = VENV / ".installed"
    wanted = REQUIREMENTS.read_text()
    if stamp.exists() and stamp.read_text() == wanted:
        return python
    print("[bench] installing Qrlew into bench/peers/qrlew", flush=True)
    if not _run([sys.executable, "-m", "venv", str(VENV)], notes):
        return None
    if not _run([str(python), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)], notes):
        return None
    stamp.write_text(wanted)
    return python


def run_qrlew(
    python: Path, size: Size, repeat: int, runs: int, work: Path, notes: list[str]
) -> dict[str, Any]:
    out = work / f"qrlew-{size.name}.json"
    public = {"purchases.product": [p[0] for p in sample.PRODUCTS]}
    public.update(
        {
            "members.marital_status": sample.MARITAL,
            "members.education": sample.EDUCATION,
            "members.gender": sample.GENDER,
        }
    )
    command = [
        str(python),
        str(HERE / "qrlew_peer.py"),
        "--data",
        str(size.directory),
        "--public",
        json.dumps(public),
        "--repeat",
        str(repeat),
        "--runs",
        str(runs),
        "--out",
        str(out),
    ]
    print(f"[bench] qrlew {size.name}", flush=True)
    if not _run(command, notes):
        return {"queries": {}}
    result: dict[str, Any] = json.loads(out.read_text())
    for name, entry in result["queries"].items():
        if "error" in entry:
            notes.append(f"Qrlew cannot run '{name}': {entry['error']}")
    return result
