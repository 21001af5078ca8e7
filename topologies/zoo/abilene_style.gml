graph [
  comment "Hand-written in the Internet Topology Zoo GML layout (Abilene-like US backbone, approximate coordinates); not a copy of a Zoo file"
  DateObtained "n/a"
  Network "Abilene-style"
  directed 0
  multigraph 1
  node [ id 0 label "New York" Latitude 40.71 Longitude -74.01 ]
  node [ id 1 label "Chicago" Latitude 41.88 Longitude -87.63 ]
  node [ id 2 label "Washington DC" Latitude 38.91 Longitude -77.04 ]
  node [ id 3 label "Seattle" Latitude 47.61 Longitude -122.33 ]
  node [ id 4 label "Sunnyvale" Latitude 37.37 Longitude -122.04 ]
  node [ id 5 label "Los Angeles" Latitude 34.05 Longitude -118.24 ]
  node [ id 6 label "Denver" Latitude 39.74 Longitude -104.99 ]
  node [ id 7 label "Kansas City" Latitude 39.10 Longitude -94.58 ]
  node [ id 8 label "Houston" Latitude 29.76 Longitude -95.37 ]
  node [ id 9 label "Atlanta" Latitude 33.75 Longitude -84.39 ]
  node [ id 10 label "Indianapolis" Latitude 39.77 Longitude -86.16 ]
  edge [ source 0 target 1 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 0 target 2 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 1 target 10 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 2 target 9 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 9 target 10 LinkSpeed "2.5" LinkSpeedUnits "G" LinkSpeedRaw 2500000000.0 ]
  edge [ source 9 target 8 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 10 target 7 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 7 target 8 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 7 target 6 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 8 target 5 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 6 target 4 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 6 target 3 LinkSpeed "2.5" LinkSpeedUnits "G" LinkSpeedRaw 2500000000.0 ]
  edge [ source 3 target 4 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 4 target 5 LinkSpeed "10" LinkSpeedUnits "G" LinkSpeedRaw 10000000000.0 ]
  edge [ source 4 target 5 LinkSpeed "2.5" LinkSpeedUnits "G" LinkSpeedRaw 2500000000.0 ]
]
