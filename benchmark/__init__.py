"""tldm-bench: a reproducibility-first benchmark for transfer learning of diffusion models.

Reproduces *Transfer Learning for Diffusion Models* (Ouyang et al., NeurIPS 2024), whose
method TGDP adds the guidance term grad log h(x_t, t) to a source diffusion model.
See docs/architecture.md and README.md for the layout and the one sign convention.
"""

#: 2: run ids hash what is computed, without the suite name; specs carry suite and variant as provenance
SCHEMA_VERSION = 2
__version__ = "0.1.0"
