"""Codec work: content-addressed cache, lineage keys and the actor pool that computes misses."""
