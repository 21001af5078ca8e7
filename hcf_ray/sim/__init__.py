"""The Ray cluster simulator: topology YAML → planned cascades → node actors → results.

Layers (each module small and single-purpose):

* ``config`` / ``graphio`` — typed YAML models, GraphML/GML import, one-line errors;
* ``topology`` — NetworkX graph, shortest-path routing, multicast trees;
* ``treelevels`` / ``methods`` / ``planner`` — levels per link, the method registry, per-node
  jobs (shared prefixes at forks); ``scenario`` — everything checked, nothing started;
* ``network`` / ``timeline`` — the virtual-clock link and node model;
* ``actors`` / ``pool`` / ``driver`` — Ray node actors and the run loop; ``report`` —
  summary and tables; ``sweep`` — generated networks; ``cli`` — ``run``/``validate``/``sweep``.

Import from the submodules (``hcf_ray.sim.scenario.load_scenario``,
``hcf_ray.sim.driver.run_simulation``); this package stays import-light so ``hcf-sim``
builds its parser without torch.
"""
