# Parallel edges without "multigraph 1" (as many Zoo files have them).
graph [
  node [ id 0 label "A" Latitude 0.0 Longitude 0.0 ]
  node [ id 1 label "B" Latitude 0.0 Longitude 1.0 ]
  node [ id 2 label "C" Latitude 0.0 Longitude 2.0 ]
  edge [ source 0 target 1 LinkSpeedRaw 1000000000.0 latency_ms 0.3 ]
  edge [ source 1 target 0 LinkSpeedRaw 1000000000.0 ]
  edge [ source 0 target 1 LinkSpeedRaw 2500000000.0 ]
  edge [ source 1 target 2 LinkSpeedRaw 1000000000.0 ]
  edge [ source 1 target 2 ]
]
