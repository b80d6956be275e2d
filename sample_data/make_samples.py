"""Write the small sample files in this folder with emdconvert's own writers.

Run ``python sample_data/make_samples.py`` to regenerate them; the outputs are
committed so the README's first command works on a fresh clone.  The data are
synthetic (a drifting lattice image series and an EELS-like spectrum image), made
deterministic by a fixed seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import emdconvert
from emdconvert import Dataset, Dim, EMDFile

HERE = Path(__file__).resolve().parent


def lattice_series(frames: int = 8, size: int = 64) -> np.ndarray:
    """A (frame, y, x) uint16 series of a drifting square lattice with shot noise."""
    rng = np.random.default_rng(2026)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    series = np.empty((frames, size, size), np.uint16)
    for i in range(frames):
        shift = 0.4 * i
        image = 1000 + 800 * (np.cos(2 * np.pi * (x + shift) / 8) ** 2
                              * np.cos(2 * np.pi * (y - shift) / 8) ** 2)
        series[i] = rng.poisson(image).astype(np.uint16)
    return series


def spectrum_image(ny: int = 6, nx: int = 8, channels: int = 256) -> np.ndarray:
    """A (y, x, energy) float32 spectrum image: a power-law background plus one edge."""
    rng = np.random.default_rng(7)
    energy = 280.0 + 0.5 * np.arange(channels)
    background = 5e6 * energy ** -2.5
    edge = np.where(energy > 284.0, 40.0 * np.exp(-(energy - 284.0) / 60.0), 0.0)
    weight = rng.uniform(0.5, 1.5, (ny, nx, 1))
    return (background + weight * edge + rng.normal(0, 0.5, (ny, nx, channels))
            ).astype(np.float32)


def main() -> None:
    np.save(HERE / "lattice_series.npy", lattice_series())
    data = spectrum_image()
    dims = (Dim.uniform("y", size=data.shape[0], scale=2.5, units="nm"),
            Dim.uniform("x", size=data.shape[1], scale=2.5, units="nm"),
            Dim.uniform("energy loss", size=data.shape[2], scale=0.5, offset=280.0,
                        units="eV"))
    model = EMDFile((Dataset("eels_si", data, dims, units="counts"),),
                    microscope={"voltage_V": 200000.0, "microscope_name": "synthetic"},
                    sample={"sample_name": "amorphous carbon (simulated)"},
                    user={"operator_name": "emdconvert sample generator"})
    emdconvert.write(model, HERE / "spectrum_image.emd", overwrite=True)


if __name__ == "__main__":
    main()
