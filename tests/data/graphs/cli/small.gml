graph [
  comment "hcf-sim graph tests: 5 nodes, 7 file edges, 6 links; expected numbers in tests/test_graph_cli.py"
  multigraph 1
  node [ id 0 label "Alpha" Latitude 0.0 Longitude 0.0 ]
  node [ id 1 label "Beta" Latitude 0.0 Longitude 1.0 ]
  node [ id 2 label "Gamma" Latitude 1.0 Longitude 1.0 ]
  node [ id 3 label "Delta" Latitude 1.0 Longitude 0.0 ]
  node [ id 4 label "Epsilon" Latitude -1.0 Longitude 0.0 ]
  edge [ source 0 target 1 LinkSpeedRaw 1000000000 ]
  edge [ source 1 target 2 LinkLabel "OC-192" latency_ms 2.5 ]
  edge [ source 2 target 3 bandwidth_mbps 40 latency_ms 7 ]
  edge [ source 3 target 4 latency_ms 1 ]
  edge [ source 0 target 4 LinkSpeed 10 LinkSpeedUnits "G" latency_ms 3 ]
  edge [ source 1 target 3 LinkSpeedRaw 1000000000 latency_ms 6 ]
  edge [ source 1 target 3 LinkSpeedRaw 1000000000 latency_ms 4 ]
]
