"""Small configs shared by the tests (plain dicts: copy before changing them)."""

# a three-node line a → b → c on tiny random models, level 6 → 2
LINE = {
    "name": "t",
    "codec": "random:mbt2018-mean",
    "nodes": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
    "links": [
        {"src": "a", "dst": "b", "bandwidth_mbps": 10, "latency_ms": 1},
        {"src": "b", "dst": "c", "bandwidth_mbps": 10, "latency_ms": 1},
    ],
    "flows": [{"source": "a", "source_level": 6, "destinations": [{"node": "c", "level": 2}]}],
}
# the same line running HCF only
LINE_HCF = {**LINE, "flows": [{**LINE["flows"][0], "methods": ["hcf"]}]}
