"""Plugin discovery through the ``emdconvert.plugins`` entry-point group.

Built-ins and third-party formats come through the same mechanism (one code path), so a
third party's plugin is exactly as capable as ours.  A :class:`Registry` is an object
built from entry points; tests build isolated ones from fabricated ``EntryPoint``s.  A
plugin that fails to load is skipped with a warning naming its distribution, so one
broken package can never stop conversions of other formats, and a malformed one (not
the whole :class:`~emdconvert.plugin.FormatPlugin` contract) is skipped the same way.
Plugins can also be added without packaging: :meth:`Registry.register`, or named
wherever a plugin name is taken (:data:`PluginSpec`).
"""

from __future__ import annotations

import functools
import importlib
import types
import warnings
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any, TypeVar

from emdconvert.errors import PluginError, UsageError
from emdconvert.plugin import FormatPlugin, validate_plugin

GROUP = "emdconvert.plugins"
_BUILTIN_PREFIX = "emdconvert.plugins."


#: What may name a plugin wherever one is chosen (``read(path, reader=...)``,
#: ``--from``): an installed plugin's name, ``"module:Class"``, a class, or an instance.
PluginSpec = str | FormatPlugin | type[Any]

T = TypeVar("T")

_RUNTIME = "registered at run time"


class Registry:
    """Plugins by name: entry points, loaded lazily on first use, and plugins given
    to :meth:`register`.  Every plugin is validated (:func:`validate_plugin`)."""

    def __init__(self, eps: Iterable[EntryPoint]) -> None:
        self._eps = list(eps)
        self._plugins: dict[str, FormatPlugin] | None = None
        self._dists: dict[str, str] = {}

    def _load_entry_points(self) -> dict[str, FormatPlugin]:
        if self._plugins is not None:
            return self._plugins
        plugins: dict[str, FormatPlugin] = {}
        # Built-ins first so that, on a name clash, the built-in wins by default.
        ordered = sorted(self._eps, key=lambda ep: not ep.value.startswith(_BUILTIN_PREFIX))
        for ep in ordered:
            dist = _dist_label(ep)
            try:
                plugin = validate_plugin(ep.load()(), dist)
            except Exception as exc:  # a broken third-party plugin must not break us
                warnings.warn(
                    f"emdconvert: skipping plugin {ep.name!r} from {dist}: "
                    f"{type(exc).__name__}: {exc}",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            if plugin.name != ep.name:
                warnings.warn(
                    f"emdconvert: skipping plugin {ep.name!r} from {dist}: its "
                    f"class says name={plugin.name!r}",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            if ep.name in plugins:
                warnings.warn(
                    f"emdconvert: two plugins are named {ep.name!r} "
                    f"({self._dists[ep.name]} and {dist}); using "
                    f"{self._dists[ep.name]}",
                    RuntimeWarning,
                    stacklevel=3,
                )
                continue
            plugins[ep.name] = plugin
            self._dists[ep.name] = dist
        self._plugins = plugins
        return plugins

    def _load(self) -> dict[str, FormatPlugin]:
        plugins = self._load_entry_points()
        if not plugins:
            msg = "no format plugins found; is emdconvert installed? run: pip install -e ."
            raise PluginError(msg)
        return plugins

    def register(self, plugin: T, *, replace: bool = False) -> T:
        """Add *plugin* (a class, instantiated here, or an instance) without packaging.

        It is validated like an entry-point plugin, then detection, ``--from``/``--to``
        names and ``emdconvert formats`` see it like an installed one.  A malformed
        plugin, or a name already taken (unless *replace*), raises
        :class:`~emdconvert.errors.PluginError`.  Returns *plugin*, so it also works as
        a class decorator.  :func:`refresh` forgets it along with the cache.
        """
        instance = instantiate(plugin, "")
        plugins = self._load_entry_points()
        if instance.name in plugins and not replace:
            msg = (
                f"cannot register {_label(instance)}: a plugin named {instance.name!r} "
                f"is already there ({self._dists[instance.name]})"
            )
            raise PluginError(msg)
        plugins[instance.name] = instance
        self._dists[instance.name] = _RUNTIME
        return plugin

    @property
    def plugins(self) -> Mapping[str, FormatPlugin]:
        """Read-only view of the loaded plugins by name."""
        return types.MappingProxyType(self._load())

    def names(self) -> list[str]:
        return sorted(self._load())

    def distribution(self, name: str) -> str:
        """``"dist version"`` of the package that provides plugin *name*."""
        self._load()
        return self._dists[name]

    def get(self, name: str) -> FormatPlugin:
        """The plugin called *name*; an unknown name lists what is installed."""
        plugins = self._load()
        try:
            return plugins[name]
        except KeyError:
            msg = f"unknown format {name!r}; installed formats: {', '.join(sorted(plugins))}"
            raise UsageError(msg) from None

    def resolve(self, spec: PluginSpec) -> FormatPlugin:
        """The plugin *spec* names: an installed name, ``"module:Class"`` (imported and
        instantiated), a plugin class (instantiated) or an instance; validated.

        A name nobody provides or a ``module:Class`` that cannot be imported is a
        :class:`~emdconvert.errors.UsageError`; a malformed plugin a
        :class:`~emdconvert.errors.PluginError`.
        """
        if isinstance(spec, str):
            if ":" not in spec:
                return self.get(spec)
            return instantiate(import_plugin(spec), spec)
        return instantiate(spec, "")

    def readers(self) -> list[FormatPlugin]:
        """Plugins that can read, highest priority first."""
        return sorted(
            (p for p in self._load().values() if p.can_read), key=lambda p: (-p.priority, p.name)
        )

    def writers(self) -> list[FormatPlugin]:
        """Plugins that can write, highest priority first."""
        return sorted(
            (p for p in self._load().values() if p.can_write), key=lambda p: (-p.priority, p.name)
        )


def import_plugin(spec: str) -> type[Any]:
    """The class ``"module:Class"`` names (``Class`` may be dotted); a spec that names
    no importable class is a :class:`~emdconvert.errors.UsageError` naming it."""
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"plugin {spec!r}: expected a name or module:Class")
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:
        msg = f"plugin {spec!r}: cannot import {module_name}: {type(exc).__name__}: {exc}"
        raise UsageError(msg) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise UsageError(f"plugin {spec!r}: {module_name} has no {attribute}") from None
    if not isinstance(target, type):
        raise UsageError(f"plugin {spec!r}: {attribute} is not a class")
    return target


def instantiate(plugin: object, origin: str) -> FormatPlugin:
    """*plugin* validated, instantiated first if it is a class."""
    if isinstance(plugin, type):
        cls = plugin
        try:
            plugin = cls()
        except Exception as exc:
            where = f" from {origin}" if origin else ""
            msg = f"plugin {_label(cls)}{where} cannot start: {type(exc).__name__}: {exc}"
            raise PluginError(msg) from exc
    return validate_plugin(plugin, origin)


def spec_label(spec: PluginSpec | None) -> str | None:
    """How *spec* is recorded in provenance: its name, or ``module:Class`` for a class
    or an instance given directly."""
    if spec is None or isinstance(spec, str):
        return spec
    return _label(spec)


def _label(plugin: object) -> str:
    cls = plugin if isinstance(plugin, type) else type(plugin)
    return f"{cls.__module__}:{cls.__qualname__}"


def _dist_label(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "an unknown distribution"
    return f"{dist.name} {dist.version}"


@functools.cache
def default_registry() -> Registry:
    """The registry of everything installed in this environment (cached)."""
    return Registry(entry_points(group=GROUP))


def refresh() -> None:
    """Forget the cached registry, e.g. after installing a plugin in-process."""
    default_registry.cache_clear()


def register(plugin: T, *, replace: bool = False) -> T:
    """Add *plugin* to :func:`default_registry` (see :meth:`Registry.register`)."""
    return default_registry().register(plugin, replace=replace)
