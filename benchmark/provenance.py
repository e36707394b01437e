"""Provenance of a record: code version, packages, platform, device, threads."""

from __future__ import annotations

import platform
import resource
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


@lru_cache(maxsize=1)
def code_version() -> dict[str, Any]:
    """The git commit and whether the tree had uncommitted changes (None outside git)."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


@lru_cache(maxsize=1)
def cpu_description() -> dict[str, str]:
    """The CPU model and the SIMD level torch's CPU kernels dispatch to (``AVX2``, ``AVX512``, ...).

    Float results of the same seeded run are bit-identical on one machine but can differ
    between CPUs whose kernels differ (conv1d and matmul blockings follow the SIMD level), so
    a record says where it was made.
    """
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model or platform.processor() or "unknown",
            "cpu_capability": str(torch.backends.cpu.get_cpu_capability())}


def environment(device: torch.device, threads: int, deterministic: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        **code_version(),
        **cpu_description(),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.machine(),
        "device": str(device),
        "torch_threads": int(threads),
        "deterministic": bool(deterministic),
    }
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
    return info


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process (MB) and peak CUDA memory when on a GPU."""
    out = {"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        out["peak_cuda_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return out
