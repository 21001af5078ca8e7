# D and E have no coordinates and no located node in reach: the default latency.
graph [
  node [ id 0 label "A" Latitude 0.0 Longitude 0.0 ]
  node [ id 1 label "B" Latitude 0.0 Longitude 1.0 ]
  node [ id 2 label "D" ]
  node [ id 3 label "E" ]
  edge [ source 0 target 1 ]
  edge [ source 2 target 3 ]
]
