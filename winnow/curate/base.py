"""The curation protocols: Mapper, Filter, GlobalStep, their context, counters and registry.

A curation *step* is one of three small things (submissions/README.md, "Your own steps"):

* ``Mapper``: ``__call__(doc) -> list[dict]`` — empty drops the document, one keeps or modifies
  it, several split it. ``return self.drop("reason")`` drops with a reason (a ``Drop`` is an
  empty list that remembers why); a bare ``[]`` is counted under ``drop_reason`` (a class
  attribute), else under the step's registered name. Optional ``setup()`` runs once per worker
  (load models, compile regexes); optional ``map_batch(docs)`` processes a batch at once.
* ``Filter``: sugar for a Mapper — ``keep(doc)`` returns True, or a short reason string (drop).
* ``GlobalStep``: ``run(input_shards, out_dir, ctx) -> output shards`` for corpus-level work
  (dedup, selection, thresholds); it fills ``self.counters``.

Every step's constructor keyword arguments are exactly its YAML parameters, and are checked
against the constructor's signature and annotations when a recipe is loaded; constructors must
therefore be cheap (heavy work belongs in ``setup()``/``run()``) and may raise ``ParamError``
(or ``ValueError``) to reject a value. ``version`` must change whenever a step's output changes:
it is part of the recipe fingerprint. A parameter added to an existing step whose default keeps
the step's old output goes in the class attribute ``added_params`` (a tuple of names): while a
recipe leaves it at its default, it is left out of the canonical step, so recipes written before
it keep their fingerprints and cached curation (``winnow.curate.recipe``). The engine sets
``step_name`` and ``ctx`` on each step instance (and ``step_index``, its 1-based place in the
recipe) before ``setup()``.

Every step also declares what of the run its output depends on, so that curation is computed
once and shared (``winnow.curate.store``): ``seed_dependent`` (the output changes with the
curation seed, ``ctx.seed``: random sampling, seeded hashing, classifier or proxy training,
seeded clustering) and ``budget_dependent`` (it changes with the scale's token budget or its
tokenizer's bytes per token, ``ctx.train_tokens``/``ctx.bytes_per_token``: selection sized in
tokens). Both default to True, the safe side: a curated folder is shared by the seeds (scales) of
a recipe only when *no* step declares the seed (budget), so a step that leaves them at True is
never wrongly shared, only recomputed. Declare False as class attributes when the output is a
function of the documents and parameters alone; when it hinges on a parameter, set the instance
attribute in the constructor (``self.seed_dependent = seed is None`` for a step whose ``seed:``
parameter, when given, replaces the run seed). A wrong False shares one seed's output with the
others; ``tests/curate/test_dependence.py`` checks every built-in step's declaration by running
it with two seeds and two budgets.

Steps see documents holding only ``id, text, url, source, meta``; the engine owns ``id`` (split
documents become ``<parent id>#<k>``) and ``meta.pool_id``. A step that reads a field pool
documents lack declares it in ``needs`` (``language_filter``: ``("meta.lang",)``), a step that
writes one in ``provides`` (``language_id``: ``("meta.lang", "meta.lang_score")``); ``{param}``
in an entry is the step's parameter (``word_counter_enricher``: ``"meta.{key}"``), and a
constructor may set either on the instance when it hinges on a parameter. Validation then
refuses a recipe whose step needs a field no earlier step provides (``winnow.curate.fields``).
Both are metadata: outside the fingerprint and the version.

One registry, ``STEPS``, names every step. Built-ins are lazy ``"module:Class"`` strings (see
``winnow.curate.steps``), third parties use the entry-point group ``winnow.step``, and a
recipe's plugin files are imported by path (never through ``sys.path``) inside a *collecting*
scope, so their steps belong to that recipe only and two submissions may both define a step
called ``my_filter`` (the loading and name resolution are ``winnow.curate.plugins``). ``ENGINES``
names the engines that run document segments.
"""

from __future__ import annotations

import contextlib
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Protocol

from winnow.docs import STEP_FIELDS, write_docs
from winnow.registry import Registry, RegistryError
from winnow.curate.steps import BUILTIN_STEPS


# --------------------------------------------------------------------------- errors and drops

class ParamError(ValueError):
    """A step constructor rejects the value of one parameter (names it for the recipe error)."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message

    def __reduce__(self):  # picklable across worker processes
        return (ParamError, (self.param, self.message))


class StepError(RuntimeError):
    """A step failed (or broke a contract) while curating; the message names step and document."""


class PluginError(ImportError):
    """A recipe's plugin file could not be imported or registers a conflicting step."""


