# Latency from coordinates: A and B one degree of longitude apart on the equator.
graph [
  node [ id 0 label "A" Latitude 0.0 Longitude 0.0 ]
  node [ id 1 label "B" Latitude 0.0 Longitude 1.0 ]
  edge [ source 0 target 1 LinkSpeedRaw 1000000000.0 ]
]
