"""The named suites: smoke (CI), quick (``run --all``), extended, paper.

Quick settings (2-core CPU): a 3x128 SiLU MLP, batch 512, Adam lr 1e-3, 60 source
epochs; the paper suite keeps the dataclass defaults (4x512, batch 4096, lr 1e-4,
500 epochs).  Both are recorded in every record's resolved hyper-parameters.
"""

from __future__ import annotations

from benchmark.registry import register_suite
from benchmark.spec import Cell, Suite

GMM_BASELINES = ("source-only", "scratch", "finetune", "lora", "target-oracle")

QUICK_GMM = {"*": {"width": 128, "depth": 3, "batch": 512, "lr": 1e-3, "source_epochs": 60,
                   "finetune_steps": 600, "steps": 1500}}
SMOKE = {"*": {"width": 32, "depth": 2, "batch": 256, "lr": 2e-3, "source_epochs": 4,
               "finetune_steps": 20, "steps": 20, "sample_steps": 5}}
SMOKE_TASK = {"n_source": 1000, "n_pool": 1000, "n_test": 400, "n_eval": 200}


@register_suite("smoke", "every method on tiny gmm2d settings, 1 seed (tests and CI)")
def smoke() -> Suite:
    return Suite("smoke", "every method, tiny sizes", (
        Cell("gmm2d", ("*",), (10,), (0,), task_params=SMOKE_TASK, hparams=SMOKE),
    ))


@register_suite("quick", "the default of run --all: gmm2d, n_target 10/100/1000, 3 seeds (~15 min on 2 cores)")
def quick() -> Suite:
    return Suite("quick", "gmm2d x baselines x n_target x 3 seeds", (
        Cell("gmm2d", GMM_BASELINES, (10, 100, 1000), (0, 1, 2), hparams=QUICK_GMM),
    ))


@register_suite("extended", "gmm-highdim (d 2/8/32) and gmm-noisy-source (eps 0/0.1/0.3)")
def extended() -> Suite:
    cells = [Cell("gmm-highdim", GMM_BASELINES, (10, 100, 1000), (0, 1, 2), task_params={"dim": d},
                  hparams=QUICK_GMM) for d in (2, 8, 32)]
    cells += [Cell("gmm-noisy-source", GMM_BASELINES, (10, 100, 1000), (0, 1, 2), task_params={"noise_frac": e},
                   hparams=QUICK_GMM) for e in (0.0, 0.1, 0.3)]
    return Suite("extended", "high dimension and noisy source", tuple(cells))


@register_suite("paper", "the paper's scale (4x512 MLP, 500 epochs, batch 4096); for a GPU")
def paper() -> Suite:
    return Suite("paper", "paper scale", (
        Cell("gmm2d", GMM_BASELINES, (10, 100, 1000), (0, 1, 2)),
    ))
