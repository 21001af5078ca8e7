# Speed rule 1: the edge's own bandwidth_mbps wins over every other speed attribute.
graph [
  node [ id 0 label "A" ]
  node [ id 1 label "B" ]
  edge [ source 0 target 1 bandwidth_mbps 250 LinkSpeedRaw 1000000000.0 LinkLabel "OC-192" ]
]
