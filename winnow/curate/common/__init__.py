"""Machinery shared by the curation steps; a step module imports from here, never from another
step module (so any step can be copied into a plugin without learning another step's internals).

Modules (one concern each):

* ``keys``: keyed randomness: ``rank_key`` (random_sample's order), ``doc_uniform`` and the
  Pareto / Gumbel draws built on it: the same decision for any shard layout or worker count.
* ``params``: argument checks that raise ``ParamError`` naming the parameter (positive
  integers, seeds, ratios, token budgets, reference-corpus sources).
* ``scoring``: ``Selection`` (keep_fraction / top_k / threshold / tokens / min_tokens) and
  ``ScoringStep``, the fit-score-select frame of ``fasttext_quality``, ``target_classifier`` and
  ``dsir``; keyed negative draws; the model record beside a trained model.
* ``hashing``: MurmurHash3's ``fmix64`` over NumPy arrays and ``NgramHasher`` (hashed word
  n-gram buckets).
* ``text``: splitting with DCLM's semantics, the per-process analysis cache, alternation regexes.
* ``banlists``: banlist parameters (inline, a data-root name or a file) and their loading.
* ``lines``: ``LineModifier``, the base of the line-by-line modifiers.
* ``partial``: resumable partial state for long GlobalSteps.
* ``proxy``: the tiny proxy LM of ``dsdm_select`` and ``curriculum_stages`` (torch, lazily).

Nothing here is registered as a step; ``winnow.curate.steps`` holds only step modules.
"""
