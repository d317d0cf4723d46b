"""Parameters: params.yaml holds every default; a preset and the user's overrides are merged over it,
strings from the command line are read as the schema's types, and the schema beside this module
validates the result. The workflow, DVC's stages and every CLI step build their config this way.
"""

from __future__ import annotations

import copy
import difflib
import functools
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ganrepro.data.sources import known_datasets
from ganrepro.errors import UserError
from ganrepro.gan_config import REQUIRED_KEYS, RUNTIME_KEYS, TrainConfig
from ganrepro.paper import paper_grid

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path(__file__).with_name("params.schema.yaml")
PRESET_DIR = Path("workflow/presets")  # relative to the folder of the params file
NO_PRESET = "paper"
DEFAULT_CUSTOM_BASE = "mnist"  # the training section a custom dataset builds on unless it names a `base`
Sources = list[tuple[str, Mapping[str, Any]]]


def default_params_path() -> Path:
    """params.yaml of the current folder (a project clone), else the one beside this package."""
    here = Path("params.yaml")
    return here if here.is_file() else PROJECT_ROOT / "params.yaml"


def load_params(path: str | Path | None = None) -> dict[str, Any]:
    """The raw params file (no preset, no validation)."""
    path = Path(path) if path else default_params_path()
    if not path.is_file():
        raise UserError(f"{path}: parameters file not found (run from the project root or pass --params)")
    return _load_mapping(path)


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """`overlay` over `base`, recursively for mappings; lists and scalars are replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def resolve(params_path: str | Path | None = None, overlays: Sources = ()) -> dict[str, Any]:
    """params.yaml, then its preset (`preset: fast` -> workflow/presets/fast.yaml), then `overlays`
    (label, mapping) in order; command-line strings coerced to the schema's types; validated."""
    path = Path(params_path) if params_path else default_params_path()
    sources: Sources = [(path.name, load_params(path))]
    sources += [(label, coerce(overlay)) for label, overlay in overlays]
    merged = _merge_all(sources)
    preset = merged.get("preset", NO_PRESET)
    if preset != NO_PRESET:
        preset_file = path.parent / PRESET_DIR / f"{preset}.yaml"
        if not preset_file.is_file():
            available = sorted([NO_PRESET, *(p.stem for p in (path.parent / PRESET_DIR).glob("*.yaml"))])
            raise UserError(f"preset: unknown preset '{preset}' (available: {', '.join(available)})")
        sources.insert(1, (str(PRESET_DIR / preset_file.name), _load_mapping(preset_file)))
        merged = _merge_all(sources)
    validate(merged, sources)
    return merged


def overlays(configfiles: Iterable[str | Path], command_line: Mapping[str, Any]) -> Sources:
    """Snakemake's --configfile overlays, then its --config values, labelled for error messages."""
    files: Sources = [(str(f), _load_mapping(Path(f))) for f in configfiles]
    return files + ([("--config", dict(command_line))] if command_line else [])


