"""The named suites: smoke (CI), quick (``run --all``), extended, paper.

Each suite states its hyper-parameters as one :class:`Budget` per task family, written out
in full (the paper scale included, not implied by dataclass defaults).  A budget has one
block per stage kind, and per-method exceptions are listed by name in ``methods``, so a
value that one method must not share (LoRA's learning rate, say) is visible here.  A block
reaches the methods whose Params declare it (``BLOCKS``, :mod:`benchmark.stage_configs`),
never a method that merely has a field of the same name.

``python -m benchmark list suites --resolved NAME`` prints what every run of a suite
resolves to, and ``tests/golden/resolved_<suite>.json`` pins it: any change to what a
suite runs shows up in review (regenerate with ``UPDATE_GOLDEN=1 pytest tests/test_suites.py``).
Every run of the built-in suites uses one torch thread (``Suite.threads``, part of each
run id); ``run`` executes runs in parallel processes instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from benchmark.protocol.trials import evaluation_trials
from benchmark.registry import register_suite
from benchmark.spec import Cell, Suite
from benchmark.stage_configs import BLOCK_NAMES


@dataclass(frozen=True)
class Budget:
    """Hyper-parameters of one suite on one task family, one block per stage kind.

    Attributes:
        denoiser: the ε-network of every denoiser-based method and the source model
            (width, depth, batch, lr, source_epochs, sampler, sample_steps, ema).
        finetune: training on the n target samples from the source model (finetune,
            domain-guidance, importance-weighted, LoRA unless excepted); its ``target_batch``
            (also in ``scratch``, the same value) is the batch of every adaptation stage on
            the targets, and equals the budget's clf_batch, tclf_batch and guid_batch.
        scratch: training on the n target samples from a random init.
        classifier: the domain classifier c(x) of TGDP and importance weighting.
        guidance: the guidance network h_ψ(x_t, t) of TGDP.
        methods: per-method exceptions, ``{method: {key: value}}``, applied last.
    """

    denoiser: Mapping[str, Any]
    finetune: Mapping[str, Any] = field(default_factory=dict)
    scratch: Mapping[str, Any] = field(default_factory=dict)
    classifier: Mapping[str, Any] = field(default_factory=dict)
    time_classifier: Mapping[str, Any] = field(default_factory=dict)
    guidance: Mapping[str, Any] = field(default_factory=dict)
    guided_sampling: Mapping[str, Any] = field(default_factory=dict)
    methods: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def hparams(self, **method_overrides: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The ``Cell.hparams`` of this budget: one ``"@block"`` entry per non-empty block (it
        reaches the methods declaring the block), then the exceptions (and ``method_overrides``,
        keyed by method name with ``-`` written as ``_``)."""
        out: dict[str, dict[str, Any]] = {}
        seen: dict[str, Any] = {}
        for name in BLOCK_NAMES:
            block = dict(getattr(self, name))
            # a method declaring both blocks would take the later value without a word; a key shared by
            # blocks with one value (target_batch in finetune and scratch) is no such ambiguity
            clash = sorted(k for k in set(seen) & set(block) if seen[k] != block[k])
            if clash:
                raise ValueError(f"budget key {clash[0]!r} is in two blocks with different values")
            seen.update(block)
            if block:
                out["@" + name] = block
        for method, values in self.methods.items():
            out[method] = dict(values)
        for key, values in method_overrides.items():
            method = key.replace("_", "-")
            out[method] = {**out.get(method, {}), **values}
        return out


# -- gmm2d and the other Gaussian-mixture tasks -----------------------------------------------

#: The paper's scale (arXiv 2405.16876, appendix; the dataclass defaults are the same values).
PAPER_GMM = Budget(
    denoiser={"width": 512, "depth": 4, "batch": 4096, "lr": 1e-4, "source_epochs": 500, "ema": 0.0,
              "sampler": "dpm2", "sample_steps": 25},
    finetune={"finetune_steps": 1000, "finetune_lr": 1e-4, "target_batch": 512},
    scratch={"steps": 2000, "scratch_lr": 1e-3, "target_batch": 512},
    classifier={"clf_width": 256, "clf_depth": 3, "clf_steps": 2000, "clf_lr": 1e-3, "clf_batch": 512},
    guidance={"guid_width": 256, "guid_depth": 3, "guid_steps": 2000, "guid_lr": 1e-3, "guid_batch": 512},
    methods={"lora": {"finetune_lr": 1e-3}},  # adapters train at 10x the full-finetune rate (LoRA's default)
)

