# X belongs to another operator (Internal 0): the short way A-X-B is not a route.
graph [
  node [ id 0 label "A" Latitude 0.0 Longitude 0.0 Internal 1 ]
  node [ id 1 label "B" Latitude 0.0 Longitude 2.0 Internal 1 ]
  node [ id 2 label "X" Latitude 0.0 Longitude 1.0 Internal 0 ]
  node [ id 3 label "C" Latitude 5.0 Longitude 1.0 Internal 1 ]
  edge [ source 0 target 2 ]
  edge [ source 2 target 1 ]
  edge [ source 0 target 3 ]
  edge [ source 3 target 1 ]
]
