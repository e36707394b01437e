"""A vectorised parametric 12-lead ECG simulator (sum of Gaussian waves, McSharry et al. 2003 style).

Model.  Following McSharry et al. (2003, IEEE TBME 50:289), each heartbeat is a sum of
Gaussian waves; here they are placed directly in time along an RR sequence instead of on
the phase of a limit cycle.  A beat k with R-peak time tau_k contributes, for each wave
w in (P, Q, R, S, R2, ST, T) with centre offset mu_w, width b_w and a 3-D *dipole*
d_w (amplitude x direction, cardiac coordinates x = left, y = inferior, z = anterior):

    e_k(t) = sum_w d_w exp(-(t - tau_k - mu_w)^2 / (2 b_w^2))          (3-vector, mV)

and lead l records the projection v_l . e (Dower-style lead vectors; frontal leads I at
0 deg and II at +60 deg, chest leads V1..V6 on the horizontal plane from 120 to 10 deg,
chest gain 1.5):

    x_l(t) = a * sum_k v_l . R e_k(t) + f_l(t) + w_l(t) + n_l(t),

with a per-record amplitude a (log-normal), a per-record rotation R (electrical axis
in the frontal plane, plus a horizontal-plane rotation), atrial fibrillatory waves f
(AF only), baseline wander w (two slow sinusoids per lead, 0.05-0.4 Hz) and white noise
n.  Only the 8 independent leads (I, II, V1-V6) are simulated; III, aVR, aVL and aVF
follow from Einthoven's and Goldberger's relations (``reconstruct_12``), so those hold
exactly, also with noise.  Units are mV, sampling 100 Hz.

Beats.  The per-record heart rate HR ~ N(hr_mean, hr_sd) gives RR = 60/HR; sinus
intervals are RR (1 + hrv z).  One "anchor" beat sits at a uniform time in [0.3, 0.7] T
(T the record duration) and the others follow forward and backward by the intervals;
for PAC/PVC the anchor is the premature beat.  The T wave peaks at 0.30 sqrt(RR) s
after R (a Bazett-like QT).

Classes (ICBEB names, :data:`benchmark.ecg.classes.ECG_CLASSES`):
    NORM   sinus rhythm, P-peak to R-peak interval PR ~ 150 +- 15 ms, narrow QRS (~90 ms)
    AF     irregularly irregular RR (log-normal, sd 0.22), HR x 1.15, no P wave,
           fibrillatory baseline: atrial dipole of 3 sinusoids at 4-8 Hz (~0.05-0.1 mV)
    I-AVB  PR in [240, 340] ms (> 200 ms)
    LBBB   no septal q; broad notched R (two lobes 50 ms apart, width 20 ms) pointing
           left-posterior: notched R in I/V5/V6, broad QS in V1; discordant T; QRS ~140 ms
    RBBB   normal initial QRS, slurred S and a late R' (+75 ms) pointing right-anterior:
           rSR' in V1, wide S in I/V6; QRS ~150 ms
    PAC    one premature beat (coupling 0.60-0.75 RR) with an abnormal (inverted,
           low-atrial) P wave and short PR (110 ms), narrow QRS, non-compensatory pause
    PVC    one premature beat (coupling 0.50-0.65 RR), no P, wide bizarre QRS (width 25 ms
           Gaussians, right- or left-ventricular focus), discordant T, full compensatory pause
    STD    an ST "injury" wave (+140 ms, width 45 ms) pointing away from the inferolateral
           leads: ST depression 0.10-0.22 mV in II, aVF, V2-V6 (elevation in aVR), flatter T
    STE    an ST wave toward an anterior or inferior territory: ST elevation 0.12-0.27 mV in
           V2-V4 or II/III/aVF (reciprocal depression elsewhere), taller T

Every random quantity is drawn from one ``torch.Generator``, all records at once; the
waveforms are then evaluated in chunks of records (each Gaussian only within 4.5 widths
of its centre), so 10,000 records of 256 samples take under two seconds on one core
(``scripts/ecg_quick.py`` measures it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch

from benchmark.ecg.classes import ECG_CLASSES, NUM_ECG_CLASSES
from benchmark.ecg.leads import SAMPLE_RATE_HZ, reconstruct_12

_C = {name: i for i, name in enumerate(ECG_CLASSES)}
WAVES = ("P", "Q", "R", "S", "R2", "ST", "T")
CHEST_ANGLES_DEG = (120.0, 100.0, 80.0, 60.0, 35.0, 10.0)
CHEST_GAIN = 1.5
MIN_RR_S = 0.3
CHUNK = 1024

# Wave directions of the reference heart (QRS axis +60 deg); normalised before use.
DIR_P = (0.5, 0.8, 0.25)
DIR_P_ECTOPIC = (0.45, -0.8, 0.3)
DIR_Q = (-0.6, 0.2, 0.75)
DIR_R_Z = -0.25  # the main QRS vector is tilted posteriorly
DIR_S = (-0.2, -0.45, -0.8)
DIR_T_Z = 0.3
DIR_LBBB = (0.75, 0.35, -0.55)
DIR_RBBB_RPRIME = (-0.5, -0.1, 0.86)
DIR_PVC_FOCI = ((-0.6, -0.2, 0.77), (0.7, 0.3, -0.65))
DIR_STD = (-0.6, -0.5, -0.6)
DIR_STE_FOCI = ((0.3, 0.2, 0.93), (0.0, 0.9, 0.4))
DIR_ATRIAL_F = (0.2, 0.5, 0.85)

# ICBEB 2018 first-label counts (918 NORM, 1098 AF, ...) and a PTB-XL-like, NORM-heavy mix.
ICBEB_PRIORS = (918.0, 1098.0, 704.0, 207.0, 1695.0, 556.0, 672.0, 825.0, 202.0)
PTBXL_LIKE_PRIORS = (0.40, 0.07, 0.07, 0.05, 0.07, 0.06, 0.06, 0.12, 0.10)


@dataclass(frozen=True)
class PopulationConfig:
    """The distribution of one population of records.

    Attributes:
        hr_mean, hr_sd: heart rate (beats/min), normal across records, clipped to [40, 150].
        hrv: relative sd of sinus RR intervals within a record.
        axis_mean, axis_sd: frontal QRS electrical axis (degrees), normal across records.
        rotation_sd: sd of the horizontal-plane rotation of the heart (degrees).
        amp_scale, amp_sd: median and log-sd of the per-record amplitude multiplier.
        noise_sd: white measurement noise (mV) per lead and sample.
        wander_amp: baseline-wander amplitude (mV).
        class_priors: unnormalised class probabilities in ECG_CLASSES order.
    """

    hr_mean: float = 68.0
    hr_sd: float = 10.0
    hrv: float = 0.03
    axis_mean: float = 50.0
    axis_sd: float = 20.0
    rotation_sd: float = 10.0
    amp_scale: float = 1.0
    amp_sd: float = 0.15
    noise_sd: float = 0.015
    wander_amp: float = 0.04
    class_priors: tuple[float, ...] = PTBXL_LIKE_PRIORS

    def __post_init__(self) -> None:
        if len(self.class_priors) != NUM_ECG_CLASSES or min(self.class_priors) < 0 or sum(self.class_priors) <= 0:
            raise ValueError(f"class_priors needs {NUM_ECG_CLASSES} non-negative weights with a positive sum")
        if min(self.hr_sd, self.axis_sd, self.rotation_sd, self.amp_sd, self.noise_sd, self.wander_amp, self.hrv) < 0:
            raise ValueError("standard deviations, noise and wander must be >= 0")
        if self.hr_mean <= 0 or self.amp_scale <= 0:
            raise ValueError("hr_mean and amp_scale must be positive")

    def priors(self) -> torch.Tensor:
        p = torch.tensor(self.class_priors, dtype=torch.float64)
        return p / p.sum()


#: The source population (PTB-XL-like): slower rate, normal axis, clean recordings, NORM-heavy.
SOURCE = PopulationConfig()
#: The shifted target population (ICBEB-like): faster, leftward and more variable axis,
#: smaller amplitudes, more noise and wander, ICBEB class frequencies.
TARGET = PopulationConfig(hr_mean=82.0, hr_sd=15.0, hrv=0.04, axis_mean=20.0, axis_sd=30.0, rotation_sd=15.0,
                          amp_scale=0.75, amp_sd=0.25, noise_sd=0.04, wander_amp=0.12, class_priors=ICBEB_PRIORS)


@dataclass
class SimulatedECG:
    """Simulated records and the ground truth of their construction.

    Attributes:
        x8: (N, 8, L) float32, leads I, II, V1-V6 in mV.
        y: (N,) int64 class index into ECG_CLASSES.
        r_times: (N, K) R-peak times in seconds (beats may lie outside [0, L/fs]).
        ectopic: (N, K) bool, the premature beat of PAC/PVC records.
        rr: (N,) mean RR interval (s);  pr: (N,) P-peak to R-peak interval (s).
        fs: sampling rate (Hz).
    """

    x8: torch.Tensor
    y: torch.Tensor
    r_times: torch.Tensor
    ectopic: torch.Tensor
    rr: torch.Tensor
    pr: torch.Tensor
    fs: int

    def x12(self) -> torch.Tensor:
        """(N, 12, L) in LEADS_12 order."""
        return reconstruct_12(self.x8)


def lead_matrix() -> torch.Tensor:
    """(8, 3) lead vectors of I, II, V1-V6 (chest leads with gain CHEST_GAIN)."""
    rows = [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([math.cos(math.pi / 3), math.sin(math.pi / 3), 0.0])]
    for deg in CHEST_ANGLES_DEG:
        a = math.radians(deg)
        v = torch.tensor([math.cos(a), 0.1, math.sin(a)])
        rows.append(CHEST_GAIN * v / v.norm())
    return torch.stack(rows)


def _unit(v) -> torch.Tensor:
    t = torch.as_tensor(v, dtype=torch.float32)
    return t / t.norm(dim=-1, keepdim=True)


class _Draw:
    """Shape-explicit draws from one generator (the order of calls fixes the stream)."""

    def __init__(self, generator: torch.Generator) -> None:
        self.g = generator

    def normal(self, *shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=self.g)

    def uniform(self, lo: float, hi: float, *shape: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape, generator=self.g)

    def lognormal(self, sd: float, *shape: int) -> torch.Tensor:
        return torch.exp(sd * self.normal(*shape))


def _rotation(axis_deg: torch.Tensor, horiz_deg: torch.Tensor) -> torch.Tensor:
    """(N, 3, 3): rotation by (axis - 60) deg in the frontal x-y plane, then horiz in x-z."""
    a = torch.deg2rad(axis_deg - 60.0)
    h = torch.deg2rad(horiz_deg)
    n = len(a)
    rz = torch.zeros(n, 3, 3)
    rz[:, 0, 0], rz[:, 0, 1], rz[:, 1, 0], rz[:, 1, 1], rz[:, 2, 2] = a.cos(), -a.sin(), a.sin(), a.cos(), 1.0
    ry = torch.zeros(n, 3, 3)
    ry[:, 0, 0], ry[:, 0, 2], ry[:, 2, 0], ry[:, 2, 2], ry[:, 1, 1] = h.cos(), -h.sin(), h.sin(), h.cos(), 1.0
    return ry @ rz


def _beat_times(y: torch.Tensor, rr: torch.Tensor, pop: PopulationConfig, duration: float, d: _Draw):
    """R-peak times (N, K) and the ectopic mask, anchored at a beat in [0.3, 0.7] T."""
    n = len(y)
    k_side = int(math.ceil((duration + 1.0) / MIN_RR_S))
    af, pac, pvc = (y == _C["AF"]), (y == _C["PAC"]), (y == _C["PVC"])
    sinus = rr[:, None] * (1.0 + pop.hrv * d.normal(n, 2 * k_side))
    irregular = rr[:, None] * d.lognormal(0.22, n, 2 * k_side)
    iv = torch.where(af[:, None], irregular, sinus).clamp(MIN_RR_S, 2.0)
    fwd, bwd = iv[:, :k_side].clone(), iv[:, k_side:].clone()
    coupling = torch.where(pvc, d.uniform(0.50, 0.65, n), d.uniform(0.60, 0.75, n))
    ectopic_rec = pac | pvc
    bwd[:, 0] = torch.where(ectopic_rec, coupling * rr, bwd[:, 0])
    post = torch.where(pvc, (2.0 - coupling) * rr, d.uniform(1.0, 1.1, n) * rr)
    fwd[:, 0] = torch.where(ectopic_rec, post, fwd[:, 0])
    anchor = d.uniform(0.3, 0.7, n) * duration
    times = torch.cat([(anchor[:, None] - bwd.cumsum(1)).flip(1), anchor[:, None], anchor[:, None] + fwd.cumsum(1)], 1)
    ectopic = torch.zeros_like(times, dtype=torch.bool)
    ectopic[:, k_side] = ectopic_rec
    keep = ((times > -0.8) & (times < duration + 0.8)).any(0)
    return times[:, keep], ectopic[:, keep]


def _waves(y: torch.Tensor, rr: torch.Tensor, pr: torch.Tensor, k: int, ectopic: torch.Tensor, d: _Draw):
    """Per wave: centre offsets (N, K), widths (N, K) and dipoles (N, K, 3) in mV."""
    n = len(y)
    is_ = {name: (y == i) for name, i in _C.items()}
    jit = lambda sd=0.1: d.lognormal(sd, n, 1)  # per-record amplitude jitter
    dirjit = lambda v: _unit(_unit(v).expand(n, 3) + 0.12 * d.normal(n, 3))
    zeros = torch.zeros(n, 1)

    def dip(direction: torch.Tensor, amp: torch.Tensor) -> torch.Tensor:  # (N,3),(N,1) -> (N,K,3)
        return (direction * amp)[:, None, :].expand(n, k, 3)

    sqrt_rr = rr.sqrt()[:, None]
    wide = (is_["LBBB"] | is_["RBBB"])[:, None]
    # P wave: absent in AF; ectopic (inverted, short PR) for the PAC beat; absent on the PVC beat.
    p_amp = torch.where(is_["AF"][:, None], zeros, 0.15 * jit())
    p = {"mu": (-pr[:, None]).expand(n, k), "b": torch.full((n, k), 0.022), "d": dip(dirjit(DIR_P), p_amp)}
    p_ect = dip(dirjit(DIR_P_ECTOPIC), 0.14 * jit())
    p["d"] = torch.where((ectopic & is_["PAC"][:, None])[..., None], p_ect, p["d"])
    p["mu"] = torch.where(ectopic & is_["PAC"][:, None], torch.full((n, k), -0.11), p["mu"])
    # QRS of the reference heart: axis +60 deg, posterior tilt.
    r_dir = _unit(torch.tensor([math.cos(math.pi / 3), math.sin(math.pi / 3), DIR_R_Z]))
    q_amp = torch.where(is_["LBBB"][:, None], zeros, 0.12 * jit())
    q = {"mu": torch.full((n, k), -0.028), "b": torch.full((n, k), 0.010), "d": dip(dirjit(DIR_Q), q_amp)}
    r_amp = torch.where(is_["LBBB"][:, None], 0.85 * jit(), 1.1 * jit())
    r_dirs = torch.where(is_["LBBB"][:, None], dirjit(DIR_LBBB), dirjit(r_dir))
    r = {"mu": torch.zeros(n, k), "b": torch.where(is_["LBBB"][:, None], 0.020, 0.012).expand(n, k),
         "d": dip(r_dirs, r_amp)}
    s_amp = torch.where(is_["LBBB"][:, None], zeros, torch.where(is_["RBBB"][:, None], 0.45, 0.35) * jit())
    s = {"mu": torch.where(is_["RBBB"][:, None], 0.032, 0.028).expand(n, k),
         "b": torch.where(is_["RBBB"][:, None], 0.014, 0.011).expand(n, k), "d": dip(dirjit(DIR_S), s_amp)}
    r2_dir = torch.where(is_["LBBB"][:, None], r_dirs, dirjit(DIR_RBBB_RPRIME))
    r2_amp = torch.where(is_["LBBB"][:, None], 0.8 * jit(), torch.where(is_["RBBB"][:, None], 0.65 * jit(), zeros))
    r2 = {"mu": torch.where(is_["LBBB"][:, None], 0.05, 0.075).expand(n, k), "b": torch.full((n, k), 0.019),
          "d": dip(r2_dir, r2_amp)}
    # ST injury wave (STD / STE).
    ste_focus = d.uniform(0.0, 1.0, n) < 0.5
    ste_dir = torch.where(ste_focus[:, None], dirjit(DIR_STE_FOCI[0]), dirjit(DIR_STE_FOCI[1]))
    st_dir = torch.where(is_["STE"][:, None], ste_dir, dirjit(DIR_STD))
    st_amp = torch.where(is_["STE"][:, None], d.uniform(0.12, 0.27, n, 1),
                         torch.where(is_["STD"][:, None], d.uniform(0.10, 0.22, n, 1), zeros))
    st = {"mu": torch.full((n, k), 0.14), "b": torch.full((n, k), 0.045), "d": dip(st_dir, st_amp)}
    # T wave: concordant (normal), discordant in LBBB, flatter in STD, taller in STE.
    t_norm = _unit(torch.tensor([math.cos(math.radians(50)), math.sin(math.radians(50)), DIR_T_Z]))
    t_dir = torch.where(is_["LBBB"][:, None], dirjit(tuple(-v for v in DIR_LBBB)), dirjit(t_norm))
    t_scale = torch.where(is_["STD"][:, None], 0.5, torch.where(is_["STE"][:, None], 1.4, 1.0))
    t = {"mu": (0.30 * sqrt_rr + torch.where(wide, 0.04, 0.0)).expand(n, k),
         "b": (0.055 * sqrt_rr).expand(n, k), "d": dip(t_dir, 0.3 * t_scale * jit())}
    # The PVC beat: no P, one wide lobe toward a ventricular focus, an opposite lobe, discordant T.
    focus = d.uniform(0.0, 1.0, n) < 0.5
    pvc_dir = torch.where(focus[:, None], dirjit(DIR_PVC_FOCI[0]), dirjit(DIR_PVC_FOCI[1]))
    pvc = (ectopic & is_["PVC"][:, None])
    pv = pvc[..., None]
    p["d"] = torch.where(pv, 0.0, p["d"])
    q["d"] = torch.where(pv, 0.0, q["d"])
    r["d"] = torch.where(pv, dip(pvc_dir, 1.3 * jit()), r["d"])
    r["b"] = torch.where(pvc, 0.025, r["b"])
    s["d"] = torch.where(pv, dip(-pvc_dir, 0.5 * jit()), s["d"])
    s["mu"], s["b"] = torch.where(pvc, 0.055, s["mu"]), torch.where(pvc, 0.02, s["b"])
    t["d"] = torch.where(pv, dip(-pvc_dir, 0.5 * jit()), t["d"])
    t["mu"] = torch.where(pvc, 0.30 * sqrt_rr + 0.06, t["mu"])
    # Small per-record timing jitter of every wave.
    out = []
    for w in (p, q, r, s, r2, st, t):
        out.append((w["mu"] + 0.003 * d.normal(n, 1), w["b"] * d.lognormal(0.08, n, 1), w["d"]))
    return out


def _atrial_fibrillation(n: int, t: torch.Tensor, d: _Draw) -> torch.Tensor:
    """(N, 3, L) atrial dipole of 3 sinusoids at 4-8 Hz (f waves)."""
    freq, phase = d.uniform(4.0, 8.0, n, 3, 1), d.uniform(0.0, 2 * math.pi, n, 3, 1)
    amp = d.uniform(0.02, 0.05, n, 3, 1)
    f = (amp * torch.sin(2 * math.pi * freq * t + phase)).sum(1)  # (N, L)
    return _unit(DIR_ATRIAL_F)[None, :, None] * f[:, None, :]


def _add_gaussians(sig: torch.Tensor, centre: torch.Tensor, width: torch.Tensor, amp: torch.Tensor,
                   fs: int) -> None:
    """sig[c, j, 1 + i] += sum_k amp[c, j, k] exp(-(i/fs - centre[c, k])^2 / (2 width[c, k]^2)).

    Each Gaussian is evaluated only on the samples within 4.5 widths of its centre (the
    rest is below 4e-5 of its peak); sig: (C, D, L + 2), centre/width: (C, K),
    amp: (C, D, K).
    """
    length = sig.shape[-1] - 2
    half = int(math.ceil(4.5 * float(width.max()) * fs)) if width.numel() else 0
    offs = torch.arange(-half, half + 1)
    idx = torch.round(centre * fs).long()[..., None] + offs  # (C, K, W)
    g = torch.exp(-0.5 * ((idx / fs - centre[..., None]) / width[..., None]) ** 2)
    src = (amp[..., None] * g[:, None]).flatten(2)  # (C, D, K*W)
    pos = (idx.clamp(-1, length) + 1).flatten(1)[:, None, :].expand_as(src)
    sig.scatter_add_(2, pos, src)


def simulate(n: int, population: PopulationConfig, generator: torch.Generator, length: int = 256,
             fs: int = SAMPLE_RATE_HZ, labels: Optional[torch.Tensor] = None) -> SimulatedECG:
    """Simulate ``n`` records of ``length`` samples at ``fs`` Hz from ``population``.

    Args:
        labels: (n,) class indices to simulate; drawn from the class priors when None.

    Returns:
        :class:`SimulatedECG` with x8: (n, 8, length) float32 in mV.
    """
    if n < 0 or length < 8:
        raise ValueError(f"need n >= 0 and length >= 8, got n={n}, length={length}")
    d = _Draw(generator)
    pop = population
    y = torch.multinomial(pop.priors(), n, replacement=True, generator=generator) if labels is None \
        else torch.as_tensor(labels, dtype=torch.int64).clone()
    if len(y) != n or (n and (y.min() < 0 or y.max() >= NUM_ECG_CLASSES)):
        raise ValueError(f"labels must be {n} class indices in [0, {NUM_ECG_CLASSES})")
    duration = length / fs
    hr = (pop.hr_mean + pop.hr_sd * d.normal(n)).clamp(40.0, 150.0)
    hr = torch.where(y == _C["AF"], (1.15 * hr).clamp(max=170.0), hr)
    rr = 60.0 / hr
    pr = torch.where(y == _C["I-AVB"], d.uniform(0.24, 0.34, n), (0.15 + 0.015 * d.normal(n)).clamp(0.12, 0.19))
    rot = _rotation(pop.axis_mean + pop.axis_sd * d.normal(n), pop.rotation_sd * d.normal(n))
    amp = pop.amp_scale * d.lognormal(pop.amp_sd, n)
    times, ectopic = _beat_times(y, rr, pop, duration, d)
    waves = _waves(y, rr, pr, times.shape[1], ectopic, d)
    proj = lead_matrix()  # (8, 3)
    rotated = [(mu, b, torch.einsum("nkd,nsd->nsk", dip, rot)) for mu, b, dip in waves]  # (N, 3, K) = R d
    t = torch.arange(length, dtype=torch.float32) / fs
    af = y == _C["AF"]
    f_idx = af.nonzero().squeeze(1)
    f_dip = _atrial_fibrillation(len(f_idx), t, d)
    w_freq, w_phase = d.uniform(0.05, 0.4, n, 8, 2, 1), d.uniform(0.0, 2 * math.pi, n, 8, 2, 1)
    w_amp = d.uniform(0.3, 1.0, n, 8, 2, 1)
    heart = torch.empty(n, 3, length)  # the cardiac dipole e(t) (vectorcardiogram), rotated
    for lo in range(0, n, CHUNK):
        hi = min(n, lo + CHUNK)
        sig = torch.zeros(hi - lo, 3, length + 2)  # bins 0 and L+1 collect what falls outside
        for mu, b, dip in rotated:
            _add_gaussians(sig, times[lo:hi] + mu[lo:hi], b[lo:hi], dip[lo:hi], fs)
        heart[lo:hi] = sig[:, :, 1:-1]
    if len(f_idx):
        heart[f_idx] += torch.einsum("nsl,nds->ndl", f_dip, rot[f_idx])
    x = torch.einsum("cd,ndl->ncl", proj, heart * amp[:, None, None])
    x += pop.wander_amp * (w_amp * torch.sin(2 * math.pi * w_freq * t + w_phase)).sum(2)
    x += pop.noise_sd * d.normal(n, 8, length)
    return SimulatedECG(x8=x.float().contiguous(), y=y, r_times=times, ectopic=ectopic, rr=rr, pr=pr, fs=fs)
