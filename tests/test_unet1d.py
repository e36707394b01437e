"""The 1-D backbones: UNet1d (eps denoiser) and ScalarConv1d (classifiers, guidance), and LoRA on them."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from benchmark.diffusion.conv1d import ScalarConv1d
from benchmark.diffusion.lora import apply_lora, lora_modules, merge_lora
from benchmark.diffusion.nets import make_denoiser, make_scalar_net
from benchmark.diffusion.schedule import VPSchedule
from benchmark.diffusion.training import dsm_loss, fit_denoiser
from benchmark.diffusion.unet1d import UNet1d


def _inputs(b: int = 3, length: int = 64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 8, length, generator=g), torch.rand(b, generator=g), torch.randint(9, (b,), generator=g)


@pytest.mark.parametrize("length", [64, 50])
def test_unet_shapes_and_label_conditioning(length):
    torch.manual_seed(0)
    net = UNet1d((8, length), base=8, levels=3, num_classes=9)
    for p in net.out.parameters():  # the output conv starts at zero; give it weights to see the paths
        nn.init.normal_(p, std=0.1)
    x, t, y = _inputs(length=length)
    out = net(x, t, y)
    assert out.shape == x.shape
    assert not torch.allclose(out, net(x, t, (y + 1) % 9))  # the label is used
    assert not torch.allclose(out, net(x, t.flip(0) * 0.5, y))  # so is the time
    with pytest.raises(ValueError):
        net(x, t, None)


def test_untrained_unet_is_the_gaussian_denoiser():
    """Zero-initialised output: eps_hat = sigma_t x_t = E[eps | x_t] for unit-variance white data."""
    x, t, _ = _inputs(length=48)
    sigma = VPSchedule().sigma(t).view(-1, 1, 1)
    torch.testing.assert_close(UNet1d((8, 48), base=8, levels=3)(x, t), sigma * x)
    assert torch.count_nonzero(UNet1d((8, 48), base=8, levels=3, gaussian_skip=False)(x, t)) == 0


def test_unet_size_and_factory():
    net = make_denoiser("ecg", (8, 256), 16, 3)
    assert isinstance(net, UNet1d)
    assert 120_000 < sum(p.numel() for p in net.parameters()) < 250_000
    assert not any(isinstance(m, nn.ConvTranspose1d) for m in net.modules())
    assert isinstance(make_scalar_net("ecg", (8, 256), 8, 2, time=True), ScalarConv1d)


def test_unet_learns_on_a_tiny_problem():
    torch.manual_seed(0)
    net = UNet1d((8, 32), base=8, levels=2)
    x = torch.sin(torch.linspace(0, 6.28, 32)).expand(64, 8, 32).clone()

    @torch.no_grad()
    def held_out() -> float:  # the DSM loss on fixed times and noise
        return float(dsm_loss(net, VPSchedule(), x.repeat(4, 1, 1), None, torch.Generator().manual_seed(5)))

    before = held_out()
    fit_denoiser(net, x, None, 80, 32, 5e-3, torch.Generator().manual_seed(1), torch.device("cpu"))
    assert held_out() < 0.8 * before


def test_lora_covers_every_conv_and_linear_of_the_unet():
    torch.manual_seed(0)
    net = UNet1d((8, 32), base=8, levels=2, num_classes=9)
    for p in net.out.parameters():
        nn.init.normal_(p, std=0.1)
    x, t, y = _inputs(length=32)
    before = net(x, t, y).detach()
    adapted = copy.deepcopy(net)
    adapters = apply_lora(adapted, rank=2, alpha=2.0, generator=torch.Generator().manual_seed(0))
    targets = [n for n, m in net.named_modules() if isinstance(m, (nn.Conv1d, nn.Linear))]
    assert sorted(lora_modules(adapted)) == sorted(targets)
    assert all(not p.requires_grad for n, p in adapted.named_parameters() if "lora_" not in n)
    torch.testing.assert_close(adapted(x, t, y), before)  # B = 0: the source model at start
    opt = torch.optim.Adam(adapters, lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        adapted(x, t, y).pow(2).mean().backward()
        opt.step()
    tuned = adapted(x, t, y).detach()
    assert not torch.allclose(tuned, before)
    torch.testing.assert_close(merge_lora(adapted)(x, t, y), tuned, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("time,classes", [(False, None), (True, None), (False, 9), (True, 9)])
def test_scalar_conv_shapes_and_input_gradient(time, classes):
    torch.manual_seed(0)
    net = ScalarConv1d((8, 40), width=8, depth=2, time=time, num_classes=classes)
    x, t, y = _inputs(length=40)
    x.requires_grad_(True)
    out = net(x, t if time else None, y if classes else None)
    assert out.shape == (3, 1)
    (grad,) = torch.autograd.grad(out.sum(), x)
    assert grad.shape == x.shape and grad.abs().sum() > 0  # grad_x log h exists for guidance
    if time:
        assert not torch.allclose(out, net(x, t * 0.3, y if classes else None))
