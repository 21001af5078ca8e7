# Speed rule 2: LinkSpeedRaw (bit/s) wins over LinkSpeed + LinkSpeedUnits and the labels.
graph [
  node [ id 0 label "A" ]
  node [ id 1 label "B" ]
  edge [ source 0 target 1 LinkSpeedRaw 2500000000.0 LinkSpeed "10" LinkSpeedUnits "G" LinkLabel "OC-3" ]
]
