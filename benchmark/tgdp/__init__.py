"""TGDP (Transfer Guided Diffusion Process) components shared by every TGDP method.

- :mod:`benchmark.tgdp.classifier`: domain classifiers c(x) = P(source | x) (and the
  joint c(x, y), and the time-dependent c'(x_t, t)), giving r̂ = (1 - c) / c.
- :mod:`benchmark.tgdp.guidance_net`: the guidance network h_psi(x_t, [y,] t) > 0 and its
  estimators (``guidance_loss`` l2 | log | logistic-resampled), with the cycle and
  consistency regularisers.
- :mod:`benchmark.tgdp.diagnostics`: ratio ESS/mean, ratio_error, classifier accuracy/ECE,
  gradient diagnostics against grad log h*, memorisation.
"""
