"""Choosing the plugin for a file: the extension proposes, the content decides.

Order (README, Command line: Detection): an explicit plugin (a name, ``module:Class``,
a class or an instance) wins; otherwise the plugins claiming the file's extension are
asked in priority order; otherwise every reader is asked, so a mislabelled file still
converts (with a warning); otherwise a one-line error names the file, what was tried
and what is installed.
"""

from __future__ import annotations

import logging
from pathlib import Path

from emdconvert.errors import InputError, UnknownFormatError
from emdconvert.plugin import HEAD_BYTES, FormatPlugin
from emdconvert.registry import PluginSpec, Registry, default_registry
from emdconvert.remedies import remedy
from emdconvert.sources import FOLDER_FORMATS, expand

log = logging.getLogger(__name__)


def suffix_of(path: Path) -> str:
    """Lower-cased extension with its dot (``.DM4`` -> ``.dm4``)."""
    return path.suffix.lower()


def read_head(path: Path, size: int = HEAD_BYTES) -> bytes:
    """The first *size* bytes of *path*, read once for every plugin's ``sniff``."""
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path=path) from None
    except FileNotFoundError:
        raise InputError("no such file", path=path) from None
    except PermissionError:
        raise InputError("permission denied", path=path) from None


def _safe_sniff(plugin: FormatPlugin, path: Path, head: bytes) -> bool:
    try:
        return bool(plugin.sniff(path, head))
    except Exception as exc:  # sniff must never raise; treat a bug as "not mine"
        log.warning(
            "%s: the %s plugin's sniff failed (%s); skipping it", path.name, plugin.name, exc
        )
        return False


def _named(registry: Registry, spec: PluginSpec, path: Path, reading: bool) -> FormatPlugin:
    """The plugin the user named (``--from``/``--to``), if it can read (or write)."""
    plugin = registry.resolve(spec)
    if not (plugin.can_read if reading else plugin.can_write):
        verb = "read" if reading else "written"
        raise UnknownFormatError(f"the {plugin.name} format cannot be {verb}", path=path)
    return plugin


def choose_reader(
    path: Path, plugin: PluginSpec | None = None, registry: Registry | None = None
) -> FormatPlugin:
    """The plugin that will read *path*; *plugin* (a name, ``module:Class``, a class or
    an instance) forces one, like ``--from``."""
    registry = registry or default_registry()
    if plugin is not None:
        return _named(registry, plugin, path, reading=True)
    readers = registry.readers()
    if path.is_dir() and suffix_of(path) in FOLDER_FORMATS:
        return _choose_folder_format_reader(path, readers)
    if not path.is_file():
        return _choose_stack_reader(path, readers)
    head = read_head(path)
    if not head:
        raise InputError("file is empty", path=path)
    suffix = suffix_of(path)
    proposed = [p for p in readers if suffix in p.extensions]
    for plugin in proposed:
        if _safe_sniff(plugin, path, head):
            return plugin
    others = [p for p in readers if p not in proposed]
    for plugin in others:
        if _safe_sniff(plugin, path, head):
            log.warning(
                "%s: content is %s although the extension says %s",
                path.name,
                plugin.name,
                "/".join(p.name for p in proposed) or repr(suffix),
            )
            return plugin
    tried = ", ".join(p.name for p in proposed + others)
    installed = ", ".join(registry.names())
    msg = (
        f"unrecognised format (tried {tried}; installed formats: {installed}); "
        f"{remedy('reader')} forces one"
    )
    raise UnknownFormatError(msg, path=path)


def _choose_folder_format_reader(path: Path, readers: list[FormatPlugin]) -> FormatPlugin:
    """A folder that is one dataset (a ``.zspy`` zarr store): a plugin claiming its
    suffix must recognise the folder itself (``sniff`` gets the folder, no head)."""
    for plugin in (p for p in readers if suffix_of(path) in p.extensions):
        if _safe_sniff(plugin, path, b""):
            return plugin
    raise UnknownFormatError(
        f"not a {suffix_of(path)} store that an installed format reads", path=path
    )


def _choose_stack_reader(path: Path, readers: list[FormatPlugin]) -> FormatPlugin:
    """A folder or glob: one of the plugins that read a sequence of files as a stack."""
    stackers = [p for p in readers if p.reads_stacks]
    files = expand(path)
    if not files:
        raise InputError("no files here to convert", path=path)
    head = read_head(files[0])
    for plugin in stackers:
        if _safe_sniff(plugin, path, head):
            return plugin
    names = ", ".join(p.name for p in stackers) or "none installed"
    msg = f"no plugin reads these files as one stack (tried {names}); convert them one by one"
    raise UnknownFormatError(msg, path=path)


def choose_writer(
    path: Path, plugin: PluginSpec | None = None, registry: Registry | None = None
) -> FormatPlugin:
    """The plugin that will write *path*; *plugin* forces one, like ``--to``."""
    registry = registry or default_registry()
    if plugin is not None:
        return _named(registry, plugin, path, reading=False)
    suffix = suffix_of(path)
    for plugin in registry.writers():
        if suffix in plugin.extensions:
            return plugin
    writable = ", ".join(f"{p.name} ({' '.join(p.extensions)})" for p in registry.writers())
    msg = (
        f"no installed format writes {suffix or 'files without an extension'!r}; "
        f"writable formats: {writable}; {remedy('writer')} chooses one"
    )
    raise UnknownFormatError(msg, path=path)
