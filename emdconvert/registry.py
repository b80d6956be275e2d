"""Plugin discovery through the ``emdconvert.plugins`` entry-point group.

Built-ins and third-party formats come through the same mechanism (one code path), so a
third party's plugin is exactly as capable as ours.  A :class:`Registry` is an object
built from entry points; tests build isolated ones from fabricated ``EntryPoint``s.  A
plugin that fails to load is skipped with a warning naming its distribution, so one
broken package can never stop conversions of other formats.
"""

from __future__ import annotations

import functools
import types
import warnings
from collections.abc import Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points

from emdconvert.errors import PluginError, UsageError
from emdconvert.plugin import FormatPlugin

GROUP = "emdconvert.plugins"
_BUILTIN_PREFIX = "emdconvert.plugins."


class Registry:
    """Plugins by name, loaded lazily from entry points on first use."""

    def __init__(self, eps: Iterable[EntryPoint]) -> None:
        self._eps = list(eps)
        self._plugins: dict[str, FormatPlugin] | None = None
        self._dists: dict[str, str] = {}

    def _load(self) -> dict[str, FormatPlugin]:
        if self._plugins is not None:
            return self._plugins
        plugins: dict[str, FormatPlugin] = {}
        # Built-ins first so that, on a name clash, the built-in wins by default.
        ordered = sorted(self._eps, key=lambda ep: not ep.value.startswith(_BUILTIN_PREFIX))
        for ep in ordered:
            dist = _dist_label(ep)
            try:
                cls = ep.load()
                plugin = cls()
            except Exception as exc:  # a broken third-party plugin must not break us
                warnings.warn(f"emdconvert: skipping plugin {ep.name!r} from {dist}: "
                              f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=2)
                continue
            if getattr(plugin, "name", None) != ep.name:
                warnings.warn(f"emdconvert: skipping plugin {ep.name!r} from {dist}: its "
                              f"class says name={getattr(plugin, 'name', None)!r}",
                              RuntimeWarning, stacklevel=2)
                continue
            if ep.name in plugins:
                warnings.warn(f"emdconvert: two plugins are named {ep.name!r} "
                              f"({self._dists[ep.name]} and {dist}); using "
                              f"{self._dists[ep.name]}", RuntimeWarning, stacklevel=2)
                continue
            plugins[ep.name] = plugin
            self._dists[ep.name] = dist
        if not plugins:
            msg = ("no format plugins found; is emdconvert installed? "
                   "run: pip install -e .")
            raise PluginError(msg)
        self._plugins = plugins
        return plugins

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
            msg = (f"unknown format {name!r}; installed formats: "
                   f"{', '.join(sorted(plugins))}")
            raise UsageError(msg) from None

    def readers(self) -> list[FormatPlugin]:
        """Plugins that can read, highest priority first."""
        return sorted((p for p in self._load().values() if p.can_read),
                      key=lambda p: (-p.priority, p.name))

    def writers(self) -> list[FormatPlugin]:
        """Plugins that can write, highest priority first."""
        return sorted((p for p in self._load().values() if p.can_write),
                      key=lambda p: (-p.priority, p.name))


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
