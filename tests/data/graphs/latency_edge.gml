# Latency from the edge's own latency_ms, before the coordinates.
graph [
  node [ id 0 label "A" Latitude 0.0 Longitude 0.0 ]
  node [ id 1 label "B" Latitude 0.0 Longitude 1.0 ]
  edge [ source 0 target 1 latency_ms 7.5 ]
]
