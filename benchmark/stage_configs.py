"""One home per stage configuration: typed configs, their bounds, search spaces and saved names.

A **stage** is a piece of training shared by methods (the domain classifier c(x), the
time-dependent classifier c'(x_t, t), the guidance network h_psi).  Each has one typed frozen
config here (:class:`ClassifierConfig`, :class:`GuidanceConfig`) whose fields carry their
bounds and, for the tunable ones, their search space (:func:`tunable`).  A method's ``Params``
stores a stage's fields flat, under the names runs have always been saved with (``clf_width``,
``guid_lr`` ...), so run ids and stage keys never move; the flat fields are generated from the
config by :func:`flat_fields` (never written twice), and ``params.<block>_config()`` rebuilds
the typed config from them, the one translator.

A **block** (:class:`Block`) is what a suite's budget sets: ``denoiser``, ``finetune``,
``scratch``, ``classifier``, ``time_classifier``, ``guidance``, ``guided_sampling``.  A
Params class declares the blocks it takes in ``BLOCKS`` (a class attribute, inherited and
united along the class hierarchy: :func:`declared_blocks`); a budget block reaches only the
methods that declare it, never a method that merely has a field of the same name.

Search spaces (:class:`Space`) are drawn by the comparison protocol; ``list methods
--search-space`` prints them (:func:`search_space`).
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Optional, Sequence

from benchmark.params import bounds

ClassifierLoss = Literal["balanced", "pooled", "pooled-uncorrected"]
GuidanceLoss = Literal["l2", "log", "logistic-resampled"]
GUIDANCE_LOSSES: tuple[str, ...] = ("l2", "log", "logistic-resampled")
SPACE = "space"  # the field-metadata key of a search space


@dataclass(frozen=True)
class Space:
    """A hyper-parameter's search distribution: ``log-uniform`` (floats, exp U[log low, log high]),
    ``uniform`` (floats), ``int-log-uniform`` (ints, rounded), or ``choice`` (one of ``choices``)."""

    kind: Literal["log-uniform", "uniform", "int-log-uniform", "choice"]
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.kind == "choice":
            if not self.choices:
                raise ValueError("a choice space needs choices")
        elif not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise ValueError(f"search space needs finite low < high, got [{self.low}, {self.high}]")
        elif self.kind != "uniform" and self.low <= 0:
            raise ValueError(f"a {self.kind} space needs low > 0, got {self.low}")

    def describe(self) -> str:
        if self.kind == "choice":
            return "one of " + ", ".join(map(repr, self.choices))
        return f"{self.kind} [{self.low:g}, {self.high:g}]"


def log_uniform(low: float, high: float) -> Space:
    return Space("log-uniform", low, high)


def int_log_uniform(low: int, high: int) -> Space:
    return Space("int-log-uniform", low, high)


def uniform(low: float, high: float) -> Space:
    return Space("uniform", low, high)


def choice(*values: Any) -> Space:
    return Space("choice", choices=tuple(values))


def tunable(default: Any, space: Space, **rule: float) -> Any:
    """A dataclass field with its default, its search space and (optionally) its own bounds."""
    return field(default=default, metadata={**bounds(**rule), SPACE: space})


@dataclass(frozen=True)
class ClassifierConfig:
    """The domain classifier c(x) (or c(x, y), or c'(x_t, t)): an MLP / 1-D CNN of ``width`` x
    ``depth`` trained for ``steps`` AdamW steps of ``batch`` per domain (see
    :mod:`benchmark.tgdp.classifier` for the losses and the regularisers)."""

    width: int = 256
    depth: int = 3
    steps: int = 2000
    lr: float = tunable(1e-3, log_uniform(1e-4, 1e-2))
    batch: int = 512
    weight_decay: float = tunable(1e-4, log_uniform(1e-6, 1e-2))
    loss: ClassifierLoss = "balanced"
    input_noise: float = field(default=0.0, metadata=bounds(ge=0))
    val_frac: float = field(default=0.0, metadata=bounds(ge=0, lt=1))
    val_every: int = 50

    def __post_init__(self) -> None:
        if self.input_noise < 0:
            raise ValueError(f"classifier input_noise={self.input_noise!r} must be >= 0")
        if not 0.0 <= self.val_frac < 1.0:
            raise ValueError(f"classifier val_frac={self.val_frac!r} must be in [0, 1)")


@dataclass(frozen=True)
class GuidanceConfig:
    """The guidance network h_psi(x_t, t) and its estimator (:mod:`benchmark.tgdp.guidance_net`)."""

    width: int = 256
    depth: int = 3
    steps: int = 2000
    lr: float = tunable(1e-3, log_uniform(1e-4, 1e-2))
    batch: int = 512
    guidance_loss: GuidanceLoss = "l2"
    eta_cycle: float = 0.0
    eta_consistency: float = 0.0


@dataclass(frozen=True)
class Block:
    """A stage configuration as a budget block and as flat, saved Params fields.

    Attributes:
        name: the block's name in budgets and ``BLOCKS``.
        config: the typed config class (None for blocks that are plain Params fields).
        saved: config field -> saved (flat) Params name, for every config field a method keeps
            (fields left out take the config's default).
        own: the saved names this block's mixin defines (the others belong to another block
            and are shared, e.g. the time-dependent classifier's loss is the classifier's).
        inherit: saved name -> the saved name whose value an unset (None) field takes.
    """

    name: str
    config: Optional[type] = None
    saved: Mapping[str, str] = field(default_factory=dict)
    own: tuple[str, ...] = ()
    inherit: Mapping[str, str] = field(default_factory=dict)

    def config_of(self, params: Any) -> Any:
        """The typed config rebuilt from the flat fields of ``params`` (the one translator)."""
        return self.config(**{f: getattr(params, s) for f, s in self.saved.items()})


def _saved(prefix: str, fields: Sequence[str], **renamed: str) -> dict[str, str]:
    return {f: renamed.get(f, prefix + f) for f in fields}


CLASSIFIER = Block("classifier", ClassifierConfig, _saved(
    "clf_", ("width", "depth", "steps", "lr", "batch", "weight_decay", "loss", "input_noise", "val_frac"),
    loss="classifier_loss"))
CLASSIFIER = dataclasses.replace(CLASSIFIER, own=tuple(CLASSIFIER.saved.values()))
#: c'(x_t, t): its own size and budget; loss and weight decay shared with c(x); unset: c(x)'s values
TIME_CLASSIFIER = Block(
    "time_classifier", ClassifierConfig,
    {**_saved("tclf_", ("width", "depth", "steps", "lr", "batch")), "weight_decay": "clf_weight_decay",
     "loss": "classifier_loss"},
    own=tuple(f"tclf_{f}" for f in ("width", "depth", "steps", "lr", "batch")),
    inherit={f"tclf_{f}": f"clf_{f}" for f in ("width", "depth", "steps", "lr", "batch")})
GUIDANCE = Block("guidance", GuidanceConfig, _saved(
    "guid_", ("width", "depth", "steps", "lr", "batch", "guidance_loss", "eta_cycle", "eta_consistency"),
    guidance_loss="guidance_loss", eta_cycle="eta_cycle", eta_consistency="eta_consistency"))
GUIDANCE = dataclasses.replace(GUIDANCE, own=tuple(GUIDANCE.saved.values()))
#: the guidance network's size and budget alone (for methods that train a network of that size
#: with another objective, e.g. DEFT's residual)
GUIDANCE_NET = Block("guidance", GuidanceConfig, _saved("guid_", ("width", "depth", "steps", "lr", "batch")),
                     own=tuple(f"guid_{f}" for f in ("width", "depth", "steps", "lr", "batch")))

#: the blocks a budget may set; denoiser, finetune, scratch and guided_sampling are Params fields
#: declared in benchmark/denoiser_methods.py and benchmark/tgdp/stages.py
BLOCK_NAMES = ("denoiser", "finetune", "scratch", "classifier", "time_classifier", "guidance", "guided_sampling")


def flat_fields(block: Block, name: str, optional: bool = False) -> type:
    """A frozen dataclass mixin with the block's own saved fields (defaults, bounds and search
    spaces from the config; ``optional``: None by default, filled by :func:`fill_inherited`),
    ``BLOCKS = (block.name,)`` and a ``<block>_config()`` method returning the typed config."""
    by_saved = {s: f for f, s in block.saved.items()}
    hints = typing.get_type_hints(block.config)
    defaults = {f.name: f for f in dataclasses.fields(block.config)}
    spec = []
    for saved in block.own:
        src = defaults[by_saved[saved]]
        kind = hints[src.name]
        if optional:
            spec.append((saved, Optional[kind], field(default=None, metadata=dict(src.metadata))))
        else:
            spec.append((saved, kind, field(default=src.default, metadata=dict(src.metadata))))

    def config(self) -> Any:
        return block.config_of(self)

    namespace: dict[str, Any] = {"BLOCKS": (block.name,), f"{block.name}_config": config,
                                 "__doc__": f"The saved fields of the {block.name} stage ({block.config.__name__})."}
    return dataclasses.make_dataclass(name, spec, frozen=True, namespace=namespace)


def fill_inherited(params: Any, block: Block) -> None:
    """Set every unset (None) field of ``block.inherit`` to the value of the field it inherits
    from (call from the Params class's ``__post_init__``: the record then holds the number)."""
    for target, source in block.inherit.items():
        if getattr(params, target) is None:
            object.__setattr__(params, target, getattr(params, source))


def declared_blocks(params_cls: type) -> frozenset[str]:
    """The budget blocks a Params class takes: the union of ``BLOCKS`` along its hierarchy."""
    out: set[str] = set()
    for klass in getattr(params_cls, "__mro__", ()):
        out |= set(vars(klass).get("BLOCKS", ()))
    return frozenset(out)


def search_space(params_cls: type) -> dict[str, Space]:
    """The tunable fields of a Params class and their search spaces (field metadata)."""
    if not dataclasses.is_dataclass(params_cls):
        return {}
    return {f.name: f.metadata[SPACE] for f in dataclasses.fields(params_cls) if SPACE in f.metadata}