class Drop(list):
    """An empty result that says why the document was dropped: ``return Drop("too_short")``."""

    def __init__(self, reason: str):
        super().__init__()
        self.reason = reason

    def __repr__(self) -> str:
        return f"Drop({self.reason!r})"


# --------------------------------------------------------------------------- counters

@dataclass
class Counters:
    """Per-step counts: documents in and out, drops by reason, time spent; mergeable.

    ``seconds`` is wall-clock time (summed over workers' shards, so it overstates the work on a
    loaded machine); ``cpu_seconds`` is the CPU time of the processes doing the step (user +
    system, all their threads, and child processes a GlobalStep waited for), the curation cost
    rows report. ``cpu_seconds`` is None when part of the step was counted by a winnow that did
    not measure it (a segment resumed from older counters): unknown stays unknown on merge.
    ``info`` holds extra numbers a step wants in the stats (summed on merge). JSON keys are
    ``in``/``out``/``dropped``/``seconds``/``cpu_seconds``/``info`` (``to_dict``/``from_dict``).
    """

    docs_in: int = 0
    docs_out: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    info: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float | None = 0.0

    def drop(self, reason: str, n: int = 1) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + n

    @property
    def n_dropped(self) -> int:
        return sum(self.dropped.values())

    def merge(self, other: "Counters") -> "Counters":
        """Add ``other`` into this one (in place) and return self."""
        self.docs_in += other.docs_in
        self.docs_out += other.docs_out
        for reason, n in other.dropped.items():
            self.drop(reason, n)
        self.seconds += other.seconds
        self.cpu_seconds = (None if self.cpu_seconds is None or other.cpu_seconds is None
                            else self.cpu_seconds + other.cpu_seconds)
        for key, value in other.info.items():
            self.info[key] = self.info.get(key, 0) + value
        return self

    def __add__(self, other: "Counters") -> "Counters":
        return Counters().merge(self).merge(other)

    def to_dict(self) -> dict:
        d = {"in": self.docs_in, "out": self.docs_out,
             "dropped": dict(sorted(self.dropped.items(), key=lambda kv: (-kv[1], kv[0]))),
             "seconds": round(self.seconds, 6),
             "cpu_seconds": None if self.cpu_seconds is None else round(self.cpu_seconds, 6)}
        if self.info:
            d["info"] = dict(sorted(self.info.items()))
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Counters":
        return cls(docs_in=int(d.get("in", 0)), docs_out=int(d.get("out", 0)),
                   dropped={str(k): int(v) for k, v in (d.get("dropped") or {}).items()},
                   seconds=float(d.get("seconds", 0.0)), info=dict(d.get("info") or {}),
                   cpu_seconds=None if d.get("cpu_seconds") is None else float(d["cpu_seconds"]))


def cpu_clock() -> float:
    """CPU seconds (user + system) of this process, all its threads, and the child processes it
    has waited for (a GlobalStep's worker pool once joined). Differences of it time a step."""
    own = time.process_time()
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own + kids.ru_utime + kids.ru_stime


def source_tag(doc: dict) -> str:
    src = doc.get("source")
    return "unknown" if src is None else str(src)


@dataclass
class SourceTable:
    """Documents and UTF-8 text bytes in and out per ``source`` tag; mergeable, JSON-ready."""

    rows: dict[str, dict[str, int]] = field(default_factory=dict)

    def _row(self, source: str) -> dict[str, int]:
        row = self.rows.get(source)
        if row is None:
            row = self.rows[source] = {"docs_in": 0, "docs_out": 0, "bytes_in": 0, "bytes_out": 0}
        return row

    def add(self, doc: dict, direction: str) -> None:
        row = self._row(source_tag(doc))
        row[f"docs_{direction}"] += 1
        row[f"bytes_{direction}"] += len(doc["text"].encode("utf-8"))

    def merge(self, other: "SourceTable") -> "SourceTable":
        for source, row in other.rows.items():
            mine = self._row(source)
            for k, v in row.items():
                mine[k] = mine.get(k, 0) + v
        return self

    def to_dict(self) -> dict:
        return {s: dict(r) for s, r in sorted(self.rows.items())}

    @classmethod
    def from_dict(cls, d: dict) -> "SourceTable":
        return cls(rows={s: {k: int(v) for k, v in r.items()} for s, r in d.items()})


