"""The synthetic ECG simulator and the ecg-synth task: shapes, determinism, lead relations,
and the class differences measured on the simulated signals themselves."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from benchmark.ecg.classes import ECG_CLASSES, NUM_ECG_CLASSES
from benchmark.ecg.leads import LEADS_12, reconstruct_12, to_independent
from benchmark.ecg.simulator import SOURCE, TARGET, PopulationConfig, simulate
from benchmark.registry import load_registries

FS = 100
# Noise-free, fixed-rate source population: the waves can be measured directly.
CLEAN = dataclasses.replace(SOURCE, noise_sd=0.0, wander_amp=0.0, hr_sd=0.0)
LEAD = {name: i for i, name in enumerate(LEADS_12)}


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _sim(name: str, n: int = 30, length: int = 256, seed: int = 0, pop: PopulationConfig = CLEAN):
    return simulate(n, pop, _gen(seed), length=length, labels=torch.full((n,), ECG_CLASSES.index(name)))


def _beats(sim, margin_s: float = 0.4, ectopic: bool | None = False):
    """(record, sample index of R) for beats at least margin_s inside the record."""
    length = sim.x8.shape[-1]
    out = []
    for i in range(len(sim.y)):
        for j, t in enumerate(sim.r_times[i].tolist()):
            if margin_s <= t <= length / FS - margin_s and (ectopic is None or bool(sim.ectopic[i, j]) == ectopic):
                out.append((i, round(t * FS)))
    return out


def _qrs_width_ms(sim, beats) -> torch.Tensor:
    """Samples within R-120..R+150 ms where the spatial magnitude exceeds 15% of its peak."""
    env = sim.x8.norm(dim=1)  # (N, L)
    widths = []
    for i, r in beats:
        seg = env[i, r - 12: r + 16]
        widths.append(float((seg > 0.15 * seg.max()).sum()) * 1000 / FS)
    return torch.tensor(widths)


def test_shapes_dtype_and_labels():
    sim = simulate(50, TARGET, _gen(0), length=128)
    assert sim.x8.shape == (50, 8, 128) and sim.x8.dtype == torch.float32
    assert sim.x12().shape == (50, 12, 128)
    assert sim.y.dtype == torch.int64 and 0 <= int(sim.y.min()) and int(sim.y.max()) < NUM_ECG_CLASSES
    assert torch.isfinite(sim.x8).all()
    assert 0.02 < float(sim.x8.std()) < 2.0  # mV scale


def test_deterministic_given_the_generator():
    a = simulate(20, SOURCE, _gen(3), length=64)
    b = simulate(20, SOURCE, _gen(3), length=64)
    c = simulate(20, SOURCE, _gen(4), length=64)
    assert torch.equal(a.x8, b.x8) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x8, c.x8)


def test_einthoven_goldberger_hold_with_noise():
    x12 = simulate(20, TARGET, _gen(1), length=128).x12()
    i, ii, iii = x12[:, LEAD["I"]], x12[:, LEAD["II"]], x12[:, LEAD["III"]]
    avr, avl, avf = x12[:, LEAD["aVR"]], x12[:, LEAD["aVL"]], x12[:, LEAD["aVF"]]
    torch.testing.assert_close(iii, ii - i)
    torch.testing.assert_close(avr, -(i + ii) / 2)
    torch.testing.assert_close(avl, (i - iii) / 2)
    torch.testing.assert_close(avf, (ii + iii) / 2)
    torch.testing.assert_close(avr + avl + avf, torch.zeros_like(i), atol=1e-6, rtol=0)
    torch.testing.assert_close(to_independent(x12), reconstruct_12(to_independent(x12))[:, [0, 1, 6, 7, 8, 9, 10, 11]])


def test_class_priors_are_followed():
    sim = simulate(3000, TARGET, _gen(5), length=16)
    freq = torch.bincount(sim.y, minlength=NUM_ECG_CLASSES).double() / 3000
    assert torch.allclose(freq, TARGET.priors(), atol=0.03)


def test_bundle_branch_blocks_widen_the_qrs():
    norm = _qrs_width_ms(*(lambda s: (s, _beats(s)))(_sim("NORM")))
    for name in ("LBBB", "RBBB"):
        s = _sim(name, seed=1)
        wide = _qrs_width_ms(s, _beats(s))
        assert wide.median() >= norm.median() + 30, (name, wide.median(), norm.median())
    assert norm.median() <= 100


def test_rbbb_has_a_late_positive_r_prime_in_v1_and_lbbb_no_septal_q():
    s = _sim("RBBB", seed=2)
    v1 = s.x12()[:, LEAD["V1"]]
    late = torch.tensor([float(v1[i, r + 6: r + 10].max()) for i, r in _beats(s)])  # R' at +60..+90 ms
    assert (late > 0.3).float().mean() > 0.9
    lb, nm = _sim("LBBB", seed=3), _sim("NORM", seed=3)
    q_l = torch.tensor([float(lb.x12()[i, LEAD["V6"], r - 4: r - 2].min()) for i, r in _beats(lb)])
    q_n = torch.tensor([float(nm.x12()[i, LEAD["V6"], r - 4: r - 2].min()) for i, r in _beats(nm)])
    assert q_n.median() < q_l.median() - 0.03  # the normal septal q in V6 is missing in LBBB


def _rr_cv(sim) -> torch.Tensor:
    """Coefficient of variation of the RR intervals detected on the spatial magnitude."""
    env = sim.x8.norm(dim=1)
    cvs = []
    for e in env:
        peak = (e > 0.5 * e.max()) & (e >= torch.nn.functional.max_pool1d(e[None, None], 41, 1, 20)[0, 0])
        t = peak.nonzero().squeeze(1).double()
        rr = t.diff()
        cvs.append(float(rr.std() / rr.mean()))
    return torch.tensor(cvs)


def test_af_rhythm_is_irregular_and_has_no_p_wave():
    af, norm = _sim("AF", length=1000, seed=4), _sim("NORM", length=1000, seed=4)
    cv_af, cv_norm = _rr_cv(af), _rr_cv(norm)
    assert cv_af.median() > 0.12 and cv_norm.median() < 0.06
    # Activity between T and the next QRS: P wave (NORM) vs f waves only (AF); both are
    # measured as the peak-to-peak of lead II in the 200-60 ms before each R.
    def pre_r(sim):
        ii = sim.x12()[:, LEAD["II"]]
        return torch.tensor([float(ii[i, r - 20: r - 6].max()) for i, r in _beats(sim)])
    assert pre_r(norm).median() > 0.08 and pre_r(af).median() < pre_r(norm).median() - 0.04


def _pr_s(sim) -> torch.Tensor:
    """P-peak to R-peak interval: the spatial-magnitude maximum in R-400..R-70 ms."""
    env = sim.x8.norm(dim=1)
    return torch.tensor([(40 - int(env[i, r - 40: r - 7].argmax())) / FS for i, r in _beats(sim, margin_s=0.45)])


def test_first_degree_av_block_prolongs_pr():
    pr_avb, pr_norm = _pr_s(_sim("I-AVB", seed=5)), _pr_s(_sim("NORM", seed=5))
    assert (pr_avb > 0.20).all() and (pr_norm < 0.20).all()


def _st_deviation(sim) -> torch.Tensor:
    """Mean over II, aVF, V2-V4 of x(R + 100 ms) - x(R - 70 ms) (J + 60 ms vs the PR segment)."""
    x12 = sim.x12()
    leads = [LEAD[n] for n in ("II", "aVF", "V2", "V3", "V4")]
    return torch.tensor([float((x12[i, leads, r + 10] - x12[i, leads, r - 7]).mean()) for i, r in _beats(sim)])


def test_st_segment_shifts_up_in_ste_and_down_in_std():
    ste, std_, norm = (_st_deviation(_sim(n, seed=6)) for n in ("STE", "STD", "NORM"))
    assert (ste > 0.03).float().mean() > 0.9 and (std_ < -0.03).float().mean() > 0.9
    assert norm.abs().median() < 0.03


def test_premature_beats():
    for name, coupling in (("PAC", (0.6, 0.75)), ("PVC", (0.5, 0.65))):
        s = _sim(name, seed=7)
        k = s.ectopic.int().argmax(1)
        rows = torch.arange(len(s.y))
        assert s.ectopic.sum(1).eq(1).all()
        before = s.r_times[rows, k] - s.r_times[rows, k - 1]
        after = s.r_times[rows, k + 1] - s.r_times[rows, k]
        assert ((before / s.rr >= coupling[0] - 0.01) & (before / s.rr <= coupling[1] + 0.01)).all()
        if name == "PVC":  # full compensatory pause
            torch.testing.assert_close(before + after, 2 * s.rr)
    pac, norm = _sim("PAC", length=256, seed=8), _sim("NORM", length=256, seed=8)
    ii = pac.x12()[:, LEAD["II"]]
    ect_p = torch.tensor([float(ii[i, r - 11]) for i, r in _beats(pac, margin_s=0.3, ectopic=True)])
    ii_n = norm.x12()[:, LEAD["II"]]
    sinus_p = torch.tensor([float(ii_n[i, r - round(float(norm.pr[i]) * FS)]) for i, r in _beats(norm)])
    assert (ect_p < 0).float().mean() > 0.9 and (sinus_p > 0).float().mean() > 0.9  # abnormal (inverted) P
    pvc = _sim("PVC", seed=9)
    wide = _qrs_width_ms(pvc, _beats(pvc, margin_s=0.15, ectopic=True))
    narrow = _qrs_width_ms(pvc, _beats(pvc, ectopic=False))
    assert wide.median() >= narrow.median() + 30


def test_source_and_target_populations_differ():
    n = 400
    s = simulate(n, dataclasses.replace(SOURCE, noise_sd=0.0, wander_amp=0.0), _gen(10), length=256,
                 labels=torch.zeros(n, dtype=torch.long))
    t = simulate(n, dataclasses.replace(TARGET, noise_sd=0.0, wander_amp=0.0), _gen(10), length=256,
                 labels=torch.zeros(n, dtype=torch.long))
    assert float((60 / t.rr).mean()) > float((60 / s.rr).mean()) + 8  # faster target
    peak = lambda sim: float(sim.x8.norm(dim=1).amax(1).median())  # spatial QRS peak
    assert peak(t) < 0.9 * peak(s)  # smaller amplitudes
    noisy_t = simulate(n, TARGET, _gen(10), length=256, labels=torch.zeros(n, dtype=torch.long))
    assert float((noisy_t.x8 - t.x8).std()) > 2 * SOURCE.noise_sd  # noise and wander
    assert TARGET.class_priors != SOURCE.class_priors


def test_population_config_rejects_bad_priors():
    with pytest.raises(ValueError):
        PopulationConfig(class_priors=(1.0,) * 3)


def test_ecg_synth_task_data_is_shared_across_methods_and_split_correctly():
    regs = load_registries()
    task_cls = regs.tasks.get("ecg-synth")
    prm = task_cls.Params(n_target=20, n_source=60, n_pool=80, n_test=40, n_val=20, n_eval=16, length=32)
    d0 = task_cls(prm, 0, 0).build()
    d0b = task_cls(prm, 0, 0).build()
    d1 = task_cls(prm, 0, 1).build()
    assert d0.kind == "ecg" and d0.num_classes == NUM_ECG_CLASSES
    assert d0.source_x.shape == (60, 8, 32) and d0.target_x.shape == (20, 8, 32) and d0.test_x.shape == (40, 8, 32)
    assert d0.extras["val_x"].shape == (20, 8, 32) and d0.extras["val_y"].shape == (20,)
    assert torch.equal(d0.target_x, d0b.target_x) and d0.target_key == d0b.target_key
    # the pools are one fixed data set; the trial changes the target subset only
    assert torch.equal(d0.source_x, d1.source_x) and d0.source_key == d1.source_key
    assert not torch.equal(d0.target_x, d1.target_x) and d0.target_key != d1.target_key
    # every target record comes from the pool; the test fold does not
    pool = {tuple(r.flatten().tolist()) for r in d0.oracle_x}
    assert all(tuple(r.flatten().tolist()) in pool for r in d0.target_x)
    assert not any(tuple(r.flatten().tolist()) in pool for r in d0.test_x)
    assert abs(float(d0.source_x.std()) - 1.0) < 1e-4  # normalised by the source std
    # evaluation budgets never change the data (or the source model's cache key)
    d_eval = task_cls(dataclasses.replace(prm, clf_steps=3, n_boot=20), 0, 0).build()
    assert d_eval.source_key == d0.source_key and torch.equal(d_eval.target_x, d0.target_x)
