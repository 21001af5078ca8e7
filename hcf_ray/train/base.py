"""The skeleton every trainer shares: work dir, recipe check + resume, one state format.

A trainer is a recipe (a dataclass, checked against the stored one on resume by
:mod:`hcf_ray.train.resume`) plus its own schedule and step. :class:`Trainer` holds what
they all do the same way:

* ``WORKDIR`` (created), the log callback, the torch device;
* ``WORKDIR/state.json``: the recipe and the trainer's own resume keys (``done``, ``it``, …,
  unchanged from earlier versions), plus a common block every trainer writes the same way,
  which ``hcf-sim train status`` reads without knowing the trainer::

      {"trainer": "ladder", "format": 2, "recipe": {...},
       "progress": {"done": 3, "total": 12, "unit": "jobs"}, "phase": "spread",
       "seconds": 812.5, "lines": ["..."], "validation": {"4": {"bpp": ..., "psnr": ...}},
       "log": "train.log.jsonl"}

  ``lines`` are the trainer's human-readable details (recipe, next job); ``validation`` the
  last real-bitstream measurement per level (or job);
* the JSON-lines log ``train.log.jsonl``, atomic checkpoints, the progress bar;
* hooks a trainer fills in: :meth:`progress` (required), :meth:`phase`,
  :meth:`status_lines`, :meth:`seconds`; ``export`` writes its shippable result.

A work dir written before the common block existed still resumes (its resume keys did
not change); :meth:`Trainer.upgrade_state` adds the block the first time a trainer opens it.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from hcf_ray.atomic import atomic_path
from hcf_ray.train.progress import progress_bar
from hcf_ray.train.resume import LOG, STATE, STATE_FORMAT, open_state, save_state

__all__ = ["LOG", "STATE", "STATE_FORMAT", "Trainer", "net_aux_adam", "net_aux_params", "on_cpu"]


class Trainer:
    """Base of the five trainers; see the module docstring."""

    kind: ClassVar[str] = ""  # "ladder", "hcf", "shared", "hyper", "pcf-tail"
    recipe_cls: ClassVar[type]
    may_change: ClassVar[tuple[str, ...]] = ()  # fields a resume may take over
    ignore: ClassVar[tuple[str, ...]] = ()  # fields a resume keeps stored (handled by run())
    unit: ClassVar[str] = "iterations"  # what progress() counts

    def __init__(
        self,
        workdir: str | Path,
        recipe: Any | None,
        fresh: dict,
        log: Callable[[str], None] = print,
        device: str | torch.device = "cpu",
    ):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log = log
        self.device = torch.device(device)
        self.recipe, self.state = self.open_state(recipe, fresh)

    def open_state(self, requested: Any | None, fresh: dict) -> tuple[Any, dict]:
        """The recipe to train with and the state (stored, or ``{"recipe", **fresh}``)."""
        return open_state(
            self.workdir,
            requested,
            self.recipe_cls,
            fresh,
            self.may_change,
            self.log,
            ignore=self.ignore,
        )

    # -- hooks ---------------------------------------------------------------------------
    def progress(self) -> tuple[int, int]:
        """(finished units, all units) in :attr:`unit`."""
        raise NotImplementedError

    def phase(self) -> str | None:
        """What the trainer is doing now (None: it has a single phase)."""
        return None

    def status_lines(self) -> list[str]:
        """Human-readable details for ``hcf-sim train status``."""
        return []

    def seconds(self) -> float | None:
        """Training time recorded so far (None: the trainer does not record it)."""
        return None

    # -- state, log, checkpoints -----------------------------------------------------------
    def write_state(self) -> None:
        """Refresh the common block from the hooks and write ``state.json`` atomically."""
        done, total = self.progress()
        self.state.update(
            {
                "trainer": self.kind,
                "format": STATE_FORMAT,
                "progress": {"done": done, "total": total, "unit": self.unit},
                "phase": self.phase() if done < total else "finished",
                "seconds": self.seconds(),
                "lines": self.status_lines(),
                "log": LOG,
            }
        )
        self.state.setdefault("validation", {})
        save_state(self.workdir, self.state)

    def upgrade_state(self) -> None:
        """Add the common block to a work dir written by an older version (call once the
        trainer is set up: the hooks need it)."""
        if (self.workdir / STATE).is_file() and self.state.get("format") != STATE_FORMAT:
            self.write_state()

    def record_validation(self, label: str | int, values: dict, at: str) -> None:
        """Keep the last real-bitstream measurement of ``label`` (a level or a job) for
        ``status``; written with the next :meth:`write_state`."""
        self.state.setdefault("validation", {})[str(label)] = {**values, "at": at}

    def log_record(self, rec: dict) -> None:
        """Append one JSON line to the work dir's log and pass it to the log callback."""
        with (self.workdir / LOG).open("a") as f:
            f.write(json.dumps(rec) + "\n")
        self.log(json.dumps(rec))

    def save_checkpoint(self, path: Path, data: dict) -> None:
        """``torch.save`` through a temporary file: a crash leaves the previous one."""
        with atomic_path(path) as tmp:
            torch.save(data, tmp)

    @staticmethod
    def progress_bar(total: int, desc: str, initial: int = 0):
        return progress_bar(total, desc, initial=initial)

    @staticmethod
    def deadline(max_hours: float | None) -> float | None:
        """The wall-clock time ``max_hours`` from now (None: no budget)."""
        return None if max_hours is None else time.time() + max_hours * 3600

    def export(self, out_dir: str | Path, *args, **kwargs):
        """Write the trained result as shippable files (each trainer its own)."""
        raise NotImplementedError


