"""The named suites: smoke (CI), quick (``run --all``), extended, paper.

Quick GMM settings (2-core CPU): a 3x128 SiLU MLP, batch 1024, Adam lr 2e-3 with cosine
decay, 200 source epochs; classifier 2x64 (600 steps), guidance network 3x128 (800
steps, batch 256).  The paper suite keeps the dataclass defaults (4x512 MLP, batch 4096, lr 1e-4,
500 epochs).  Both are recorded in every record's resolved hyper-parameters.
"""

from __future__ import annotations

from benchmark.registry import register_suite
from benchmark.spec import Cell, Suite

GMM_BASELINES = ("source-only", "scratch", "finetune", "lora", "target-oracle")

TGDP_METHODS = ("tgdp", "tgdp-cycle", "tgdp-consistency", "tgdp-reg", "tgdp-cond", "tgdp-oracle-ratio",
                "tgdp-oracle-guidance", "domain-guidance", "importance-weighted")
GMM_METHODS = GMM_BASELINES + TGDP_METHODS

# Quick GMM settings: a 3x128 SiLU MLP, batch 1024, Adam lr 2e-3 with cosine decay, 200
# source epochs of 10,000 samples (2,000 steps); sized so the gmm2d part of quick fits a
# 2-core CPU (benchmarks/gmm_train.py measures it).
QUICK_GMM = {"*": {"width": 128, "depth": 3, "batch": 1024, "lr": 2e-3, "source_epochs": 200,
                   "finetune_steps": 600, "finetune_lr": 2e-4, "steps": 1000,
                   "clf_width": 64, "clf_depth": 2, "clf_steps": 600, "clf_batch": 256,
                   "guid_width": 128, "guid_depth": 3, "guid_steps": 800, "guid_lr": 2e-3, "guid_batch": 256}}
SMOKE = {"*": {"width": 32, "depth": 2, "batch": 256, "lr": 2e-3, "source_epochs": 4,
               "finetune_steps": 20, "steps": 20, "sample_steps": 5,
               "clf_width": 32, "clf_depth": 2, "clf_steps": 20, "clf_batch": 128,
               "guid_width": 32, "guid_depth": 2, "guid_steps": 20, "guid_batch": 128}}
SMOKE_TASK = {"n_source": 1000, "n_pool": 1000, "n_test": 400, "n_eval": 200}

# PTB-XL -> ICBEB2018 (real data, needs --data-dir / TLDM_ECG_DIR to run, not to plan): the
# paper's n_target = 690, 3 seeds; a 1-D U-Net with 64 base channels and 4 levels (GPU sizes).
ECG_PAPER_METHODS = ("source-only", "scratch", "finetune", "lora", "tgdp", "tgdp-reg", "tgdp-cond", "domain-guidance")
PAPER_ECG = {"*": {"width": 64, "depth": 4, "batch": 128, "lr": 2e-4, "source_epochs": 200,
                   "finetune_steps": 4000, "steps": 4000,
                   "clf_width": 32, "clf_depth": 3, "clf_steps": 3000, "clf_batch": 128,
                   "guid_width": 64, "guid_depth": 4, "guid_steps": 6000, "guid_batch": 128}}

# ecg-synth (the offline synthetic ECG task): a 1-D U-Net with base 16 and 3 levels
# (channels 16/32/64, ~180k parameters), ~1000 source steps of batch 64, 10-step DPM-Solver-2;
# sized for 2 CPU cores (benchmarks/ecg_quick.py measures it).  One seed in quick;
# `run --tasks ecg-synth --seeds 0 1 2` adds two.  finetune and domain-guidance share the
# finetune stage, tgdp/tgdp-reg share the classifier, every method the source model.  The
# order lets two jobs train the unconditional and the label-conditional source models at once.
ECG_METHODS = ("source-only", "tgdp-cond", "scratch", "finetune", "domain-guidance", "lora", "tgdp", "tgdp-reg")
QUICK_ECG = {"*": {"width": 16, "depth": 3, "batch": 64, "lr": 2e-3, "source_epochs": 16,
                   "finetune_steps": 200, "finetune_lr": 5e-4, "steps": 400, "sample_steps": 10,
                   "clf_width": 16, "clf_depth": 3, "clf_steps": 200, "clf_batch": 64,
                   "guid_width": 16, "guid_depth": 3, "guid_steps": 300, "guid_batch": 64},
             "lora": {"finetune_lr": 2e-3}}
SMOKE_ECG = {"*": {"width": 8, "depth": 2, "batch": 64, "lr": 2e-3, "source_epochs": 2,
                   "finetune_steps": 5, "steps": 5, "sample_steps": 4,
                   "clf_width": 8, "clf_depth": 2, "clf_steps": 5, "clf_batch": 64,
                   "guid_width": 8, "guid_depth": 2, "guid_steps": 5, "guid_batch": 64}}
