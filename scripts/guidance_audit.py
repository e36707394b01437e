"""Closed-form audit of TGDP's guidance estimators on gmm2d (issue 10, item 1).

    OMP_NUM_THREADS=1 python scripts/guidance_audit.py [--trials 1] [--steps 800] [--n-target 100]

With the exact density ratio r = q/p and the exact source score (no learned classifier,
no learned denoiser), it prints
- the weights' statistics over the m = 10,000 source samples: E_p[r^2] (as the sample mean
  of r^2, and as E_q[r] over the 10,000 target-pool samples, the lower-variance estimate), ESS = (sum r)^2 / sum r^2, the share of sum r carried by the top 100 samples and
  the median ESS of uniform mini-batches of 256;
- for each guidance estimator (``l2``, ``log``, ``logistic-resampled``, and the
  time-dependent classifier of tgdp-tclf trained on the n target samples) at the quick
  budget (3x128 MLP, lr 2e-3, batch 256, ``--steps`` steps): the cosine and norm ratio of
  grad log ĥ against grad log h* at t in {0.05, 0.1, 0.2, 0.5} (x_t ~ q_t), and the MMD^2
  to held-out target samples of 2,000 guided samples (25-step DPM-Solver-2, exact source
  score), beside the unguided (source) and exact-guidance samples.
One torch thread; about a minute per estimator on one core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmark.diffusion.guidance import grad_log_of  # noqa: E402
from benchmark.diffusion.samplers import sample  # noqa: E402
from benchmark.metrics.kernels import MIX, median_bandwidth, mmd2_unbiased  # noqa: E402
from benchmark.registry import load_plugin_file  # noqa: E402
from benchmark.seeding import torch_generator  # noqa: E402
from benchmark.tgdp.classifier import ClassifierConfig, build_classifier, train_classifier  # noqa: E402
from benchmark.tgdp.diagnostics import gradient_diagnostics, ratio_weight_diagnostics  # noqa: E402
from benchmark.tgdp.guidance_net import GuidanceConfig, build_guidance, train_guidance  # noqa: E402

GMM = load_plugin_file(ROOT / "datasets" / "gmm.py")


def mmd(x: torch.Tensor, ref: torch.Tensor) -> float:
    med = median_bandwidth(ref)
    return mmd2_unbiased(x[: len(ref)], ref, [med * f for f in MIX])


def weight_stats(log_r: torch.Tensor, gen: torch.Generator) -> dict[str, float]:
    r = log_r.double().exp()
    top = torch.sort(r, descending=True).values[:100].sum() / r.sum()
    batch_ess = []
    for _ in range(200):
        w = r[torch.randint(len(r), (256,), generator=gen)]
        batch_ess.append(float(w.sum() ** 2 / w.pow(2).sum()))
    return {"E_p[r^2]": float(r.pow(2).mean()), **ratio_weight_diagnostics(log_r), "top100_share": float(top),
            "median_batch_ess_256": statistics.median(batch_ess)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--steps", type=int, default=800)
    ap.add_argument("--n-target", type=int, default=100)
    ap.add_argument("--estimators", nargs="*", default=["l2", "log", "logistic-resampled", "tclf"])
    args = ap.parse_args()
    torch.set_num_threads(1)
    for trial in range(args.trials):
        data = GMM.GMM2D(GMM.GMMParams(n_target=args.n_target), 0, trial).build()
        cf = data.closed_form
        log_r = cf.log_ratio(data.source_x.double()).float()
        e_q_r = float(cf.log_ratio(data.oracle_x.double()).exp().mean())
        print(f"trial {trial}: E_p[r^2] = E_q[r] over {len(data.oracle_x)} target samples: {e_q_r:.1f}")
        print(f"trial {trial}: weights of exact r over m={len(log_r)} source samples:",
              {k: round(v, 3) for k, v in weight_stats(log_r, torch_generator(1)).items()}, flush=True)
        eps = lambda x, t, y: cf.source.eps(x.double(), t.double()).float()  # noqa: E731
        ref = data.test_x[:2000]
        x0 = data.test_x[2000:4000]
        unguided = sample(eps, (2,), 2000, torch_generator(3))
        exact = sample(eps, (2,), 2000, torch_generator(3),
                       grad_log_h=lambda x, t, y: cf.grad_log_h_star(x.double(), t.double()).float())
        print(f"  MMD^2 unguided {mmd(unguided, ref):.4f}  exact guidance {mmd(exact, ref):.4f}", flush=True)
        for est in args.estimators:
            t0 = time.perf_counter()
            torch.manual_seed(0)
            if est == "tclf":
                cfg_c = ClassifierConfig(width=128, depth=3, steps=args.steps, lr=2e-3, batch=256)
                clf = build_classifier("vector", (2,), cfg_c, True, None, len(data.source_x), len(data.target_x))
                train_classifier(clf, cfg_c, data.source_x, data.target_x, torch_generator(0), torch.device("cpu"))
                log_h = lambda x, t, y, c=clf: c.log_ratio(x, t)  # noqa: E731
            else:
                cfg = GuidanceConfig(width=128, depth=3, steps=args.steps, lr=2e-3, batch=256, guidance_loss=est)
                h = build_guidance("vector", (2,), cfg, None)
                train_guidance(h, cfg, data.source_x, log_r, torch_generator(0), torch.device("cpu"))
                log_h = lambda x, t, y, h=h: h.log_h(x, t)  # noqa: E731
            grad = grad_log_of(log_h)
            diag = gradient_diagnostics(grad, lambda x, t, y: cf.grad_log_h_star(x, t), x0, None, 5, "cpu")
            guided = sample(eps, (2,), 2000, torch_generator(3), grad_log_h=grad)
            cos = " ".join(f"{diag[f'grad_cos_t{t:g}']:.3f}" for t in (0.05, 0.1, 0.2, 0.5))
            nrm = " ".join(f"{diag[f'grad_norm_ratio_t{t:g}']:.3f}" for t in (0.05, 0.1, 0.2, 0.5))
            print(f"  {est:20s} cos(t=.05/.1/.2/.5) {cos}  norm ratio {nrm}  MMD^2 {mmd(guided, ref):.4f}"
                  f"  ({time.perf_counter() - t0:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
