"""Real networks in: Topology Zoo GML / GraphML, SNDlib (native and XML) and Rocketfuel files
read into one :class:`~hcf_ray.graphs.model.ImportedNetwork`, every link's speed and latency
with its provenance. Loads no models (neither torch nor Ray)."""
