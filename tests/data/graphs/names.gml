# Names node by node: a repeated, an empty and a "None" label fall back to the id; the rest
# keep their labels (entities decoded, accents dropped).
graph [
  node [ id 0 label "Paris" ]
  node [ id 1 label "Paris" ]
  node [ id 2 label "" ]
  node [ id 3 label "None" ]
  node [ id 4 label "Lyon" ]
  node [ id 5 label "Caf&#233; &amp; Bar" ]
  edge [ source 0 target 1 ]
  edge [ source 1 target 2 ]
  edge [ source 2 target 3 ]
  edge [ source 3 target 4 ]
  edge [ source 4 target 5 ]
]
