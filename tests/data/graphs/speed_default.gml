# Speed rule 5: no speed anywhere, so the configured default.
graph [
  node [ id 0 label "A" ]
  node [ id 1 label "B" ]
  edge [ source 0 target 1 LinkLabel "backbone" LinkNote "fibre" ]
]
