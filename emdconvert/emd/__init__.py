"""The EMD engine: everything that knows the Berkeley EMD v0.2 layout on disk.

``writer`` lays out groups, dim vectors and attributes; ``blockcopy`` is the one chunk
pipeline (read-ahead, transpose to x-first, compression, direct chunk writes) both the
batch writer and :class:`~emdconvert.emd.stream.StreamWriter` use; ``compression``
names the codecs; ``spec`` validates a file against the spec; ``hdf5probe`` checks an
HDF5 file's structure before h5py opens it; ``reader`` turns a file back into the
model; ``provenance`` builds and reads the ``comments`` log.  The ``emd`` format plugin
is a thin shell over this package.
"""