def validate(params: Mapping[str, Any], sources: Sources = ()) -> None:
    """Raise a UserError of one or two lines naming the first bad key, where it was set and what is
    allowed; then check dataset names and every dataset's merged training section."""
    errors = sorted(_validator(_schema()).iter_errors(params), key=lambda e: list(e.absolute_path))
    if errors:
        raise UserError(_describe(errors[0], sources) + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    known = dataset_names(params)
    for where, names in (
        ("datasets", params["datasets"]),
        *((f"class_metrics.{k}", params["class_metrics"].get(k, [])) for k in ("datasets", "conditional")),
    ):
        for name in names:
            if name not in known:
                raise UserError(f"{where}: unknown dataset '{name}'{_origin((where,), sources)}{_closest(name, known)}")
    for section in params["train"]:
        if section not in (*known, "common"):
            raise UserError(
                f"train.{section}: no dataset of that name{_origin(('train', section), sources)}"
                f"{_closest(section, known)}"
            )
    for dataset in params["datasets"]:
        train_config(params, dataset)


def json_option(text: str | None, option: str = "--config-json") -> dict[str, Any]:
    """The mapping a command-line option carries as JSON ({} when not given)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise UserError(f"{option} is not valid JSON: {err}") from err
    if not isinstance(value, dict):
        raise UserError(f"{option} must be a JSON object of parameter names and values, got {text!r}")
    return value


def step_params(section: str, given: Mapping[str, Any], params_path: str | Path | None = None) -> dict[str, Any]:
    """A step's parameters: the values given on its command line (None = not given) over params.yaml's
    `section`, the one place where their defaults live; checked against the schema. params.yaml is
    read only when a value is missing."""
    given = {key: value for key, value in given.items() if value is not None}
    schema = _schema()["properties"][section]
    known = schema["properties"]
    unknown = sorted(set(given) - set(known))
    if unknown:
        raise UserError(f"{section}: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(known)}")
    values = given if set(known) <= set(given) else {**_params_section(section, params_path), **given}
    wrapper = {"$defs": _schema()["$defs"], "type": "object", "properties": {section: schema}}  # $refs resolve
    errors = sorted(_validator(wrapper).iter_errors({section: values}), key=lambda e: list(e.absolute_path))
    if errors:
        raise UserError(_describe(errors[0], [("the command line", {section: given})]))
    return values


def dataset_names(params: Mapping[str, Any]) -> tuple[str, ...]:
    """Built-in dataset names, then those declared under data.custom."""
    return known_datasets(params)


def train_config(params: Mapping[str, Any], dataset: str, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
    """train.common, then the dataset's base sections, then train.<dataset>, then `overrides`,
    checked complete; the device and the validation estimate's sigma grid from params unless given.

    A section may name `base: <other section>`; a custom dataset builds on train.mnist unless it
    names another base."""
    sections = params.get("train", {})
    custom = (params.get("data") or {}).get("custom") or {}
    if dataset not in sections and dataset not in custom and not overrides:
        known = sorted(k for k in sections if k != "common")
        raise UserError(f"params: no train.{dataset} section (known: {', '.join(known)})")
    chain = _base_chain(sections, dataset, DEFAULT_CUSTOM_BASE if dataset in custom else None)
    cfg = copy.deepcopy(dict(sections.get("common", {})))
    for name in reversed(chain):
        cfg.update({k: copy.deepcopy(v) for k, v in sections.get(name, {}).items() if k != "base"})
    if overrides:
        check_train_overrides(overrides, f"train.{dataset} overrides")
        cfg.update(copy.deepcopy(dict(overrides)))
    missing = [k for k in REQUIRED_KEYS if k not in cfg]
    if missing:
        merged = " over ".join(f"train.{n}" for n in [*chain, "common"])
        raise UserError(
            f"train.{dataset}: missing {', '.join(missing)} after merging {merged}; "
            "set them there or name a complete `base` (e.g. base: mnist)"
        )
    cfg.setdefault("device", params.get("device", "auto"))
    pz = params.get("parzen", {})
    cfg.setdefault(  # the grid of training's validation estimate: the protocol's, unless overridden
        "valid_sigmas",
        paper_grid(pz.get("sigma_min_log10", -1.0), pz.get("sigma_max_log10", 0.0), pz.get("sigma_num", 10)),
    )
    return TrainConfig.from_mapping(cfg, f"train.{dataset}")


def check_train_overrides(overrides: Mapping[str, Any], where: str) -> None:
    """Validate a partial training section (e.g. `ganrepro train --config-json`) against the schema."""
    section_schema = {"$defs": _schema()["$defs"], **_schema()["$defs"]["train_section"]}
    section = {k: v for k, v in overrides.items() if k not in RUNTIME_KEYS}  # those the workflow and the CLI set
    errors = list(_validator(section_schema).iter_errors(section))
    if errors:
        raise UserError(f"{where}: " + _describe(errors[0], []))


def coerce(value: Any, schema: Mapping[str, Any] | None = None) -> Any:
    """Snakemake hands `--config seeds=[0,1]` on as strings: read each string that sits where the
    schema wants a number, boolean or null as YAML. Anything else is left for validation to judge."""
    schema = _deref(schema if schema is not None else _schema())
    if isinstance(value, Mapping):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        return {k: coerce(v, props.get(k, extra if isinstance(extra, Mapping) else {})) for k, v in value.items()}
    if isinstance(value, list):
        return [coerce(v, schema.get("items", {})) for v in value]
    if isinstance(value, str) and _wants_non_string(schema):
        try:
            parsed = yaml.safe_load(value)
        except yaml.YAMLError:
            return value
        return parsed if not isinstance(parsed, str) else value
    return value


def _wants_non_string(schema: Mapping[str, Any]) -> bool:
    types = schema.get("type")
    types = {types} if isinstance(types, str) else set(types or ())
    return bool(types) and "string" not in types


def _validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A JSON Schema validator. jsonschema is imported here alone: reading parameters (load_params,
    train_config) then works where it is not installed."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(schema)


@functools.cache
def _schema() -> dict[str, Any]:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def _deref(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    while "$ref" in schema:
        schema = _schema()["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _params_section(section: str, params_path: str | Path | None) -> dict[str, Any]:
    path = Path(params_path) if params_path else default_params_path()
    values = load_params(path).get(section)
    if not isinstance(values, dict):
        raise UserError(f"{path}: no '{section}' section; give every value on the command line or pass --params")
    return values


def _load_mapping(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise UserError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a mapping of parameters at the top level")
    return data


def _merge_all(sources: Sources) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for _, mapping in sources:
        merged = merge(merged, mapping)
    return merged


def _base_chain(sections: Mapping[str, Any], dataset: str, default_base: str | None) -> list[str]:
    """[dataset, its base, the base's base, ...], each an existing section."""
    chain, name = [dataset], sections.get(dataset, {}).get("base", default_base)
    while name:
        if name in chain:
            raise UserError(f"train.{chain[-1]}.base: '{name}' makes a cycle ({' -> '.join([*chain, name])})")
        if name not in sections or name == "common":
            known = sorted(k for k in sections if k != "common")
            raise UserError(f"train.{chain[-1]}.base: no train.{name} section{_closest(name, known)}")
        chain.append(name)
        name = sections[name].get("base")
    return chain


def _describe(error: ValidationError, sources: Sources) -> str:
    path = tuple(str(p) for p in error.absolute_path)
    where = ".".join(path) or "params"
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = list(error.schema.get("properties", {}))
        unknown = [k for k in error.instance if k not in allowed]
        key = unknown[0]
        return f"{'.'.join((*path, key))}: unknown key{_origin((*path, key), sources)}{_closest(key, allowed)}"
    if error.validator == "required":
        return f"{where}: {error.message}{_origin(path, sources)}"
    return f"{where} = {error.instance!r}: {_short(error)}{_origin(path, sources)}"


def _short(error: ValidationError) -> str:
    """The schema's complaint without repeating the value."""
    rule, limit = error.validator, error.validator_value
    if rule == "type":
        return f"must be of type {' or '.join(limit) if isinstance(limit, list) else limit}"
    if rule == "enum":
        return f"must be one of {', '.join(map(str, limit))}"
    phrases = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
    if rule in phrases:
        return f"must be {phrases[rule]} {limit}"
    return error.message


def _origin(path: Iterable[str], sources: Sources) -> str:
    """' (set in <source>)' for the last source that holds `path`."""
    path = tuple(path)
    for label, mapping in reversed(sources):
        node: Any = mapping
        for part in path:
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                break
        else:
            return f" (set in {label})"
    return ""


def _closest(name: str, allowed: Iterable[str]) -> str:
    allowed = list(allowed)
    close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else f"; allowed: {', '.join(allowed)}"
