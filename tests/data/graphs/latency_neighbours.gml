# C has no coordinates: placed at the centroid of its located neighbours A and B.
graph [
  node [ id 0 label "A" Latitude 0.0 Longitude 0.0 ]
  node [ id 1 label "B" Latitude 0.0 Longitude 20.0 ]
  node [ id 2 label "C" ]
  edge [ source 0 target 2 ]
  edge [ source 2 target 1 ]
]
