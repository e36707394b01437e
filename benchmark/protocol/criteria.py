"""Selection criteria: what the ``target-val`` and ``oracle`` rules rank a method's K draws by.

Computed by the runner after sampling, on folds the method never saw, and recorded beside
the metrics (lower is better for all four):

- ``select_tv_mmd``, ``select_tv_dsm``: on the h held-out targets of a holdout run (the
  ``target-val`` fold, :meth:`benchmark.api.TaskData.held_out_targets`);
- ``select_oracle_mmd``, ``select_oracle_dsm``: on the task's large validation fold
  (:meth:`benchmark.api.TaskData.validation_fold`; not the test fold), for the ``oracle`` rule.

    mmd: unbiased RBF MMD^2 between the first 1,000 generated samples x and the fold y (at most 1,000),
         bandwidths b * (0.25, 0.5, 1, 2, 4) with b the median pairwise distance of the
         reference (all n targets for target-val -- data the method may use --, the fold
         itself for oracle), so every draw of a cell is scored with one kernel;
    dsm: mean over the fold's points y_i and R fixed draws (t_ir, eps_ir) of
         || eps_hat(alpha_t y_i + sigma_t eps_ir, t_ir, label_i) - eps_ir ||^2 / dim,
         with eps_hat the method's final noise predictor (guided where it guides,
         :meth:`benchmark.api.Method.noise_prediction`), t ~ U[t_min, 1],
         R = clip(ceil(2048 / m), 1, 256).

The (t, eps) draws come from a seed of (suite seed, "select", task, task parameters, trial,
fold): every method and every draw of a cell is scored on the same noise, and no criterion
reads the test fold (the functions here are given the fold and nothing else of the task).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import torch

from benchmark.diffusion.schedule import VPSchedule
from benchmark.metrics.kernels import MIX, median_bandwidth, mmd2_unbiased
from benchmark.seeding import torch_generator

#: the DSM criterion's budget of (point, t, eps) evaluations per fold
DSM_EVALS = 2048
#: at most this many samples and fold points enter the MMD criterion (a ranking of K draws, not a
#: test statistic: 1,000 a side keep it at a quarter of the test metric's cost)
MMD_MAX_POINTS = 1000

NoisePredictor = Callable[[torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]


def mmd_criterion(samples: torch.Tensor, fold: torch.Tensor, reference: torch.Tensor) -> float:
    """MMD^2 of ``samples`` against ``fold`` with the bandwidths of ``reference`` (module docstring)."""
    fold = fold[:MMD_MAX_POINTS]
    if len(fold) < 2:
        raise ValueError("an MMD criterion needs at least 2 fold points")
    med = median_bandwidth(reference)
    return mmd2_unbiased(samples[:MMD_MAX_POINTS], fold, [med * f for f in MIX])


@torch.no_grad()
def dsm_criterion(predict: NoisePredictor, fold: torch.Tensor, labels: Optional[torch.Tensor], seed: int,
                  device: torch.device, chunk: int = 1024) -> float:
    """Held-out denoising loss of ``predict`` on ``fold`` (m, ...) (module docstring)."""
    sched = VPSchedule()
    m = len(fold)
    repeats = min(256, max(1, math.ceil(DSM_EVALS / m)))
    gen = torch_generator(seed)
    x0 = fold.repeat((repeats,) + (1,) * (fold.dim() - 1))
    y = None if labels is None else labels.repeat(repeats)
    t = sched.sample_t(len(x0), gen)
    eps = torch.randn(x0.shape, generator=gen)
    total = torch.zeros((), dtype=torch.float64)
    for i in range(0, len(x0), chunk):
        sl = slice(i, i + chunk)
        xt = sched.noise(x0[sl], t[sl], eps[sl]).to(device)
        pred = predict(xt, t[sl].to(device), None if y is None else y[sl].to(device))
        total += (pred.double().cpu() - eps[sl].double()).pow(2).flatten(1).mean(1).sum()
    return float(total / len(x0))


def selection_criteria(predict: Optional[NoisePredictor], samples: torch.Tensor,
                       folds: dict[str, tuple[torch.Tensor, Optional[torch.Tensor], torch.Tensor]],
                       seed_of: Callable[[str], int], device: torch.device) -> dict[str, float]:
    """``select_<fold>_mmd`` and (where ``predict`` is given) ``select_<fold>_dsm`` for each fold
    ``name -> (x (m, ...), labels (m,) or None, bandwidth reference)``; ``seed_of(name)`` seeds
    the fold's (t, eps) draws."""
    out: dict[str, float] = {}
    for name, (x, labels, reference) in folds.items():
        out[f"select_{name}_mmd"] = mmd_criterion(samples, x, reference)
        if predict is not None:
            out[f"select_{name}_dsm"] = dsm_criterion(predict, x, labels, seed_of(name), device)
    return out
