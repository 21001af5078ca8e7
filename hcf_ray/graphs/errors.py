"""The one error of :mod:`hcf_ray.graphs`: a graph file that cannot be read or imported."""

from __future__ import annotations

from hcf_ray.errors import InputError


class GraphError(InputError):
    """A graph file that cannot be read or imported: ``str()`` is one line naming the file
    (the command line reports it with exit code 2; :mod:`hcf_ray.sim.graphio` turns it into a
    :class:`~hcf_ray.sim.config.ConfigError` of ``graph.file``)."""
