"""The mixed-device rule: a learned latent is entropy-decoded on the same kind of device that
coded it.

A hyperprior codec derives the Gaussian scales (and means) of ``y`` from ``z`` with ``h_s``;
encoder and decoder must compute *bit-identical* scales, or the rANS decoder reads other
symbols than were written. On a GPU, ``h_s`` gives slightly different floats than on a CPU,
so a stream coded on a GPU node can decode to garbage on a CPU node and vice versa (a known
failure mode of learned codecs). With one actor per node (``placement: dedicated``) the
simulator therefore refuses a plan in which a node entropy-codes a latent that a node on the
other kind of device entropy-decodes, naming both nodes, before any image is sent. Exempt:
``transport: latent`` (the receiver gets ``ŷ`` itself, nothing is entropy-decoded), the
progressive / classical baselines (their codecs run on the CPU everywhere) and relays that
only forward the bytes. The pool (``placement: pool``, the default) is homogeneous: every
pool actor gets the same share of the cluster's GPUs, so it never mixes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from hcf_ray.sim.planner import FlowPlan


def coded_links(plan: FlowPlan) -> list[tuple[str, str]]:
    """(coding node, decoding node) of every learned bitstream of a plan: the node that ran
    the sending stage, and the next node that does not just forward it."""
    pairs = []
    for job in plan.jobs:
        if job.input is None:
            continue
        for br in job.branches:
            if br.forward or br.stage.baseline is not None or br.stage.receive is None:
                continue
            sender = plan.jobs[job.input[0]]
            parent_branch = job.input[1]
            while sender.branches[parent_branch].forward and sender.input is not None:
                sender, parent_branch = plan.jobs[sender.input[0]], sender.input[1]
            pairs.append((sender.node, job.node))
            break
    return list(dict.fromkeys(pairs))


def mixed_device_links(
    plans: Iterable[FlowPlan], device_of: Mapping[str, str], transport: str = "bitstream"
) -> list[tuple[FlowPlan, str, str]]:
    """Every (plan, coder, decoder) whose two nodes compute on different kinds of device
    (``cpu`` / ``cuda``)."""
    if transport == "latent":
        return []
    bad = []
    for plan in plans:
        for src, dst in coded_links(plan):
            a, b = _kind(device_of.get(src)), _kind(device_of.get(dst))
            if a and b and a != b:
                bad.append((plan, src, dst))
    return bad


def check_devices(
    plans: Iterable[FlowPlan], device_of: Mapping[str, str], transport: str = "bitstream"
) -> None:
    """Raise ``ValueError`` (one line) for the first mixed-device link of the plans."""
    bad = mixed_device_links(plans, device_of, transport)
    if not bad:
        return
    plan, src, dst = bad[0]
    more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
    raise ValueError(
        f"flow {plan.flow} ({plan.method}): node {src!r} ({device_of[src]}) entropy-codes what "
        f"node {dst!r} ({device_of[dst]}) decodes{more}; learned entropy coding is not "
        "bit-exact across CPU and GPU: give both the same num_gpus, or use transport: latent"
    )


def _kind(device: str | None) -> str | None:
    if device is None:
        return None
    return "cuda" if str(device).startswith("cuda") else "cpu"
