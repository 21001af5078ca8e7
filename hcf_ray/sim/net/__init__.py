"""The simulated network: cost model, pricing and the discrete-event network."""
