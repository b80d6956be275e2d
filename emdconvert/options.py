"""Conversion options, parsed and checked once, at the edge, before any input is opened.

The CLI (``convert`` and ``watch`` flags), the watch daemon's TOML file and the library
keywords all build a :class:`ConvertOptions` with the same constructor, so a value means
the same everywhere and a bad one is a usage error (exit 2) naming the option, raised
before a file is looked at: ``compression 'gzp': unknown ...``, not ``a.npy: ...`` after
the input was read.  :meth:`ConvertOptions.refuse_unhonoured` then holds the chosen
writer (and reader) to what they declare (``compressions``, ``read_options``,
``write_options``): an option a writer cannot honour is refused, never ignored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emdconvert.budget import DEFAULT_MAX_RATIO, parse_size
from emdconvert.emd.compression import parse as parse_compression
from emdconvert.emd.compression import warn_readers
from emdconvert.emd.writer import AXIS_ORDERS, X_FIRST
from emdconvert.errors import UsageError

if TYPE_CHECKING:
    from emdconvert.plugin import FormatPlugin

#: Format options: ``--option KEY=VALUE`` pairs, or a mapping of them.
FormatOptions = Mapping[str, Any] | Sequence[str] | None


def format_pairs(options: FormatOptions) -> tuple[tuple[str, Any], ...]:
    """``["delimiter=;"]`` or ``{"delimiter": ";"}`` -> ``(("delimiter", ";"),)``.

    A pair without ``=`` or with an empty key is a usage error naming it.
    """
    if options is None:
        return ()
    if isinstance(options, Mapping):
        items = list(options.items())
    else:
        items = []
        for pair in options:
            key, sep, value = str(pair).partition("=")
            if not sep or not key.strip():
                raise UsageError(f"option {pair!r}: takes KEY=VALUE")
            items.append((key.strip(), value))
    for key, _ in items:
        if not isinstance(key, str) or not key:
            raise UsageError(f"option {key!r}: a format option's name must be a non-empty string")
    return tuple(items)


@dataclass(frozen=True)
class ConvertOptions:
    """How to convert, whatever the input: validated (and ``compression`` normalised)
    on construction; :meth:`parse` also takes the textual forms.

    ``compression`` is ``None``/``"none"``, ``"gzip[:0-9]"``, ``"zstd[:1-22]"`` or
    ``"bitshuffle-lz4"`` (stored normalised, e.g. ``"gzip:4"``); ``axis_order`` is
    ``"x-first"`` or ``"c"``; ``threads`` is a positive count or ``None`` (the CPU
    count, at most 8); ``max_bytes`` is a byte count or a size such as ``"500M"``
    (``None``: no limit); ``max_ratio`` is the declared-bytes-per-source-byte limit
    (``None``, or the string ``"none"``, disables it: ``--max-ratio none``; a number
    given as a string, as typed on the command line, is accepted too); ``format_options`` are the
    format-specific options (``KEY=VALUE`` strings or a mapping); ``preview`` also
    draws the output as a PNG beside it (``--preview``).

    >>> ConvertOptions.parse(compression="gzip", max_bytes="1K").compression
    'gzip:4'
    >>> ConvertOptions.parse(compression="gzp")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    emdconvert.errors.UsageError: compression 'gzp': unknown compression; choose ...
    """

    compression: str | None = None
    axis_order: str = X_FIRST
    threads: int | None = None
    max_bytes: int | None = None
    max_ratio: float | None = DEFAULT_MAX_RATIO
    follow_symlinks: bool = False
    format_options: tuple[tuple[str, Any], ...] = field(default=())
    preview: bool = False

    def __post_init__(self) -> None:
        choice = _parsed("compression", self.compression, parse_compression)
        set_ = object.__setattr__  # frozen: normalise in place, once
        set_(self, "compression", None if choice is None else choice.spec)
        warn_readers(choice)
        if self.axis_order not in AXIS_ORDERS:
            raise UsageError(f"axis_order {self.axis_order!r}: choose {' or '.join(AXIS_ORDERS)}")
        if self.threads is not None and (
            isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1
        ):
            raise UsageError(f"threads {self.threads!r}: must be a whole number >= 1")
        if self.max_bytes is not None and (
            isinstance(self.max_bytes, bool)
            or not isinstance(self.max_bytes, int)
            or self.max_bytes < 0
        ):
            raise UsageError(
                f"max_bytes {self.max_bytes!r}: must be a size such as 500M, 64G or a byte count"
            )
        if self.max_ratio is not None and (
            isinstance(self.max_ratio, bool)
            or not isinstance(self.max_ratio, (int, float))
            or not self.max_ratio > 0
        ):
            raise UsageError(
                f"max_ratio {self.max_ratio!r}: must be a number > 0, or None for no limit"
            )
        if not isinstance(self.preview, bool):
            raise UsageError(f"preview {self.preview!r}: must be True or False")
        if not (
            isinstance(self.format_options, tuple)
            and all(
                isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str) and pair[0]
                for pair in self.format_options
            )
        ):
            raise UsageError(
                f"format_options {self.format_options!r}: must be (KEY, "
                "VALUE) pairs (ConvertOptions.parse takes a mapping or "
                "KEY=VALUE strings)"
            )

    @classmethod
    def parse(
        cls,
        *,
        compression: str | None = None,
        axis_order: str = X_FIRST,
        threads: int | None = None,
        max_bytes: int | str | None = None,
        max_ratio: float | str | None = DEFAULT_MAX_RATIO,
        follow_symlinks: bool = False,
        format_options: FormatOptions = None,
        preview: bool = False,
    ) -> ConvertOptions:
        """The options from what a user typed or passed: ``max_bytes`` may be a size
        such as ``"500M"``, ``format_options`` a mapping or ``KEY=VALUE`` strings.  The
        CLI, the watch config and the library keywords all come through here."""
        limit = (
            _parsed("max_bytes", max_bytes, parse_size) if isinstance(max_bytes, str) else max_bytes
        )
        return cls(
            compression,
            axis_order,
            threads,
            limit,
            parse_ratio(max_ratio),
            follow_symlinks,
            format_pairs(format_options),
            preview,
        )

    @property
    def format(self) -> dict[str, Any]:
        """The format options as the dict plugins receive."""
        return dict(self.format_options)

    def recorded(self) -> dict[str, Any]:
        """What provenance records: the options that shape the output."""
        preview = {"preview": "png"} if self.preview else {}
        return {
            "compression": self.compression,
            "axis_order": self.axis_order,
            **preview,
            **self.format,
        }

    def refuse_unhonoured(
        self,
        writer: FormatPlugin | None,
        reader: FormatPlugin | None = None,
        *,
        format_keys: bool = True,
    ) -> None:
        """Refuse (exit 2) an option neither plugin declares, before a byte is read.

        A ``.tif`` asked for ``gzip:9`` or ``--axis-order c`` would otherwise be
        written without them and exit 0.  With ``format_keys=False`` only the writer's
        conversion options are checked (the reader is not chosen yet).
        """
        if writer is not None:
            label = f"the {writer.name} format"
            if self.compression is not None:
                allowed = writer.compressions
                if self.compression.partition(":")[0] not in allowed:
                    honoured = (
                        f"takes only {', '.join(allowed)}" if allowed else "cannot be compressed"
                    )
                    raise UsageError(f"compression {self.compression}: {label} {honoured}")
            if self.axis_order != X_FIRST and "axis_order" not in writer.write_options:
                raise UsageError(
                    f"axis_order {self.axis_order}: {label} has no axis order to choose"
                )
            if self.threads is not None and "threads" not in writer.write_options:
                raise UsageError(f"threads {self.threads}: {label} is not written in parallel")
        if not format_keys:
            return
        takers = [p for p in (reader, writer) if p is not None]
        known = {
            key
            for p in takers
            for key in (p.read_options if p is reader else ())
            + (p.write_options if p is writer else ())
        }
        for key, _ in self.format_options:
            if key not in known:
                names = " and ".join(
                    f"the {p.name} {'reader' if p is reader else 'writer'}" for p in takers
                )
                accepted = ", ".join(sorted(known - {"axis_order", "threads"})) or "none"
                raise UsageError(
                    f"option {key}: {names} take no such option "
                    f"(format options they take: {accepted})"
                )


def _parsed(name: str, value: Any, parse: Any) -> Any:
    """*parse(value)*, its UsageError re-worded to name the option."""
    if value is not None and not isinstance(value, str):
        raise UsageError(f"{name} {value!r}: must be text")
    try:
        return parse(value)
    except UsageError as exc:
        raise UsageError(f"{name} {value!r}: {exc.reason}") from None


def parse_ratio(value: float | str | None) -> float | None:
    """``max_ratio`` as given: a number, ``None``, or text (``"1e4"``, ``"none"``).

    The command line's ``--max-ratio`` and the watch daemon's TOML hand over what the
    user typed; checked here like every other setting (a bad value is a ``UsageError``).
    """
    if not isinstance(value, str):
        return value
    if value.strip().lower() == "none":
        return None
    try:
        return float(value)
    except ValueError:
        raise UsageError(
            f"max_ratio {value!r}: must be a number > 0, or none for no limit"
        ) from None


def ratio_limit(max_ratio: float | str | None, allow_high_ratio: bool) -> float | str | None:
    """``max_ratio`` from ``--max-ratio`` (or the TOML key) and its shorthand
    ``--allow-high-ratio``, which means ``none``; both given and disagreeing is an error."""
    if not allow_high_ratio:
        return DEFAULT_MAX_RATIO if max_ratio is None else max_ratio
    if max_ratio is not None and parse_ratio(max_ratio) is not None:
        raise UsageError(f"--allow-high-ratio contradicts --max-ratio {max_ratio}")
    return None
