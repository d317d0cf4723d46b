"""checkpoint.pt: what a resumed run needs to end where an uninterrupted one would, and whether a
checkpoint may be resumed with the parameters and training data of this run.

The file holds tensors and plain containers only (the RNG states are tensors), so loading it never
runs code; it is written atomically, so a killed run or a full disk leaves the previous one intact.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from ganrepro.errors import UserError
from ganrepro.gan_config import RESUMABLE_KEYS, TrainConfig
from ganrepro.io import UnreadableFile, load_torch, save_torch

NAME = "checkpoint.pt"  # in the run folder
# Bumped when a checkpoint's tensors or training objective change meaning (2: maxout rows
# piece-major; D's objective halved as the authors').
FORMAT = 2
# What a checkpoint of this format holds; one without some of them was written by an older version.
KEYS = {"format", "step", "config", "gan", "perm", "rng_cpu", "rng_cuda", "valid_history", "best", "log"}


def save(path: Path, state: dict[str, Any]) -> None:
    save_torch(path, {"format": FORMAT, **state})


def load(path: Path) -> dict[str, Any]:
    """The checkpoint's state; a UserError naming it and the ways on if it cannot be read."""
    return load_torch(path, "delete it to train from step 0", ", or pass --if-changed restart, which discards it")


def resumable(
    path: Path,
    cfg: TrainConfig,
    total_steps: int,
    if_changed: str,
    fmt: int = FORMAT,
    keys: set[str] = KEYS,
    data: str | None = None,
) -> tuple[dict[str, Any] | None, str]:
    """(the checkpoint's state, "") if a run with `cfg` on the training data of digest `data`
    (arrays.data_digest) resumes it; (None, why) if the run starts afresh: none there, or (with
    if_changed='restart', having deleted it) unreadable or made with other parameters or data; else a
    UserError. One refused for holding code is never discarded: someone should look at it."""
    if not path.exists():
        return None, f"no checkpoint at {path}"
    try:
        state = load(path)
    except UnreadableFile as err:
        if if_changed != "restart":
            raise
        why = str(err).rsplit("; ", 1)[0]  # without the remedy: this is it
    else:
        reasons = ", ".join(changes(state, cfg, total_steps, fmt, keys, data))
        if not reasons:
            return state, ""
        if if_changed != "restart":
            raise UserError(
                f"{path} was trained with other parameters or data ({reasons}); "
                "delete it, or pass --if-changed restart, to train from scratch"
            )
        why = f"{path} was made with other parameters or data ({reasons})"
    path.unlink()
    return None, why


def rng_states(device: torch.device) -> dict[str, Any]:
    """The RNG states training draws from (noise, dropout, minibatch order), as tensors."""
    return {
        "rng_cpu": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if device.type == "cuda" else None,
    }


def restore_rng_states(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["rng_cpu"])
    if state["rng_cuda"] is not None and device.type == "cuda":
        torch.cuda.set_rng_state_all(state["rng_cuda"])


def changes(
    state: dict[str, Any],
    cfg: TrainConfig,
    total_steps: int,
    fmt: int = FORMAT,
    keys: set[str] = KEYS,
    data: str | None = None,
) -> list[str]:
    """Why `state` cannot be resumed with `cfg`, a budget of `total_steps` and the data of digest
    `data`: each changed parameter (other than those of gan_config.RESUMABLE_KEYS) as `key: old ->
    new`, other reasons as they are; empty if it can. `fmt` and `keys`: the format and entries this
    version writes (the defaults: the main GAN's checkpoints). A checkpoint without a data digest
    (written before checkpoints recorded one) is taken to hold the same data."""
    saved, new = state.get("config", {}), cfg.as_dict()
    changed = sorted(
        k
        for k in set(saved) | set(new)  # missing, None, 0 and False are all "off"
        if k not in RESUMABLE_KEYS and (saved.get(k) or None) != (new.get(k) or None)
    )
    reasons = [_describe_change(k, saved, new) for k in changed]
    if data and state.get("data") not in (None, data):
        reasons.append(f"training data: sha256 {state['data'][:12]}... -> {data[:12]}...")
    if state.get("format", 1) != fmt:
        reasons.append(f"checkpoint format {state.get('format', 1)}, this version reads {fmt}")
    elif missing := sorted(keys - state.keys()):
        reasons.append(f"written by an older version (no {', '.join(missing)})")
    if state.get("step", 0) > total_steps:
        reasons.append(f"epochs (checkpoint at step {state['step']} > {total_steps})")
    return reasons


def _describe_change(key: str, saved: dict[str, Any], cfg: dict[str, Any]) -> str:
    """`key: old -> new` for a changed parameter."""
    return f"{key}: {_short(saved.get(key))} -> {_short(cfg.get(key))}"


def _short(value: Any, width: int = 40) -> str:
    text = json.dumps(value)
    return text if len(text) <= width else text[: width - 3] + "..."
