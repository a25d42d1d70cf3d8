"""The one composition of a run's config, for every layer (a leaf: hydra, omegaconf and runconfig only; no torch).

A run is a list of Hydra overrides. Hydra's public `compose()` builds the defaults tree of its config-group
choices (`optimizer=sgd`, `scale=quick`: ~0.1 s a call, so once per distinct set of choices, not once per run);
the run's value overrides (`optimizer.lr=0.1`, `+key=1`, `~key`) are then parsed by Hydra's override parser and
set on a copy as Hydra sets them after building the tree (OmegaConf.update). The result is what
`compose("config", overrides)` gives, which the tests check on every shipped grid. Training (a pack's members)
and the workflow (every run's digest while the DAG is built) both compose through `Composer`, so the digest the
workflow computes is the one the training run records.

Hydra's compositions are also kept on disk (`CompositionCache`: ~0.3 s each, and every workflow invocation, SLURM
job and pack asks for tens of them): keyed by the content of every file under conf/ and Hydra's and OmegaConf's
versions, so any edit there, or an upgrade, composes afresh.

A value override must name a key the composition has and keep the kind of its value there (a number for a
number, no float for an int, ...): `Composer.check_value`. Keys that only a `+` override adds are refused by
`adamw_repro.checks` (it knows which keys the config files define).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf, open_dict

from adamw_repro import runio
from adamw_repro.runconfig import CONF_DIR, ConfigError

_MISSING = object()
_SIMPLE = (int, float, str, bool, type(None))
# An interpolation that reads the environment, not another key: no run's override can change what it gives.
_ENV_ONLY = re.compile(r"\$\{oc\.env:[^${}]*\}")


class Composition:
    """Hydra's composition of one set of group choices: the config unresolved as plain Python (`raw`) and as a
    DictConfig (`cfg`, without its `hydra` node), the group -> option choices Hydra made (the defaults' and the
    overrides'), and the config resolved to plain Python without `sweep` (`plain`), or None when one of its
    values interpolates another key (a run's override may change it).

    `cfg` is built when first asked for: from the disk cache's plain form that takes ~30 ms, tens of times in
    each workflow invocation, which mostly needs only the plain forms (digests, sweeps, the scale's resources)."""

    def __init__(self, raw: dict, choices: dict[str, str], cfg: DictConfig | None = None):
        self.raw, self.choices, self._cfg = raw, choices, cfg
        rest = {k: v for k, v in raw.items() if k != "sweep"}
        if _interpolates(rest):
            self.plain = None
        elif _has_interpolation(rest):  # ${oc.env:...} only: OmegaConf resolves it
            self.plain = to_plain(OmegaConf.create(rest))
        else:
            self.plain = copy.deepcopy(rest)

    @property
    def cfg(self) -> DictConfig:
        if self._cfg is None:
            self._cfg = OmegaConf.create(self.raw)
            OmegaConf.set_struct(self._cfg, True)  # as Hydra leaves its root
        return self._cfg

    def node(self, key: str):
        """A top-level node (`sweep`, `scale`) resolved to plain Python; {} when the config has none."""
        if key not in self.raw:
            return {}
        if not _has_interpolation(self.raw[key]):
            return copy.deepcopy(self.raw[key])
        node = self.cfg[key]
        return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def first_line(err: BaseException) -> str:
    """The first line of an error: Hydra and OmegaConf append the full key path and search path below it."""
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


class Composer:
    """Compose runs' configs from `conf_dir`, each distinct set of group choices once (kept for the
    composer's life: build one per invocation, or per pack)."""

    def __init__(self, conf_dir: Path | str = CONF_DIR):
        from hydra.core.override_parser.overrides_parser import OverridesParser

        self.conf_dir = Path(conf_dir).resolve()  # Hydra wants it absolute
        # config groups are conf/'s folders: an override of one is a group choice, anything else a value
        self.groups = frozenset(p.name for p in self.conf_dir.iterdir() if p.is_dir())
        self.base: dict[tuple[str, ...], Composition] = {}  # group-choice overrides -> their composition
        self._parser = OverridesParser.create()
        self._parsed: dict[str, object] = {}
        self.cache = CompositionCache(self.conf_dir)

    # -- overrides --------------------------------------------------------------------------------------------
    def parse(self, line: str):
        """Hydra's parse of one command-line override (cached); ConfigError naming it when it does not parse
        or is a sweep of values (a run takes one)."""
        if line not in self._parsed:
            from hydra.errors import HydraException

            try:
                (override,) = self._parser.parse_overrides([line])
            except HydraException as err:
                raise ConfigError(f"{line}: {first_line(err)}") from None
            if override.is_sweep_override():
                raise ConfigError(f"{line} is a sweep of values; a run takes one value (give each value as "
                                  "its own list element)")
            self._parsed[line] = override
        return self._parsed[line]

    def is_choice(self, override) -> bool:
        """A config-group choice (`optimizer=sgd`, `hydra/job_logging=disabled`), not a value."""
        return override.key_or_group.split("@")[0].split("/")[0] in self.groups or "/" in override.key_or_group

    def split(self, overrides: Iterable[str]) -> tuple[tuple[str, ...], list]:
        """(the group-choice overrides as written, the parsed value overrides). Values of the `hydra` node are
        left out: a run's config does not hold that node (compose() drops it too)."""
        choices, values = [], []
        for line in overrides:
            override = self.parse(line)
            if self.is_choice(override):
                choices.append(line)
            elif override.key_or_group.split(".")[0] != "hydra":
                values.append(override)
        return tuple(choices), values

    # -- composition -------------------------------------------------------------------------------------------
    def composition(self, choices: Sequence[str]) -> Composition:
        """Hydra's composition of these group-choice overrides (ConfigError with Hydra's first line when it
        fails), composed once: also reused for choices that only repeat what a known composition picked."""
        key = tuple(choices)
        if key not in self.base:
            self.base[key] = self._same_as_known(key) or self._compose(key)
        return self.base[key]

    def _same_as_known(self, key: tuple[str, ...]) -> Composition | None:
        """A known composition of a subset of these choices that already picked the rest (`optimizer=adamw`
        where the defaults choose adamw): Hydra composes the same tree for both."""
        for known, comp in self.base.items():
            extra = set(key) - set(known)
            if set(known) <= set(key) and all(self._picks(comp, line) for line in extra):
                return comp
        return None

    def _picks(self, comp: Composition, line: str) -> bool:
        o = self.parse(line)
        plain_choice = o.package is None and not (o.is_add() or o.is_delete() or o.is_force_add())
        return plain_choice and comp.choices.get(o.key_or_group) == str(o.value())

    def _compose(self, choices: tuple[str, ...]) -> Composition:
        """Hydra's composition, from the cache when this conf/ composed these choices before."""
        known = self.cache.get(choices)
        if known is not None:
            return Composition(*known)
        cfg, picked = self._hydra_compose(choices)
        raw = OmegaConf.to_container(cfg, resolve=False)
        self.cache.put(choices, raw, picked)
        return Composition(raw, picked, cfg)

    def _hydra_compose(self, choices: tuple[str, ...]) -> tuple[DictConfig, dict[str, str]]:
        from hydra import compose, initialize_config_dir
        from hydra.core.global_hydra import GlobalHydra
        from hydra.errors import HydraException
        from omegaconf.errors import OmegaConfBaseException

        # Compose from this conf/ even inside a caller's Hydra context (a test's, @hydra.main's): set it
        # aside and give it back afterwards.
        outer = GlobalHydra.instance().hydra
        GlobalHydra.instance().clear()
        try:
            with initialize_config_dir(str(self.conf_dir), version_base="1.3"):
                cfg = compose("config", overrides=list(choices), return_hydra_config=True)
        except (HydraException, OmegaConfBaseException) as err:
            raise ConfigError(first_line(err)) from None
        finally:
            if outer is not None:
                GlobalHydra.instance().clear()
                GlobalHydra.instance().initialize(outer)
        picked = {g: str(c) for g, c in cfg.hydra.runtime.choices.items() if g in self.groups and c is not None}
        with open_dict(cfg):  # as compose(return_hydra_config=False) does
            del cfg["hydra"]
        return cfg, picked

    def choices(self, overrides: Iterable[str]) -> dict[str, str]:
        """group -> option of every config group the run composes (config.yaml's, the scale's, its own)."""
        return dict(self.composition(self.split(overrides)[0]).choices)

    def compose(self, overrides: Iterable[str]) -> DictConfig:
        """The run's config: what `compose("config", overrides)` gives (without the `hydra` node); each value
        override checked first (`check_value`). ConfigError names the override that fails."""
        choices, values = self.split(overrides)
        comp = self.composition(choices)
        for override in values:
            self.check_value(comp.cfg, override)
        cfg = copy.deepcopy(comp.cfg)
        apply(cfg, values)
        return cfg

    __call__ = compose

    def resolved(self, overrides: Iterable[str]) -> dict:
        """The run's config resolved to plain Python, without `sweep` (what `to_plain(compose(overrides))`
        gives). Plain values set on a copy of the composition's resolved form: ~100x faster than copying the
        DictConfig, which is kept for overrides Hydra merges (lists, dicts, +, ~) and interpolating configs."""
        choices, values = self.split(overrides)
        comp = self.composition(choices)
        for override in values:
            if not _plain_value_fits(comp.plain, override):
                self.check_value(comp.cfg, override)
        if comp.plain is not None:
            out = copy.deepcopy(comp.plain)
            if all(_set_plain(out, o) for o in values):
                return out
        return to_plain(self.compose(overrides))

    # -- checks ------------------------------------------------------------------------------------------------
    def check_value(self, cfg: DictConfig, override) -> None:
        """A value override `key=value` names a key of the composed `cfg` and keeps the kind of its value
        there (`same_kind`); `+key`, `++key` and `~key` are Hydra's to judge (and adamw_repro.checks')."""
        if override.is_add() or override.is_force_add() or override.is_delete():
            return
        key, value = override.key_or_group, override.value()
        default = OmegaConf.select(cfg, key, default=_MISSING)
        if default is _MISSING:
            parent = key.rsplit(".", 1)[0] if "." in key else ""
            node = OmegaConf.select(cfg, parent) if parent else None
            known = ", ".join(sorted(node.keys())) if OmegaConf.is_dict(node) else ""
            raise ConfigError(f"override {key!r} does not exist in the config"
                              + (f" (keys of {parent}: {known})" if known else ""))
        if not same_kind(default, value):
            text = override.input_line.split("=", 1)[1] if override.input_line else value
            raise ConfigError(f"{key}={text} is a {type(value).__name__}, but {key} is a "
                              f"{type(default).__name__} (default {default!r})")


class CompositionCache:
    """Hydra's compositions of one conf/ folder on disk, one JSON file each (the config unresolved, as composed,
    and Hydra's group choices), under $ADAMW_REPRO_CACHE or ~/.cache/adamw_repro. The key covers the content of
    every file under conf/ and the versions of Hydra and OmegaConf; an unreadable entry is composed again."""

    def __init__(self, conf_dir: Path):
        self.conf_dir, self._key = conf_dir, None
        root = os.environ.get("ADAMW_REPRO_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or
                                                              Path.home() / ".cache") / "adamw_repro"
        self.folder = Path(root) / "compositions"

    def key(self) -> str:
        """sha256 of conf/'s files (paths and bytes) and the composing libraries' versions."""
        if self._key is None:
            import hydra
            import omegaconf

            h = hashlib.sha256(f"{hydra.__version__} {omegaconf.__version__}".encode())
            for path in sorted(p for p in self.conf_dir.rglob("*") if p.is_file()):
                h.update(str(path.relative_to(self.conf_dir)).encode() + b"\0" + path.read_bytes() + b"\0")
            self._key = h.hexdigest()
        return self._key

    def path(self, choices: tuple[str, ...]) -> Path:
        return self.folder / hashlib.sha256(json.dumps([self.key(), list(choices)]).encode()).hexdigest()[:40]

    def get(self, choices: tuple[str, ...]) -> tuple[dict, dict[str, str]] | None:
        """(the unresolved config as plain Python, Hydra's group choices), or None when not kept or unreadable."""
        try:
            doc = json.loads(self.path(choices).read_text())
            if doc["choices_asked"] != list(choices) or not isinstance(doc["config"], dict):
                return None
            return doc["config"], dict(doc["picked"])
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, choices: tuple[str, ...], config: dict, picked: dict[str, str]) -> None:
        """Keep a composition: `config` is its unresolved plain container (OmegaConf.to_container)."""
        if not _json_exact(config):  # JSON would turn a key 3 into "3": such a config is composed every time
            return
        doc = {"choices_asked": list(choices), "picked": picked, "config": config}
        try:
            runio.write_text(self.path(choices), json.dumps(doc))
        except OSError:  # a read-only home: compose each time, as without the cache
            pass


def _json_exact(node) -> bool:
    """Whether a plain container comes back from JSON as it went in (string keys, JSON's scalar types)."""
    if isinstance(node, dict):
        return all(isinstance(k, str) and _json_exact(v) for k, v in node.items())
    if isinstance(node, list):
        return all(_json_exact(v) for v in node)
    return node is None or isinstance(node, str | bool | int | float)


def apply(cfg: DictConfig, overrides: Iterable) -> None:
    """Set parsed value overrides on a composed config as Hydra does after building the tree (its config
    loader's last step, with OmegaConf's public API): `k=v` sets an existing key (merging dicts), `+k=v` adds a
    new one, `++k=v` adds or sets, `~k` deletes. ConfigError names the override that fails."""
    from omegaconf.errors import OmegaConfBaseException

    for o in overrides:
        key, value, line = o.key_or_group, o.value(), o.input_line
        if o.package is not None:
            raise ConfigError(f"{line} looks like a config group override, but config group {key!r} does "
                              "not exist")
        try:
            current = OmegaConf.select(cfg, key, throw_on_missing=False) if o.is_add() or o.is_delete() else None
            if o.is_delete():
                if current is None:
                    raise ConfigError(f"{line}: could not delete from config: {key!r} does not exist")
                if value is not None and value != current:
                    raise ConfigError(f"{line}: could not delete from config: {key} is {current}, not {value}")
                parent, _, leaf = key.rpartition(".")
                with open_dict(cfg):
                    del (OmegaConf.select(cfg, parent) if parent else cfg)[leaf]
            elif o.is_add() and current is not None and not isinstance(value, dict | list):
                raise ConfigError(f"{line}: could not append to config: an item is already at {key!r}; drop "
                                  f"the + to change it ({line[1:]}), or add a second + to add or change it")
            elif o.is_add() or o.is_force_add():
                OmegaConf.update(cfg, key, value, merge=True, force_add=True)
            else:
                OmegaConf.update(cfg, key, value, merge=True)
        except OmegaConfBaseException as err:
            raise ConfigError(f"{line}: {first_line(err)}") from None


def to_plain(cfg: DictConfig) -> dict:
    """A composed config resolved to plain Python, without its `sweep` node (large, and no run reads it)."""
    out = {}
    for key in cfg:
        if key != "sweep":
            node = cfg[key]
            out[key] = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    return out


def same_kind(default, value) -> bool:
    """Whether an override `value` may replace `default`: numbers for numbers (no float for an int: epochs=2.5
    would fail inside the job), strings for strings, booleans for booleans; anything simple for a null."""
    numeric = (int, float)
    if default is None or value is None:
        return value is None or isinstance(value, numeric + (str, bool, list))
    if not isinstance(default, numeric + (str,)):
        return True  # lists and dicts: Hydra merges them
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, numeric)
    return isinstance(value, str)


def _plain_value_fits(plain: dict | None, override) -> bool:
    """Whether a plain value override `key=value` names a simple value of the resolved config and keeps its
    kind: what `Composer.check_value` accepts, without building the DictConfig. False sends the override to
    check_value (which also words the error)."""
    if plain is None or override.is_add() or override.is_force_add() or override.is_delete():
        return False
    node = plain
    for part in override.key_or_group.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return isinstance(node, _SIMPLE) and node != "???" and same_kind(node, override.value())


def _strings(node):
    """Every string value of a raw (unresolved) container."""
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def _has_interpolation(node) -> bool:
    """Whether a raw (unresolved) container holds any interpolation, ${oc.env:...} included."""
    return any("${" in s for s in _strings(node))


def _interpolates(node) -> bool:
    """Whether a raw (unresolved) container holds an interpolation of another key anywhere."""
    return any("${" in _ENV_ONLY.sub("", s) for s in _strings(node))


def _set_plain(out: dict, override) -> bool:
    """Set a plain value override (`k=v`, v a number, string, boolean or null) in a resolved config as
    OmegaConf.update would; False when it needs Hydra's own handling (a merge, an add or a delete)."""
    value = override.value()
    if override.is_add() or override.is_force_add() or override.is_delete() or not isinstance(value, _SIMPLE) \
            or (isinstance(value, str) and "${" in value):
        return False
    *parents, leaf = override.key_or_group.split(".")
    if (parents or [leaf])[0] == "sweep":
        return True  # a value of the sweep node, which the resolved form leaves out
    node = out
    for part in parents:
        if not isinstance(node.get(part), dict):
            return False
        node = node[part]
    if isinstance(node.get(leaf), dict | list):
        return False
    node[leaf] = value
    return True
