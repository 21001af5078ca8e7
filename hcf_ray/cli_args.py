"""What several ``hcf-sim`` commands share: the model-spec and ``--device`` arguments, and a
parser whose sub-commands can wait until their command is used.

Light on purpose (argparse and the package's errors): the command modules use it to build
their parsers; torch is imported only when a command runs.
"""

from __future__ import annotations

import argparse

from hcf_ray.errors import UserError

MODEL_SPECS = (
    "model spec: 'default', a model directory (or a bundle exported by train hcf), "
    "zoo:ARCH[@Q1-Q2] (CompressAI pretrained, from torch hub's cache) or "
    "random:ARCH[:N[:M[:LEVELS]]]"
)


class CommandParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that completes itself when it is used: :meth:`defer` queues a
    function ``f(parser)`` that adds arguments or sub-commands, run before this parser parses
    a command line or prints its help. So ``hcf-sim --help`` and the other commands never
    import what only this command's parsers need."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._deferred: list = []

    def defer(self, add) -> None:
        self._deferred.append(add)

    def _complete(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(self, args=None, namespace=None):
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._complete()
        return super().format_help()


def defer(parser: argparse.ArgumentParser, add) -> None:
    """``add(parser)`` when ``parser`` is used (a :class:`CommandParser`), else now."""
    if isinstance(parser, CommandParser):
        parser.defer(add)
    else:
        add(parser)


def torch_device(args: argparse.Namespace) -> str:
    """``--device``: ``auto`` is CUDA when torch sees a GPU, else the CPU."""
    import torch

    if args.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(args.device)
    except RuntimeError:
        raise UserError(
            f"--device: expected cpu, cuda, cuda:N or auto, got {args.device!r}"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: torch sees no CUDA device on this machine")
    return str(device)


def weights_dir(spec: str | None) -> str | None:
    """A trainer's ``--init-*`` directory: ``default`` names the shipped weights."""
    if spec != "default":
        return spec
    from hcf_ray.model_spec import default_weights_dir

    return str(default_weights_dir())


def model_spec(spec: str, flag: str):
    """``spec`` parsed (:mod:`hcf_ray.model_spec`), or a one-line UserError naming ``flag``."""
    from hcf_ray.model_spec import SpecError, parse_spec

    try:
        return parse_spec(spec)
    except SpecError as exc:
        raise UserError(f"{flag}: {exc}") from None
