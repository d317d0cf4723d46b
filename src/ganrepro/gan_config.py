"""A training configuration as one typed value: `TrainConfig`, a field per key of a params.yaml train
section (schema `$defs.train_section`, less `base`) plus the keys the workflow and the CLI add.

params.yaml holds the defaults: a key its train sections must provide has no default here. A field's
metadata carries its roles (`resumable`: may change between a checkpoint and its resumption;
`validation`: a key of the validation estimate; `section`: a key of a train section), from which
REQUIRED_KEYS, RESUMABLE_KEYS, VALIDATION_KEYS and RUNTIME_KEYS are derived.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ganrepro.errors import UserError
from ganrepro.paper import paper_grid


def _key(
    *, resumable: bool = False, validation: bool = False, section: bool = True, **default: Any
) -> Any:  # a dataclasses.Field
    """A config field with its roles; `default=` or `default_factory=` for an optional key."""
    return field(metadata={"resumable": resumable, "validation": validation, "section": section}, **default)


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """One model's training configuration (a dataset's merged train section, device, variant, seed)."""

    arch: str = _key()  # mlp or conv
    noise: str = _key()  # uniform or normal
    z_dim: int = _key()
    g_hidden: list[int] = _key()
    g_output: str = _key()  # sigmoid or linear
    g_activations: list[str] | None = _key(default=None)  # None: ReLU hidden layers
    d_units: list[int] = _key()
    d_pieces: int = _key()
    g_irange: float = _key()
    d_irange: float = _key()
    g_output_bias: str = _key()  # marginals or none
    max_col_norm: float | None = _key(default=None)
    bias_irange: float = _key(default=0.0)
    optimizer: str = _key()  # sgd or adam
    lr: float = _key()
    lr_decay: float = _key()
    lr_min: float = _key()
    momentum_start: float = _key()
    momentum_end: float = _key()
    momentum_saturate: int = _key()
    adam_betas: list[float] = _key()
    k: int = _key()
    update: str = _key()  # simultaneous or alternating
    g_loss: str = _key()  # nonsaturating or minimax
    d_input_keep: float = _key()
    d_hidden_keep: float = _key()
    batch_size: int = _key()
    epochs: int = _key(resumable=True)
    train_limit: int = _key()
    checkpoint_every: int = _key(resumable=True)
    log_every: int = _key(resumable=True)
    valid_every: int = _key(resumable=True)
    snapshot_every: int = _key(resumable=True, default=0)
    valid_samples: int = _key(resumable=True, validation=True)
    valid_points: int = _key(resumable=True, validation=True)
    select: str = _key(resumable=True)  # last or best_valid
    # set by the workflow and the CLI, not in a train section
    device: str = _key(resumable=True, section=False, default="auto")
    conditional: bool = _key(section=False, default=False)
    seed: int = _key(section=False, default=0)
    valid_sigmas: list[float] = _key(resumable=True, validation=True, section=False, default_factory=paper_grid)
    # The optional keys the mapping named: as_dict keeps them even at their default, so the dict is
    # the one merged from params.yaml (the workflow's JSON argument, checkpoints, model files).
    given: frozenset[str] = field(default=frozenset(), compare=False, repr=False)

    @classmethod
    def from_mapping(cls, m: Mapping[str, Any], where: str) -> TrainConfig:
        """The config a plain dict holds; a UserError naming `where` for unknown or missing keys and
        for keys that disagree with each other (what the schema, key by key, cannot check)."""
        unknown = sorted(set(m) - set(KEYS))
        if unknown:
            raise UserError(f"{where}: unknown training key(s) {', '.join(unknown)}")
        missing = [k for k in REQUIRED_KEYS if k not in m]
        if missing:
            raise UserError(f"{where}: missing {', '.join(missing)}")
        try:
            return cls(**copy.deepcopy(dict(m)), given=frozenset(m) - set(REQUIRED_KEYS))
        except UserError as err:
            raise UserError(f"{where}: {err}") from None

    def __post_init__(self) -> None:
        """Keys that must agree with each other (the schema checks each key on its own)."""
        if self.g_activations is not None and len(self.g_activations) != len(self.g_hidden):
            raise UserError(
                f"g_activations names {len(self.g_activations)} activation(s) for the "
                f"{len(self.g_hidden)} hidden layers of g_hidden; give one per layer"
            )
        if self.checkpoint_every % self.log_every:
            raise UserError(
                f"checkpoint_every ({self.checkpoint_every}) must be a multiple of log_every ({self.log_every})"
            )

    def as_dict(self) -> dict[str, Any]:
        """A plain dict (JSON, checkpoints, model files): every required key, and each optional one
        that was given or differs from its default."""
        optional = {f.name: f for f in _FIELDS if f.name not in REQUIRED_KEYS}
        return {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in _FIELDS
            if f.name not in optional or f.name in self.given or getattr(self, f.name) != _default(f)
        }

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with `changes` (each then counts as given)."""
        return dataclasses.replace(self, **changes, given=self.given | (changes.keys() - set(REQUIRED_KEYS)))


def _default(f: dataclasses.Field) -> Any:
    return f.default_factory() if f.default is dataclasses.MISSING else f.default


_FIELDS = tuple(f for f in dataclasses.fields(TrainConfig) if f.name != "given")
KEYS = tuple(f.name for f in _FIELDS)
REQUIRED_KEYS = tuple(
    f.name for f in _FIELDS if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
)
# May change between a checkpoint and its resumption (budgets and bookkeeping). Changing the
# validation estimate's keys on resumption restarts model selection (scores of two estimates do not compare).
RESUMABLE_KEYS = frozenset(f.name for f in _FIELDS if f.metadata["resumable"])
VALIDATION_KEYS = tuple(f.name for f in _FIELDS if f.metadata["validation"])
RUNTIME_KEYS = frozenset(f.name for f in _FIELDS if not f.metadata["section"])  # the workflow's and the CLI's