class DropSampler:
    """Keeps the first ``limit`` dropped documents per (step, reason) for ``winnow inspect``.

    Each record is the document as the step saw it plus ``step``, ``step_index`` and ``reason``.
    """

    def __init__(self, limit: int = 20):
        self.limit = limit
        self.records: list[dict] = []
        self._seen: dict[tuple[int, str], int] = {}

    def add(self, step_index: int, step: str, reason: str, doc: dict) -> None:
        key = (step_index, reason)
        n = self._seen.get(key, 0)
        if n >= self.limit:
            return
        self._seen[key] = n + 1
        rec = {"step": step, "step_index": step_index, "reason": reason}
        rec.update({k: doc.get(k) for k in STEP_FIELDS if k in doc})
        self.records.append(rec)

    def write(self, path: Path) -> None:
        """Write the sample (jsonl, compressed by suffix), even when empty, atomically."""
        write_docs(path, self.records)


# --------------------------------------------------------------------------- context

@dataclass
class StepContext:
    """What a step may know about the run. Picklable (``engine`` is dropped before pickling).

    seed: the curation seed (``winnow.run.curation_seed``; selection steps key their hashes
        with it). A step that reads it declares ``seed_dependent`` (see the module docstring).
    workers: processes a step or engine may use (None becomes the number of CPU cores).
    work_dir: scratch folder for the current step (the pipeline sets one per GlobalStep).
    train_tokens: the scale's training token budget (``random_sample tokens: budget``).
    bytes_per_token: the scale tokenizer's measured average UTF-8 bytes per token, to
        estimate tokens without tokenizing. A step whose output reads either declares
        ``budget_dependent``.
    rank/world_size: this process's place among distributed curation workers.
    track: the recipe's track (``filtering`` | ``mixing`` | ``order``).
    engine: the engine running the recipe (a GlobalStep may hand it work), or None.
    extra: free-form values for third-party steps.
    """

    seed: int = 0
    workers: int = 1
    work_dir: Path | None = None
    train_tokens: int | None = None
    bytes_per_token: float | None = None
    rank: int = 0
    world_size: int = 1
    track: str | None = None
    engine: Any = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.workers is None:  # "one per CPU core", as engine configs say with null
            self.workers = os.cpu_count() or 1
        if self.work_dir is not None:
            self.work_dir = Path(self.work_dir)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["engine"] = None  # engines hold pools/clients; workers never need them
        return state

    def estimate_tokens(self, text_bytes: int) -> float:
        """Tokens estimated from UTF-8 bytes with the scale tokenizer's bytes per token."""
        if not self.bytes_per_token or self.bytes_per_token <= 0:
            raise StepError("estimating tokens needs StepContext.bytes_per_token (the scale "
                            "tokenizer's average bytes per token); the caller did not set it")
        return text_bytes / self.bytes_per_token


# --------------------------------------------------------------------------- protocols

class Mapper:
    """A document step: ``__call__(doc) -> list[dict]`` (empty = drop, several = split)."""

    version: int | str = 1
    added_params: tuple[str, ...] = ()  # see the module docstring
    seed_dependent: bool = True    # output changes with ctx.seed (module docstring); safe default
    budget_dependent: bool = True  # output changes with ctx.train_tokens / ctx.bytes_per_token
    needs: tuple[str, ...] = ()     # document fields read that pool documents lack (module docstring)
    provides: tuple[str, ...] = ()  # document fields written (``meta.<key>``)
    drop_reason: str | None = None  # reason for a bare ``[]``; default: the step's name
    step_name: str = ""  # set by the engine: the registered name
    step_index: int = 0  # set by the engine: 1-based position in the recipe
    ctx: StepContext | None = None

    def setup(self) -> None:
        """Called once per worker before the first document (load models, compile regexes)."""

    def __call__(self, doc: dict) -> list[dict]:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(doc)")

    def map_batch(self, docs: list[dict]) -> list[list[dict]]:
        """One result list per input document; override to batch (e.g. model inference)."""
        return [self(doc) for doc in docs]

    def drop(self, reason: str) -> Drop:
        return Drop(reason)


class Filter(Mapper):
    """Sugar for a Mapper that keeps or drops: ``keep(doc)`` returns True or a reason string."""

    def keep(self, doc: dict) -> bool | str:
        raise NotImplementedError(f"{type(self).__name__} must implement keep(doc)")

    def __call__(self, doc: dict) -> list[dict]:
        verdict = self.keep(doc)
        if isinstance(verdict, str) and verdict:
            return Drop(verdict)
        if verdict is not None and not isinstance(verdict, str):
            if verdict:  # True (numpy booleans accepted)
                return [doc]
            return Drop(self.drop_reason or self.step_name or type(self).__name__)
        raise StepError(f"{type(self).__name__}.keep() returned {verdict!r}; it must return True "
                        "(keep) or a short reason string (drop)")


