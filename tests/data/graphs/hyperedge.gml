# H is a shared medium (hyperedge 1) joining A, B and C; B-C also have a direct link.
graph [
  node [ id 0 label "A" Latitude 0.0 Longitude 0.0 ]
  node [ id 1 label "B" Latitude 0.0 Longitude 1.0 ]
  node [ id 2 label "C" Latitude 0.0 Longitude 3.0 ]
  node [ id 3 label "H" hyperedge 1 ]
  edge [ source 0 target 3 LinkSpeedRaw 1000000000.0 ]
  edge [ source 1 target 3 LinkSpeedRaw 10000000000.0 ]
  edge [ source 2 target 3 LinkSpeedRaw 10000000000.0 ]
  edge [ source 1 target 2 LinkSpeedRaw 2500000000.0 ]
]
