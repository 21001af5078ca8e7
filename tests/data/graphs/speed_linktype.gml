# Speed rule 4b: LinkType when LinkLabel has no speed in it.
graph [
  node [ id 0 label "A" ]
  node [ id 1 label "B" ]
  edge [ source 0 target 1 LinkLabel "backbone" LinkType "OC-48" ]
]
