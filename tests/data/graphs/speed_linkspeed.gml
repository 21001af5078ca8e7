# Speed rule 3: LinkSpeed x LinkSpeedUnits, before the free-text labels.
graph [
  node [ id 0 label "A" ]
  node [ id 1 label "B" ]
  node [ id 2 label "C" ]
  edge [ source 0 target 1 LinkSpeed "622" LinkSpeedUnits "M" LinkLabel "10 Gbps" ]
  edge [ source 1 target 2 LinkSpeed "2.5" LinkSpeedUnits "G" ]
]