def net_aux_params(
    model: nn.Module, prefixes: Iterable[str] | None = None
) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """(weights, entropy-bottleneck quantiles) in ``named_parameters`` order; ``prefixes``
    restricts the weights to those parameter names (the parts a trainer tunes).

    CompressAI's ``net_aux_optimizer`` splits the same way but orders the parameters by
    name, which would not load the optimizer states of checkpoints written so far."""
    prefixes = tuple(prefixes) if prefixes is not None else None
    main, aux = [], []
    for name, p in model.named_parameters():
        if name.endswith(".quantiles"):
            aux.append(p)
        elif prefixes is None or name.startswith(prefixes):
            main.append(p)
    return main, aux


def net_aux_adam(
    model: nn.Module, lr: float, aux_lr: float, prefixes: Iterable[str] | None = None
) -> tuple[torch.optim.Adam, torch.optim.Adam]:
    """Adam for the weights and a separate Adam for the bottleneck quantiles."""
    main, aux = net_aux_params(model, prefixes)
    return torch.optim.Adam(main, lr=lr), torch.optim.Adam(aux, lr=aux_lr)


def net_aux_step(
    model: nn.Module,
    opt: torch.optim.Optimizer,
    aux_opt: torch.optim.Optimizer,
    loss_fn: Callable[[], tuple[torch.Tensor, dict]],
    clip: Iterable[nn.Parameter] | None = None,
    clip_grad: float = 0.0,
) -> dict:
    """One training step of a CompressAI model: ``loss_fn()`` (loss, figures), backward,
    gradient clipping of ``clip`` (all the model's parameters when None) to ``clip_grad``
    (0: none), the weights' step, then the entropy bottleneck's aux loss and its step.

    The step of CompressAI's ``examples/train.py`` without the loss object: every trainer
    here computes its own RD loss (quantization proxies, cascade latents, per-crop λ)."""
    opt.zero_grad()
    aux_opt.zero_grad()
    loss, stats = loss_fn()
    loss.backward()
    if clip_grad:
        nn.utils.clip_grad_norm_(model.parameters() if clip is None else clip, clip_grad)
    opt.step()
    model.aux_loss().backward()
    aux_opt.step()
    return stats


def on_cpu(model: nn.Module) -> nn.Module:
    """The model itself on CPU, else a CPU copy: validation entropy-codes on the CPU."""
    if next(model.parameters()).device.type == "cpu":
        return model
    return copy.deepcopy(model).cpu()