class GlobalStep:
    """A corpus-level step: reads every input shard, writes output shards into ``out_dir``.

    ``resumable = True`` tells the pipeline to keep ``out_dir`` as it is when it retries the step
    after a crash (otherwise it empties the folder first); the step then resumes its own partial
    work and must write the same outputs as an uninterrupted run (see
    ``winnow.curate.common.partial``).
    """

    version: int | str = 1
    added_params: tuple[str, ...] = ()  # see the module docstring
    seed_dependent: bool = True    # as Mapper's (module docstring)
    budget_dependent: bool = True
    needs: tuple[str, ...] = ()     # as Mapper's
    provides: tuple[str, ...] = ()
    resumable: bool = False
    step_name: str = ""
    step_index: int = 0
    ctx: StepContext | None = None

    @property
    def counters(self) -> Counters:
        c = self.__dict__.get("_counters")
        if c is None:
            c = self.__dict__["_counters"] = Counters()
        return c

    @counters.setter
    def counters(self, value: Counters) -> None:
        self.__dict__["_counters"] = value

    def setup(self) -> None:
        """Called once before ``run``."""

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        raise NotImplementedError(f"{type(self).__name__} must implement run()")


def step_dependence(step: Any) -> tuple[bool, bool]:
    """``(seed_dependent, budget_dependent)`` of a step instance (or class): its declarations,
    True where a duck-typed step does not declare them (never wrongly shared)."""
    return (bool(getattr(step, "seed_dependent", True)),
            bool(getattr(step, "budget_dependent", True)))


def step_kind(cls: Any) -> str:
    """``"global"`` for GlobalSteps, ``"docs"`` for Mappers/Filters (duck-typed otherwise)."""
    if isinstance(cls, type):
        if issubclass(cls, GlobalStep):
            return "global"
        if issubclass(cls, Mapper):
            return "docs"
        if callable(getattr(cls, "run", None)):
            return "global"
        if "__call__" in dir(cls):
            return "docs"
    raise StepError(f"{cls!r} is not a step class (subclass Mapper, Filter or GlobalStep)")


# --------------------------------------------------------------------------- registries

class StepRegistry(Registry):
    """The step Registry plus a *collecting* scope used while importing a recipe's plugins."""

    def __init__(self, kind: str):
        super().__init__(kind)
        self._collector: dict[str, Any] | None = None

    @contextlib.contextmanager
    def collecting(self) -> Iterator[dict[str, Any]]:
        """Registrations inside the block go to the yielded dict instead of the registry."""
        previous, found = self._collector, {}
        self._collector = found
        try:
            yield found
        finally:
            self._collector = previous

    def _add(self, name: str, target: Any) -> None:
        if self._collector is not None:
            if name in self or name in self._collector:
                raise RegistryError(f"a plugin registers step {name!r}, which is already "
                                    "registered; give the plugin's step another name")
            self._collector[name] = target
            return
        super()._add(name, target)


STEPS: StepRegistry = StepRegistry("step")
for _name, _target in BUILTIN_STEPS.items():
    STEPS.register(_name, _target)

ENGINES: Registry = Registry("engine")
ENGINES.register("local", "winnow.curate.engine:LocalEngine")
ENGINES.register("ray", "winnow.curate.engine_ray:RayEngine")  # pip install 'winnow[ray]'


class Engine(Protocol):
    """Runs one document segment over shards (see ``winnow.curate.engine.LocalEngine``)."""

    name: str
    workers: int

    def run_segment(self, job: "SegmentJob", input_shards: list[Path],
                    seg_dir: Path) -> "SegmentResult": ...


# --------------------------------------------------------------------------- specs

@dataclass(frozen=True)
class StepSpec:
    """One compiled recipe step: 1-based position, registered name, params, kind, version, and
    whether its output depends on the curation seed and on the scale's token budget."""

    index: int
    name: str
    params: dict
    kind: str
    version: int | str
    canonical: dict = field(default_factory=dict)  # what the fingerprint hashes (see recipe.py)
    seed_dependent: bool = True
    budget_dependent: bool = True
    needs: tuple[str, ...] = ()            # document fields it reads (winnow.curate.fields)
    provides: tuple[str, ...] | None = ()  # fields it writes; None: undeclared, may write any

    @property
    def label(self) -> str:
        return f"step {self.index} ({self.name})"


@dataclass
class SegmentJob:
    """What an engine needs to rebuild a segment's steps in any process (spawn-safe, picklable)."""

    steps: list[StepSpec]
    plugins: list[str] = field(default_factory=list)
    ctx: StepContext = field(default_factory=StepContext)


@dataclass
class SegmentResult:
    """Merged outcome of a document segment."""

    counters: list[Counters]
    sources: SourceTable
    shards: list[Path]
    skipped: int = 0
    seconds: float = 0.0
