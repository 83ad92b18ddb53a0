"""Built-in curation steps, registered lazily by name.

``BUILTIN_STEPS`` maps each registered step name to a ``"module:Class"`` string. The step
registry (``winnow.curate.base.STEPS``) is filled from this table without importing any step
module, so ``winnow ls steps`` stays instant however heavy a step's dependencies are; a step's
module is imported the first time a recipe uses it.

| name                | kind       | module       | drop reasons                      |
| ------------------- | ---------- | ------------ | --------------------------------- |
| ``length_filter``     | Filter     | filters      | too_short, too_long               |
| ``word_count_filter`` | Filter     | filters      | too_few_words, too_many_words     |
| ``line_cleanup``      | Mapper     | modifiers    | empty_after_cleanup               |
| ``exact_dedup``       | GlobalStep | dedup        | duplicate                         |
| ``random_sample``     | GlobalStep | selection    | not_sampled                       |
| ``select_ids``        | GlobalStep | selection    | not_listed (used by ``ids:`` recipes) |

This package must not import anything at module level: it is imported by ``base`` itself.
"""

BUILTIN_STEPS: dict[str, str] = {
    "length_filter": "winnow.curate.steps.filters:LengthFilter",
    "word_count_filter": "winnow.curate.steps.filters:WordCountFilter",
    "line_cleanup": "winnow.curate.steps.modifiers:LineCleanup",
    "exact_dedup": "winnow.curate.steps.dedup:ExactDedup",
    "random_sample": "winnow.curate.steps.selection:RandomSample",
    "select_ids": "winnow.curate.steps.selection:SelectIds",
}
