# Speed rule 4a: a speed parsed from LinkLabel (line types, multipliers, ranges).
graph [
  node [ id 0 label "A" ]
  node [ id 1 label "B" ]
  node [ id 2 label "C" ]
  node [ id 3 label "D" ]
  edge [ source 0 target 1 LinkLabel "OC-192c" LinkType "STM-1" ]
  edge [ source 1 target 2 LinkLabel "STM-64x2" ]
  edge [ source 2 target 3 LinkLabel "1-20Gbps" ]
]