#: Quick (2-core CPU): a 3x128 SiLU MLP, 200 source epochs of 10,000 samples (2,000 steps).
QUICK_GMM = Budget(
    denoiser={"width": 128, "depth": 3, "batch": 1024, "lr": 2e-3, "source_epochs": 200, "ema": 0.0,
              "sampler": "dpm2", "sample_steps": 25},
    # every stage that trains on the n targets draws 256 of them a step, with replacement
    # (target_batch = clf_batch = tclf_batch = guid_batch: the equal-budget rule, DESIGN.md §8)
    finetune={"finetune_steps": 600, "finetune_lr": 2e-4, "target_batch": 256},
    scratch={"steps": 1000, "scratch_lr": 1e-3, "target_batch": 256},
    classifier={"clf_width": 64, "clf_depth": 2, "clf_steps": 600, "clf_lr": 1e-3, "clf_batch": 256},
    # the time-dependent classifier c'(x_t, t) (tgdp-tclf, tiw-dsm, the cycle regulariser): sized like h_psi
    time_classifier={"tclf_width": 128, "tclf_depth": 3, "tclf_steps": 800, "tclf_lr": 2e-3, "tclf_batch": 256},
    guidance={"guid_width": 128, "guid_depth": 3, "guid_steps": 800, "guid_lr": 2e-3, "guid_batch": 256},
    # one grad log h per DPM-Solver-2 step, extrapolated to the step's start (ours, issue 11):
    # guided sampling 2.1-2.3x unguided instead of 3.3-3.5x (docs/measured.md); second order kept
    guided_sampling={"lagged_guidance": True},
    methods={"lora": {"finetune_lr": 1e-3}},  # LoRA's own rate, not the full-finetune 2e-4
)


