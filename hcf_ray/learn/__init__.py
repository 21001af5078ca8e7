"""``hcf-sim learn``: a policy learned with RLlib PPO on :mod:`hcf_ray.gym`'s environment,
exported as a pure-numpy policy file.

Only :mod:`hcf_ray.learn.train` imports RLlib (when the command runs); the exported policy
(:mod:`hcf_ray.learn.numpy_policy`) needs numpy and this package, neither torch nor RLlib.
"""
