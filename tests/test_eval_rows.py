"""Row-chunked network calls in the samplers (``eval_rows``) give the same bits as one call.

The suite samples vectors on the CPU with ``cpu_eval_rows`` (issue 11: faster where one call's
activations overflow the cache).  That is only allowed because the MLP denoisers and guidance
nets are row-independent; these tests pin it, guided and unguided, with labels, lagged guidance
and the Euler sampler, on a batch size that is not a multiple of the chunk.  Signals are not
chunked: oneDNN picks its convolution algorithm by batch size, so a chunked U-Net call can
differ from one call in the last bits (seen on the AMD EPYC machine: 5.7e-5 after 4 steps).
"""

from __future__ import annotations

import pytest
import torch

from benchmark.diffusion.guidance import grad_log_of
from benchmark.diffusion.nets import EpsMLP, TimeMLP
from benchmark.diffusion.samplers import cpu_eval_rows, sample


def counted(fn, calls: list[int]):
    def wrapped(x, t, labels):
        calls.append(x.shape[0])
        return fn(x, t, labels)
    return wrapped


def vector_networks(num_classes=None):
    torch.manual_seed(0)
    eps_net = EpsMLP(2, 128, 3, num_classes=num_classes).eval()
    h_net = TimeMLP(2, 1, 128, 3, time=True, num_classes=num_classes).eval()
    if num_classes is None:
        return (lambda x, t, y: eps_net(x, t)), grad_log_of(lambda x, t, y: h_net(x, t).squeeze(-1)), (2,)
    return (lambda x, t, y: eps_net(x, t, y)), grad_log_of(lambda x, t, y: h_net(x, t, y).squeeze(-1)), (2,)


@pytest.mark.parametrize("num_classes, n, rows", [(None, 1500, 512), (3, 1100, 256)])
@pytest.mark.parametrize("sampler, lagged", [("dpm2", False), ("dpm2", True), ("euler", False)])
@pytest.mark.parametrize("guided", [False, True])
def test_chunked_calls_give_the_bits_of_one_call(num_classes, n: int, rows: int, sampler: str, lagged: bool,
                                                 guided: bool) -> None:
    eps_fn, grad, shape = vector_networks(num_classes)
    labels = None if num_classes is None else torch.arange(n) % num_classes
    grad = grad if guided else None
    steps = 4
    one = sample(eps_fn, shape, n, torch.Generator().manual_seed(5), sampler=sampler, steps=steps, labels=labels,
                 grad_log_h=grad, lagged_guidance=lagged and guided)
    calls: list[int] = []
    chunked = sample(counted(eps_fn, calls), shape, n, torch.Generator().manual_seed(5), sampler=sampler,
                     steps=steps, labels=labels, grad_log_h=grad, lagged_guidance=lagged and guided, eval_rows=rows)
    evaluations = steps * (2 if sampler == "dpm2" else 1)
    per_evaluation = [rows] * (n // rows) + ([n % rows] if n % rows else [])
    assert calls == per_evaluation * evaluations  # the chunking happened, on every evaluation
    assert torch.isfinite(one).all()
    assert torch.equal(chunked, one), (f"chunked network calls changed the samples (max diff "
                                       f"{(chunked - one).abs().max():.2e}): a network of this kind is not "
                                       "row-independent on this CPU; sample with eval_rows=None")


def test_cpu_eval_rows_per_kind_and_device() -> None:
    assert cpu_eval_rows((2,), "cpu") == 2048
    assert cpu_eval_rows((32,), "cpu") == 2048
    assert cpu_eval_rows((8, 256), "cpu") is None  # signals: one call (convolutions are not row-exact)
    assert cpu_eval_rows((2,), "meta") is None  # off the CPU: one call per batch


def test_eval_rows_must_be_positive() -> None:
    eps_fn, _, shape = vector_networks()
    with pytest.raises(ValueError, match="eval_rows=0 must be >= 1"):
        sample(eps_fn, shape, 10, torch.Generator().manual_seed(0), eval_rows=0)
