"""Built-in format plugins, installed as ``emdconvert.plugins``.

Each module is advertised in ``[project.entry-points."emdconvert.plugins"]`` of
pyproject.toml, exactly as a third-party plugin would be.
"""