def highdim_budget(dim: int) -> Budget:
    """The gmm-highdim budget at dimension ``dim``: QUICK_GMM with the denoiser sized so that the
    target-oracle gets near its floor (issue 10, item 8; ``scripts/highdim_sizing.py``).

    Rule (d = 2 is QUICK_GMM itself):
        width         = 128 * max(1, d // 16)        (128 at d <= 8 ... 256 at d = 32)
        source_epochs = 200 * min(d // 2, 4)         (200 at d = 2, 800 at d >= 8)
        sample_steps  = 25 if d <= 8 else 50
    The other blocks (finetune, scratch, classifier, guidance) stay those of QUICK_GMM.

    Why (trial 0, n = 100, one thread, ``logq_gap`` = |mean log q(samples) - mean log q(held-out)|
    on 2,000 samples; its floor is about 0.05 at d = 8 and 0.10 at d = 32 for a perfect sampler,
    and 0.08 / 0.24 for the exact target score through 25-step DPM-Solver-2, 0.02 / 0.002 at
    50 steps): the quick 3x128, 200-epoch oracle gives 0.33 at d = 8 and 10.1 at d = 32, its
    samples too wide (mean coordinate variance 1.53x at d = 32) and with twice the mass between
    the two modes.  At d = 8, epochs are the lever: 800 epochs give 0.080 (36 s of CPU), at the
    floor; width 256 does not help (0.38).  At d = 32, width is: 256 wide gives 1.27 at 200
    epochs and 0.80 / 0.30 (25 / 50 sampler steps) at 800 epochs (104 s); 512 wide 0.54 at 200
    and 0.56 / 0.46 at 400 epochs (168 s).  The d = 32 oracle stays about 3x the noise floor
    (0.30, its variance still about 2 % too wide); its MMD^2 (-0.00002) is at the mmd_floor.
    """
    if dim < 2:
        raise ValueError(f"dim={dim} must be >= 2")
    if dim == 2:
        return QUICK_GMM
    denoiser = {**QUICK_GMM.denoiser, "width": 128 * max(1, dim // 16), "source_epochs": 200 * min(dim // 2, 4),
                "sample_steps": 25 if dim <= 8 else 50}
    return replace(QUICK_GMM, denoiser=denoiser)


SMOKE_GMM = Budget(
    denoiser={"width": 32, "depth": 2, "batch": 256, "lr": 2e-3, "source_epochs": 4, "sample_steps": 5},
    finetune={"finetune_steps": 20, "target_batch": 128},
    scratch={"steps": 20, "target_batch": 128},
    classifier={"clf_width": 32, "clf_depth": 2, "clf_steps": 20, "clf_batch": 128},
    guidance={"guid_width": 32, "guid_depth": 2, "guid_steps": 20, "guid_batch": 128},
)
SMOKE_GMM_TASK = {"n_source": 1000, "n_pool": 1000, "n_test": 400, "n_eval": 200}

GMM_BASELINES = ("source-only", "scratch", "finetune", "lora", "target-oracle")
#: label-conditional baselines without guidance (ours): they separate conditioning from guidance
COND_BASELINES = ("source-only-cond", "finetune-cond", "scratch-cond")
TGDP_METHODS = ("tgdp", "tgdp-cycle", "tgdp-consistency", "tgdp-reg", "tgdp-cond", "tgdp-oracle-ratio",
                "tgdp-oracle-guidance", "domain-guidance", "importance-weighted")
#: estimators of h* that are ours, not the paper's (issue 10): resampled logistic, time-dependent classifier
NEW_ESTIMATORS = ("tgdp-lr", "tgdp-cond-lr", "tgdp-tclf")
GMM_METHODS = GMM_BASELINES + COND_BASELINES + TGDP_METHODS + NEW_ESTIMATORS
#: the training-light methods published since TGDP (issue 27), in ``extended`` only: the committed
#: quick reference does not move.  Sources in each method's file (``list methods`` shows them).
RECENT_METHODS = ("dogfit", "domain-cfg", "deft", "tiw-dsm", "x0-guidance", "difffit")

# -- ECG: ecg-synth (offline) and PTB-XL -> ICBEB2018 ------------------------------------------

#: ecg-synth quick: a 1-D U-Net with base 16 and 3 levels (~180k parameters), ~1000 source steps
#: of batch 64, 10-step DPM-Solver-2 (scripts/ecg_quick.py measures it).
QUICK_ECG = Budget(
    denoiser={"width": 16, "depth": 3, "batch": 64, "lr": 2e-3, "source_epochs": 16, "ema": 0.0,
              "sampler": "dpm2", "sample_steps": 10},
    finetune={"finetune_steps": 200, "finetune_lr": 5e-4, "target_batch": 64},
    scratch={"steps": 400, "scratch_lr": 1e-3, "target_batch": 64},
    classifier={"clf_width": 16, "clf_depth": 3, "clf_steps": 200, "clf_lr": 1e-3, "clf_batch": 64},
    guidance={"guid_width": 16, "guid_depth": 3, "guid_steps": 300, "guid_lr": 1e-3, "guid_batch": 64},
    methods={"lora": {"finetune_lr": 2e-3}},
)

SMOKE_ECG = Budget(
    denoiser={"width": 8, "depth": 2, "batch": 64, "lr": 2e-3, "source_epochs": 2, "sample_steps": 4},
    finetune={"finetune_steps": 5, "target_batch": 64},
    scratch={"steps": 5, "target_batch": 64},
    classifier={"clf_width": 8, "clf_depth": 2, "clf_steps": 5, "clf_batch": 64},
    guidance={"guid_width": 8, "guid_depth": 2, "guid_steps": 5, "guid_batch": 64},
)
SMOKE_ECG_TASK = {"n_source": 200, "n_pool": 200, "n_test": 200, "n_val": 50, "n_eval": 64, "length": 64,
                  "clf_width": 8, "clf_steps": 10, "feature_steps": 20, "n_boot": 100}

#: GPU sizes for PTB-XL -> ICBEB2018 and the paper-size ecg-synth: a U-Net with 64 base channels, 4 levels.
PAPER_ECG = Budget(
    denoiser={"width": 64, "depth": 4, "batch": 128, "lr": 2e-4, "source_epochs": 200, "ema": 0.0,
              "sampler": "dpm2", "sample_steps": 25},
    finetune={"finetune_steps": 4000, "finetune_lr": 1e-4, "target_batch": 128},
    scratch={"steps": 4000, "scratch_lr": 1e-3, "target_batch": 128},
    classifier={"clf_width": 32, "clf_depth": 3, "clf_steps": 3000, "clf_lr": 1e-3, "clf_batch": 128},
    guidance={"guid_width": 64, "guid_depth": 4, "guid_steps": 6000, "guid_lr": 1e-3, "guid_batch": 128},
    methods={"lora": {"finetune_lr": 1e-3}},
)
PAPER_ECG_SYNTH_TASK = {"n_source": 20_000, "n_pool": 5000, "n_test": 2000, "n_val": 1000, "n_eval": 2000,
                        "length": 1000, "clf_width": 32, "clf_steps": 2000, "feature_steps": 4000}

# ecg-synth: finetune and domain-guidance share the finetune stage, tgdp/tgdp-reg the classifier,
# every method the source model; tgdp-cond second so two jobs train both source models at once.
ECG_METHODS = ("source-only", "tgdp-cond", "scratch", "finetune", "domain-guidance", "lora", "tgdp", "tgdp-reg",
               "source-only-cond", "finetune-cond", "scratch-cond", "tgdp-cond-lr", "tgdp-lr", "tgdp-tclf")
ECG_PAPER_METHODS = ("source-only", "scratch", "finetune", "lora", "tgdp", "tgdp-reg", "tgdp-cond", "domain-guidance")


# -- variant cells ---------------------------------------------------------------------------

def log_ratio_variant(budget: Budget) -> Cell:
    """TGDP rows with the published code's variant guidance_loss=log (h regresses log r̂);
    separate runs (their hparams differ) and separate table rows."""
    methods = ("tgdp", "tgdp-cond", "tgdp-oracle-ratio")
    return Cell("gmm2d", methods, (10, 100, 1000), (0, 1, 2), tag="guidance_loss=log",
                hparams=budget.hparams(**{m: {"guidance_loss": "log"} for m in methods}))


def exact_ratio_logistic_variant(budget: Budget, task: str = "gmm2d", task_params: dict | None = None) -> Cell:
    """The exact r with the resampled logistic estimator: what the estimator reaches when the
    classifier is perfect (the yardstick of tgdp-lr, as tgdp-oracle-ratio is of tgdp)."""
    return Cell(task, ("tgdp-oracle-ratio",), (10, 100, 1000), (0, 1, 2), task_params=task_params or {},
                tag="guidance_loss=logistic-resampled",
                hparams=budget.hparams(tgdp_oracle_ratio={"guidance_loss": "logistic-resampled"}))


def extended_variants(budget: Budget) -> list[Cell]:
    """domain-guidance w in {1, 2} (1.5 is the main row); the log target at the budget of the
    resampled logistic estimator (2 batches a step: guid_steps doubled); classifier
    regularisation for tgdp-lr (input noise, early stopping); tgdp-tclf with r̂-resampled
    source samples mixed into its target batches."""
    grid = ((10, 100, 1000), (0, 1, 2))
    cells = [Cell("gmm2d", ("domain-guidance",), *grid, tag=f"w={w}", hparams=budget.hparams(domain_guidance={"w": w}))
             for w in (1.0, 2.0)]
    matched = {"guidance_loss": "log", "guid_steps": 2 * budget.guidance["guid_steps"]}
    cells.append(Cell("gmm2d", ("tgdp", "tgdp-oracle-ratio"), *grid, tag="guidance_loss=log,matched budget",
                      hparams=budget.hparams(tgdp=matched, tgdp_oracle_ratio=matched)))
    for tag, values in (("clf_input_noise=0.3", {"clf_input_noise": 0.3}), ("clf_val_frac=0.3", {"clf_val_frac": 0.3})):
        cells.append(Cell("gmm2d", ("tgdp-lr",), *grid, tag=tag, hparams=budget.hparams(tgdp_lr=values)))
    cells.append(Cell("gmm2d", ("tgdp-tclf",), *grid, tag="target_mix=0.5",
                      hparams=budget.hparams(tgdp_tclf={"target_mix": 0.5})))
    return cells


def regularisation_ablation(budget: Budget) -> list[Cell]:
    """eta in {0, 0.1, 1} for each regulariser alone (tgdp-cycle, tgdp-consistency)."""
    cells = []
    for method, key in (("tgdp-cycle", "eta_cycle"), ("tgdp-consistency", "eta_consistency")):
        for eta in (0.0, 0.1, 1.0):
            cells.append(Cell("gmm2d", (method,), (10, 100, 1000), (0, 1, 2), tag=f"{key}={eta}",
                              hparams=budget.hparams(**{method: {key: eta}})))
    return cells


# -- the suites ------------------------------------------------------------------------------

@register_suite("smoke", "every method on tiny gmm2d and ecg-synth settings, 1 seed (tests and CI)")
def smoke() -> Suite:
    return Suite("smoke", "every method, tiny sizes", (
        Cell("gmm2d", ("*",), (10,), (0,), task_params=SMOKE_GMM_TASK, hparams=SMOKE_GMM.hparams()),
        Cell("ecg-synth", ("*",), (20,), (0,), task_params=SMOKE_ECG_TASK, hparams=SMOKE_ECG.hparams()),
    ))


#: the protocol's K (DESIGN.md §8) in quick and the development suite; extended runs K = 16
QUICK_DRAWS = 4
EXTENDED_DRAWS = 16
#: quick's tuned rows under the protocol: the paper's TGDP, our time-dependent estimator, the
#: published baselines.  The other rows (label-conditional, regularisers, log/logistic estimators,
#: the recent methods) and LoRA (a finetune-like row, the family finetune stands for here)
#: run in ``extended``: with K = 4 draws plus the default, each row costs five runs per cell, and
#: the 25-minute budget of ``run --all`` holds five (a run with LoRA took 28 min, docs/protocol.md).
QUICK_TUNED = ("finetune", "scratch", "domain-guidance", "tgdp", "tgdp-tclf")
#: reference rows (not tuned: their default under every selection rule)
QUICK_REFERENCES = ("source-only", "target-oracle", "tgdp-oracle-guidance")
ECG_QUICK = ("source-only", "finetune", "tgdp")
#: gmm-overlap (d = 4) at the quick GMM budget (as the 4-D task of issue 25 was measured); the
#: gmm-highdim rule would give it 400 source epochs, 46 s of CPU per trial for the source model
#: and as much for the target-oracle
OVERLAP_GMM = QUICK_GMM


def protocol_cells(trials: tuple[int, ...], gmm2d_trials: tuple[int, ...], draws: int,
                   ecg_trials: tuple[int, ...] = ()) -> tuple[Cell, ...]:
    """quick's rows on gmm2d and gmm-overlap (and ecg-synth at n = 200 where ``ecg_trials``)."""
    rows = QUICK_REFERENCES + QUICK_TUNED
    cells = [Cell("gmm2d", rows, (10, 100, 1000), gmm2d_trials, hparams=QUICK_GMM.hparams(), draws=draws),
             Cell("gmm-overlap", rows, (10, 100, 1000), trials, hparams=OVERLAP_GMM.hparams(), draws=draws)]
    if ecg_trials:
        cells.append(Cell("ecg-synth", ECG_QUICK, (200,), ecg_trials, hparams=QUICK_ECG.hparams(), draws=draws))
    return tuple(cells)


@register_suite("quick", "the default of run --all: the comparison protocol (K = 4 draws, target-val and oracle "
                "selection) on gmm2d and gmm-overlap evaluation trials, and ecg-synth, on a 2-core CPU")
def quick() -> Suite:
    return Suite("quick", "protocol: K = 4 draws per tuned row; gmm2d x 5 and gmm-overlap x 3 evaluation trials; "
                 "ecg-synth n = 200 x 1 evaluation trial", protocol_cells(
                     evaluation_trials(3), evaluation_trials(5), QUICK_DRAWS, ecg_trials=evaluation_trials(1)))


#: the recent methods (issue 27) at quick's budget: difffit trains biases and norms only, so its
#: finetuning step size is the larger one of ``extended``
RECENT_GMM_OVERRIDES = {"difffit": {"finetune_lr": 1e-3}}
RECENT_ECG_OVERRIDES = {"difffit": {"finetune_lr": 2e-3}}


@register_suite("recent", "the six recent methods (2024-2026) on quick's cells (K = 4 draws, the same evaluation "
                "trials); run it into run --all's results folder and the report compares them with quick's rows")
def recent() -> Suite:
    return Suite("recent", "recent methods at K = 4 on quick's gmm2d, gmm-overlap and ecg-synth cells", (
        Cell("gmm2d", RECENT_METHODS, (10, 100, 1000), evaluation_trials(5),
             hparams=QUICK_GMM.hparams(**RECENT_GMM_OVERRIDES), draws=QUICK_DRAWS),
        Cell("gmm-overlap", RECENT_METHODS, (10, 100, 1000), evaluation_trials(3),
             hparams=OVERLAP_GMM.hparams(**RECENT_GMM_OVERRIDES), draws=QUICK_DRAWS),
        Cell("ecg-synth", RECENT_METHODS, (200,), evaluation_trials(1),
             hparams=QUICK_ECG.hparams(**RECENT_ECG_OVERRIDES), draws=QUICK_DRAWS),
    ), reads_with=("quick",))


@register_suite("protocol-dev", "quick's rows on the development trials 0-2 (the criterion study of target-val)")
def protocol_dev() -> Suite:
    return Suite("protocol-dev", "development trials: where selection criteria and budgets are chosen",
                 protocol_cells((0, 1, 2), (0, 1, 2), QUICK_DRAWS))


@register_suite("extended", "the protocol at K = 16 on 10 evaluation trials (every GMM row, the recent methods, "
                "gmm2d separation 0.5/1/2), plus gmm-highdim, gmm-noisy-source, ablations and estimator variants")
def extended() -> Suite:
    trials = evaluation_trials(10)
    every = GMM_METHODS + RECENT_METHODS
    cells = [Cell("gmm2d", every, (10, 100, 1000), trials, task_params={"separation": s},
                  hparams=QUICK_GMM.hparams(difffit={"finetune_lr": 1e-3}), draws=EXTENDED_DRAWS)
             for s in (0.5, 1.0, 2.0)]
    cells.append(Cell("gmm-overlap", every, (10, 100, 1000), trials,
                      hparams=OVERLAP_GMM.hparams(difffit={"finetune_lr": 1e-3}), draws=EXTENDED_DRAWS))
    cells += [Cell("gmm-highdim", GMM_METHODS, (10, 100, 1000), (0, 1, 2), task_params={"dim": d},
                   hparams=highdim_budget(d).hparams()) for d in (2, 8, 32)]
    cells += [Cell("gmm-noisy-source", GMM_METHODS, (10, 100, 1000), (0, 1, 2), task_params={"noise_frac": e},
                   hparams=QUICK_GMM.hparams()) for e in (0.0, 0.1, 0.3)]
    cells += [exact_ratio_logistic_variant(highdim_budget(d), "gmm-highdim", {"dim": d}) for d in (8, 32)]
    cells += regularisation_ablation(QUICK_GMM)
    cells += extended_variants(QUICK_GMM)
    cells.append(log_ratio_variant(QUICK_GMM))
    cells.append(exact_ratio_logistic_variant(QUICK_GMM))
    cells.append(Cell("ecg-synth", ECG_METHODS + RECENT_METHODS, (50, 200), (0,),
                      hparams=QUICK_ECG.hparams(difffit={"finetune_lr": 2e-3})))
    return Suite("extended", "protocol at K = 16 on 10 evaluation trials; high dimension, noisy source, "
                 "regularisation ablation, estimator variants", tuple(cells))


@register_suite("paper", "the paper's scale (4x512 MLP, 500 epochs, batch 4096; ECG U-Net 64x4); for a GPU")
def paper() -> Suite:
    return Suite("paper", "paper scale", (
        Cell("gmm2d", GMM_METHODS, (10, 100, 1000), (0, 1, 2), hparams=PAPER_GMM.hparams()),
        Cell("ptbxl-icbeb", ECG_PAPER_METHODS, (690,), (0, 1, 2), hparams=PAPER_ECG.hparams()),
        Cell("ecg-synth", ECG_METHODS + ("target-oracle",), (50, 200, 690), (0, 1, 2),
             task_params=PAPER_ECG_SYNTH_TASK, hparams=PAPER_ECG.hparams()),
    ))