SMOKE_ECG_TASK = {"n_source": 200, "n_pool": 200, "n_test": 200, "n_val": 50, "n_eval": 64, "length": 64,
                  "clf_width": 8, "clf_steps": 10, "feature_steps": 20, "n_boot": 100}
PAPER_ECG_SYNTH_TASK = {"n_source": 20_000, "n_pool": 5000, "n_test": 2000, "n_val": 1000, "n_eval": 2000,
                        "length": 1000, "clf_width": 32, "clf_steps": 2000, "feature_steps": 4000}


def with_overrides(hparams: dict, method_overrides: dict) -> dict:
    """``hparams`` with extra per-method overrides merged in (for variant cells)."""
    out = {k: dict(v) for k, v in hparams.items()}
    for method, values in method_overrides.items():
        out[method] = {**out.get(method, {}), **values}
    return out


def log_ratio_variant() -> Cell:
    """TGDP rows with the published variant ratio_target=log (h regresses log r̂); they are
    separate runs (their hparams differ) and separate table rows."""
    methods = ("tgdp", "tgdp-cond", "tgdp-oracle-ratio")
    return Cell("gmm2d", methods, (10, 100, 1000), (0, 1, 2), tag="ratio_target=log",
                hparams=with_overrides(QUICK_GMM, {m: {"ratio_target": "log"} for m in methods}))


def regularisation_ablation(task_params: dict | None = None) -> list[Cell]:
    """eta in {0, 0.1, 1} for each regulariser alone (tgdp-cycle, tgdp-consistency)."""
    cells = []
    for method, key in (("tgdp-cycle", "eta_cycle"), ("tgdp-consistency", "eta_consistency")):
        for eta in (0.0, 0.1, 1.0):
            cells.append(Cell("gmm2d", (method,), (10, 100, 1000), (0, 1, 2), task_params=task_params or {},
                              tag=f"{key}={eta}", hparams=with_overrides(QUICK_GMM, {method: {key: eta}})))
    return cells


@register_suite("smoke", "every method on tiny gmm2d and ecg-synth settings, 1 seed (tests and CI)")
def smoke() -> Suite:
    return Suite("smoke", "every method, tiny sizes", (
        Cell("gmm2d", ("*",), (10,), (0,), task_params=SMOKE_TASK, hparams=SMOKE),
        Cell("ecg-synth", ("*",), (20,), (0,), task_params=SMOKE_ECG_TASK, hparams=SMOKE_ECG),
    ))


@register_suite("quick", "the default of run --all: gmm2d (3 seeds) and ecg-synth (1 seed); ~25 min on 2 cores, see README")
def quick() -> Suite:
    return Suite("quick", "gmm2d x methods x n_target x 3 seeds; ecg-synth x 8 methods x n_target 50/200 x 1 seed", (
        Cell("gmm2d", GMM_METHODS, (10, 100, 1000), (0, 1, 2), hparams=QUICK_GMM),
        log_ratio_variant(),
        Cell("ecg-synth", ECG_METHODS, (50, 200), (0,), hparams=QUICK_ECG),
    ))


@register_suite("extended", "gmm-highdim (d 2/8/32), gmm-noisy-source (eps 0/0.1/0.3), regularisation ablation")
def extended() -> Suite:
    cells = [Cell("gmm-highdim", GMM_METHODS, (10, 100, 1000), (0, 1, 2), task_params={"dim": d},
                  hparams=QUICK_GMM) for d in (2, 8, 32)]
    cells += [Cell("gmm-noisy-source", GMM_METHODS, (10, 100, 1000), (0, 1, 2), task_params={"noise_frac": e},
                   hparams=QUICK_GMM) for e in (0.0, 0.1, 0.3)]
    cells += regularisation_ablation()
    return Suite("extended", "high dimension, noisy source, regularisation ablation", tuple(cells))


@register_suite("paper", "the paper's scale (4x512 MLP, 500 epochs, batch 4096); for a GPU")
def paper() -> Suite:
    return Suite("paper", "paper scale", (
        Cell("gmm2d", GMM_METHODS, (10, 100, 1000), (0, 1, 2)),
        Cell("ptbxl-icbeb", ECG_PAPER_METHODS, (690,), (0, 1, 2), hparams=PAPER_ECG),
        Cell("ecg-synth", ECG_METHODS + ("target-oracle",), (50, 200, 690), (0, 1, 2),
             task_params=PAPER_ECG_SYNTH_TASK, hparams=PAPER_ECG),
    ))
