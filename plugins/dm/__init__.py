"""Gatan DigitalMicrograph DM3/DM4: import via RosettaSciIO, export as GMS documents.

Format notes: rsciio's ``digitalmicrograph`` tag-tree parser (the one HyperSpy uses)
finds the images, axes, metadata and byte offsets; plain image data are then streamed
with ``pread`` (:class:`~emdconvert.lazy.RawFileArray`), so a large DM4 converts in
bounded memory at the speed of a ``.npy``.  RGB(A) images, which rsciio cannot read
lazily, are read whole; packed-complex ones go through rsciio's lazy path.  Length-1
axes are dropped as rsciio's own ``squeeze`` post-process drops them, so a spectrum
stored as N x 1 is 1-D in the output too (:func:`~emdconvert.plugins.dm.axes.kept_axes`).
Spectrum images, which DigitalMicrograph stores channel-first, get their channel axis
last, as rsciio's ``to_signal1D`` post-process gives them to HyperSpy
(:func:`~emdconvert.plugins.dm.axes.hyperspy_axes`); plain ones are then read through
:class:`~emdconvert.plugins.dm.arrays.SignalLastArray`, a blockwise transpose of long
reads.

Metadata (README, Formats, ``dm``): the common Microscope Info / Acquisition / DataBar /
Session Info / EELS tags become readable attributes of the ``microscope``, ``sample`` and
``user`` groups, and the whole original tag tree is kept as JSON on the dataset group.
RGB(A) images become a trailing ``channel`` axis (``signals.signal_to_dataset``).
rsciio's own ``metadata`` is nearly empty for DM files (HyperSpy applies the mapping), so
the tag paths are read directly here.

Modules: ``header`` (the file header: declared length, version and byte-order words,
for the completeness check without rsciio), ``images`` (rsciio's tag-tree parse, the
Data tag check and each image's data, streamed where it can be), ``axes`` (which array
axes ``hs.load`` keeps, in which order), ``arrays`` (the lazy native-order and
channel-last views of the file's bytes), ``metadata`` (DM tags to readable attributes),
``plugin`` (the :class:`DMPlugin` shell).  Writing: ``writer`` (checks, version by
suffix, streaming of the Data array), ``layout`` (the GMS document tag tree),
``tagvalues`` (plain tag values back to typed tags), ``tagfile`` (the binary encoder),
``thumbnail`` (the small RGB preview).
"""

from __future__ import annotations

from emdconvert.plugins.dm.plugin import DMPlugin

__all__ = ["DMPlugin"]
