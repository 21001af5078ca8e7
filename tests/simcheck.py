"""Helpers the simulator tests share: reading records and the in-process reference."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from hcf_ray.images import load_image


def read_records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]


def in_process(engine, sc, rec, transport="bitstream"):
    """The record's destination program run by the in-process engine on the same image."""
    plan = sc.plan(rec["flow"], rec["method"])
    dest = next(d for d in plan.destinations if d.node == rec["destination"])
    flow = next(f for f in sc.flows if f.spec.name == rec["flow"])
    x = load_image(next(p for p in flow.images if p.name == rec["image"]))
    return engine.execute(dest.program, x, transport)


def sha(x: torch.Tensor) -> str:
    return hashlib.sha256(x.contiguous().numpy().tobytes()).hexdigest()


def run_script(script: str, *args, timeout: float = 600) -> dict:
    """Run ``script`` in a fresh Python process (its own Ray cluster) and return the JSON it
    printed on a line starting with ``RESULT ``; the assertion shows the tail of its output."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_ADDRESS", None)
    proc = subprocess.run(
        [sys.executable, "-c", script, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, proc.stdout[-2000:] + proc.stderr[-3000:]
    return json.loads(line[len("RESULT ") :])
