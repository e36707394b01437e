"""Diffusion core: VP-SDE schedule, denoiser networks, training loop, samplers, guidance."""
