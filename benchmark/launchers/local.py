"""Serial, in-process launcher."""

from __future__ import annotations

from typing import Sequence

from tqdm.auto import tqdm

from benchmark.runner import ExecOptions, execute
from benchmark.spec import RunSpec


def run_local(specs: Sequence[RunSpec], opts: ExecOptions) -> list[str]:
    out = []
    bar = tqdm(specs, desc="runs", unit="run", disable=not opts.progress)
    for spec in bar:
        bar.set_postfix_str(f"{spec.task} {spec.method} n={spec.n_target} t={spec.trial}")
        out.append(execute(spec, opts))
    return out
