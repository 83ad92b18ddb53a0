"""Tail weight averaging: the uniform mean of a model's weights over the last steps of training.

Why: at the CPU scales the seed-to-seed spread of a trained model's task likelihoods is what
hides the differences between curation recipes, and the last iterates of a run wander around
the point they are converging to. Averaging the weights over the end of training (LAWA, Kaddour
2022; "checkpoint averaging" in Heineman et al. 2025, "Signal and Noise") removes part of that
wandering at no training cost. The train key ``average_from`` (a fraction of the steps) turns it
on: after every step ``i > start = round(average_from · steps)`` the running mean is updated,
``avg ← avg + (w − avg) / k`` (k = 1 at the first averaged step, so the mean covers steps
start+1 … steps, ``steps − start`` iterates, each with equal weight).

Choices:

* The mean is kept in the parameters' own dtype and layout (fp32 master weights; under FSDP each
  rank keeps the shard of its parameters), so it costs one copy of the parameters, nothing else.
* ``swapped()`` puts the mean into the model's parameters for the duration of a block and puts
  the trained weights back afterwards, copying what the block left in the parameters into the
  mean. Saving (read the parameters) and resuming (write the parameters) therefore go through
  the same code as the model's own weights, FSDP gathering and scattering included.
* Exact resume: a checkpoint written after averaging began holds the mean (``average.safetensors``)
  and the count; a resumed run continues the same sum, so it ends with the same bits.
"""

from __future__ import annotations

import contextlib

import torch


def average_start(average_from: float | None, steps: int) -> int | None:
    """The last step *not* averaged (averaging covers steps start+1 … steps); None when off."""
    if average_from is None:
        return None
    return min(int(round(float(average_from) * steps)), steps - 1)


class TailAverage:
    """The running uniform mean of ``model``'s parameters over the steps after ``start``."""

    def __init__(self, model: torch.nn.Module, start: int):
        self.params = [p for p in model.parameters()]
        self.start = int(start)
        self.count = 0
        self.mean: list[torch.Tensor] | None = None

    @property
    def active(self) -> bool:
        return self.count > 0

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Fold in the weights after ``step`` (1-based: the number of optimizer steps done)."""
        if step <= self.start:
            return
        if self.mean is None:
            self.mean = [p.detach().clone() for p in self.params]
            self.count = 1
            return
        self.count += 1
        for m, p in zip(self.mean, self.params):
            m.lerp_(p.detach(), 1.0 / self.count)

    @contextlib.contextmanager
    def swapped(self):
        """Within the block the model's parameters hold the mean; on exit the mean takes what the
        block left in them (a load) and the parameters get their trained weights back."""
        if self.mean is None:
            raise RuntimeError("no averaged weights yet: averaging starts after step %d" % self.start)
        with torch.no_grad():
            saved = [p.detach().clone() for p in self.params]
            for p, m in zip(self.params, self.mean):
                p.copy_(m)
        try:
            yield
        finally:
            with torch.no_grad():
                for p, m, s in zip(self.params, self.mean, saved):
                    m.copy_(p)
                    p.copy_(s)

    def begin_from(self, count: int) -> None:
        """Prepare to load a checkpointed mean of ``count`` iterates (then load inside ``swapped``)."""
        with torch.no_grad():
            self.mean = [p.detach().clone() for p in self.params]
        self.count = int(count)
