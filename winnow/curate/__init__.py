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
* ``store``: the curated store, ``$WINNOW_HOME/curated/<key>/``: each curation computed once
  and shared by every run whose key is the same; a run's ``curated/`` links to it.
* ``steps/``: built-in filters, modifiers, dedup and selection, registered lazily.

Curation is computed once per recipe and pool shards, not once per run: every step declares
whether its output depends on the curation seed (``seed_dependent``) and on the scale's token
budget (``budget_dependent``), and the curated folder's key involves the seed (the budget) only
when some step of the recipe does. So the seeds of a seed-independent recipe, and the scales of
a budget-independent one, share one curated folder (the same content id), and the seed changes
curation only through seeded steps. Seeded built-in steps: ``random_sample``; ``minhash_dedup``,
``bloom_dedup`` and ``semdedup`` (hash functions, k-means seeding); ``fasttext_quality``,
``target_classifier``, ``dsir`` (negatives, training, noise, score ties) and ``dsdm_select``
(proxy LM); ``curriculum_stages`` by ``lm_loss`` or ``random``: each unless its ``seed:``
parameter fixes the seed. Budget-dependent: ``random_sample``/``dsdm_select`` with ``tokens:``,
and the scoring steps with ``tokens:``/``min_tokens:``.

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
