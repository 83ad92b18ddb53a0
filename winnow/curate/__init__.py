"""Curation: turn pool shards into curated shards with a submission's recipe.

Modules (one concern each):

* ``base``: the step protocols (Mapper, Filter, GlobalStep), StepContext, Counters, the
  ``STEPS`` and ``ENGINES`` registries and plugin loading.
* ``recipe``: recipe YAML — load, validate (``validate_recipe`` for ``winnow validate``),
  fingerprint, compile into segments.
* ``engine``: ``LocalEngine``, which runs a segment of document steps over shards with a
  process pool, per-shard counters, drop samples and completion markers (resume).
* ``pipeline``: ``curate()`` runs every segment in order and writes ``shards/`` and
  ``stats.json``; ``format_stats()`` renders the stats for the CLI.
* ``steps/``: built-in filters, modifiers, dedup and selection, registered lazily.

Importing this package is cheap: no step module and no engine is imported until used.
"""

from winnow.curate.base import (ENGINES, STEPS, Counters, Drop, Filter, GlobalStep, Mapper,
                                ParamError, SourceTable, StepContext, StepError, StepSpec)
from winnow.curate.pipeline import EmptyCorpusError, curate, format_stats
from winnow.curate.recipe import Recipe, RecipeError, Segment, load_recipe, validate_recipe

__all__ = [
    "ENGINES", "STEPS", "Counters", "Drop", "EmptyCorpusError", "Filter", "GlobalStep", "Mapper",
    "ParamError", "Recipe", "RecipeError", "Segment", "SourceTable", "StepContext", "StepError",
    "StepSpec", "curate", "format_stats", "load_recipe", "validate_recipe",
]
