"""hcf-sim: a Ray cluster simulator for distributed multi-stage learned image compression (HCF)."""

__version__ = "0.1.0"
