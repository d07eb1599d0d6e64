"""Results as labelled arrays: an ``xarray.Dataset`` with named dimensions and the configuration in its attributes.

The files on disk stay npz + JSON (``validation.common.results``); this is a view of them
for notebooks. Each experiment declares the dimension names of its arrays once
(a mapping ``array name -> tuple of dimension names``) and, optionally, coordinates.
Arrays not named in the mapping get dimensions ``<name>_dim0, …``, so nothing is dropped.

xarray is an optional dependency (``pip install representation-mergers[xarray]``);
netCDF export through ``Dataset.to_netcdf(path, engine="scipy")`` needs nothing more; that
engine also keeps array names such as ``"final/W_hh"`` (the netCDF4 engine would refuse the ``/``).
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from validation.common.results import Results


def _xarray():
    # Imported on use: xarray is an optional extra, and the rest of the toolkit must not need it.
    try:
        import xarray
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ImportError("labelled results need xarray: pip install 'representation-mergers[xarray]'") from None
    return xarray


def _attr(value: Any) -> Any:
    """netCDF attributes are scalars, strings or 1-D arrays: nested values become JSON strings."""
    if isinstance(value, (str, int, float, np.integer, np.floating)):
        return value
    if isinstance(value, bool):
        return int(value)
    return json.dumps(value, sort_keys=True, default=str)


def to_dataset(results: Results, dims: Mapping[str, Sequence[str]],
               coords: Mapping[str, Any] | None = None) -> Any:
    """``xarray.Dataset`` of every array of ``results``; ``attrs`` hold the experiment, config and provenance.

    ``dims[name]`` names the axes of array ``name``; ``coords`` maps a dimension name to
    its coordinate values. A declared array whose number of axes differs from its
    dimension names raises ``ValueError`` naming the array and the file.
    """
    xr = _xarray()
    data_vars = {}
    for name, array in results.arrays.items():
        names = tuple(dims.get(name, tuple(f"{name}_dim{i}" for i in range(array.ndim))))
        if len(names) != array.ndim:
            raise ValueError(f"{results.npz}: array {name!r} has {array.ndim} axes, expected {len(names)} {names}")
        data_vars[name] = (names, array)
    ds = xr.Dataset(data_vars, coords={k: np.asarray(v) for k, v in (coords or {}).items()})
    ds.attrs = {key: _attr(value) for key, value in results.meta.items()}
    return ds

