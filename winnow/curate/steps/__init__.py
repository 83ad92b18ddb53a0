"""Built-in curation steps, registered lazily by name.

``BUILTIN_STEPS`` maps each registered step name to a ``"module:Class"`` string. The step
registry (``winnow.curate.base.STEPS``) is filled from this table without importing any step
module, so listing names and running a recipe import only the steps the recipe uses.

The step reference is generated from the registry, not kept here: ``winnow ls steps`` lists
every registered step (built-in or from an installed plugin) with its kind and one-line summary,
and ``winnow ls steps NAME`` prints its parameters, defaults and meanings
(``winnow.curate.stepdoc``). Shared machinery (scoring and selection, keyed randomness, argument
checks, hashing, banlists, text splitting) lives in ``winnow.curate.common``: a step module
imports from there, never from another step module.

What each step's output depends on besides the documents (its ``seed_dependent`` and
``budget_dependent``, ``winnow.curate.base``; checked by ``tests/curate/test_dependence.py``):
the curation seed for ``random_sample``, ``minhash_dedup``, ``bloom_dedup``, ``semdedup``,
``dsdm_select``, ``fasttext_quality``, ``target_classifier``, ``dsir`` and ``curriculum_stages``
(``lm_loss``, ``random``), each but ``random_sample`` only while its ``seed:`` parameter is
null (the run seed); the scale's token budget for ``random_sample`` and ``dsdm_select`` with
``tokens:`` and the scoring steps with ``tokens:``/``min_tokens:``. Every other step is a
function of its input and parameters alone, so a recipe made only of them is curated once for
all seeds and scales (``winnow.curate.store``).

This package must not import anything at module level: it is imported by ``base`` itself.
"""

BUILTIN_STEPS: dict[str, str] = {
    "length_filter": "winnow.curate.steps.filters:LengthFilter",
    "word_count_filter": "winnow.curate.steps.filters:WordCountFilter",
    "line_cleanup": "winnow.curate.steps.modifiers:LineCleanup",
    "exact_dedup": "winnow.curate.steps.dedup:ExactDedup",
    "url_dedup": "winnow.curate.steps.dedup:UrlDedup",
    "line_dedup": "winnow.curate.steps.line_dedup:LineDedup",
    "minhash_dedup": "winnow.curate.steps.minhash:MinHashDedup",
    "bloom_dedup": "winnow.curate.steps.bloom:BloomDedup",
    "random_sample": "winnow.curate.steps.selection:RandomSample",
    "select_ids": "winnow.curate.steps.selection:SelectIds",
    # DCLM's mapper inventory (Gopher, RefinedWeb, C4, URL, language ID, within-page dedup)
    "page_length_filter": "winnow.curate.steps.gopher:PageLengthFilter",
    "line_length_filter": "winnow.curate.steps.gopher:LineLengthFilter",
    "word_length_filter": "winnow.curate.steps.gopher:WordLengthFilter",
    "symbol_ratio_filter": "winnow.curate.steps.gopher:SymbolRatioFilter",
    "bullet_count_filter": "winnow.curate.steps.gopher:BulletCountFilter",
    "ellipsis_count_filter": "winnow.curate.steps.gopher:EllipsisCountFilter",
    "alphabetic_word_ratio_filter": "winnow.curate.steps.gopher:AlphabeticWordRatioFilter",
    "alphanumeric_char_ratio_filter": "winnow.curate.steps.gopher:AlphanumericCharRatioFilter",
    "stop_word_filter": "winnow.curate.steps.gopher:StopWordFilter",
    "repetition_filter": "winnow.curate.steps.gopher:RepetitionFilter",
    "massive_web_repetition_filters": "winnow.curate.steps.gopher:MassiveWebRepetitionFilters",
    "uppercase_ratio_line_modifier": "winnow.curate.steps.refinedweb:UppercaseRatioLineModifier",
    "numeric_ratio_line_modifier": "winnow.curate.steps.refinedweb:NumericRatioLineModifier",
    "counter_line_modifier": "winnow.curate.steps.refinedweb:CounterLineModifier",
    "line_length_modifier": "winnow.curate.steps.refinedweb:LineLengthModifier",
    "substring_line_modifier": "winnow.curate.steps.refinedweb:SubstringLineModifier",
    "newline_removal_modifier": "winnow.curate.steps.refinedweb:NewlineRemovalModifier",
    "word_counter_enricher": "winnow.curate.steps.refinedweb:WordCounterEnricher",
    "word_removal_ratio_filter": "winnow.curate.steps.refinedweb:WordRemovalRatioFilter",
    "punctuation_line_modifier": "winnow.curate.steps.c4:PunctuationLineModifier",
    "word_length_modifier": "winnow.curate.steps.c4:WordLengthModifier",
    "citation_removal_modifier": "winnow.curate.steps.c4:CitationRemovalModifier",
    "substring_filter": "winnow.curate.steps.c4:SubstringFilter",
    "url_substring_filter": "winnow.curate.steps.urls:UrlSubstringFilter",
    "url_removal_modifier": "winnow.curate.steps.url_removal:UrlRemovalModifier",
    "language_id": "winnow.curate.steps.langid:LanguageId",
    "language_filter": "winnow.curate.steps.langid:LanguageFilter",
    "within_page_dedup": "winnow.curate.steps.page_dedup:WithinPageDedup",
    # n-gram overlap with the evaluation suite (measure, optionally remove)
    "decontaminate": "winnow.curate.steps.decontam:Decontaminate",
    # model-based: semantic dedup (embeddings) and targeted selection (proxy-LM gradients)
    "semdedup": "winnow.curate.steps.semdedup:SemDeDup",
    "dsdm_select": "winnow.curate.steps.dsdm:DsDmSelect",
    # model-based quality selection toward a reference corpus (winnow.curate.reference)
    "fasttext_quality": "winnow.curate.steps.quality:FastTextQuality",
    "target_classifier": "winnow.curate.steps.quality:TargetClassifier",
    "dsir": "winnow.curate.steps.dsir:Dsir",
    # the order track: difficulty quantiles as meta.stage (lm_loss uses the dsdm proxy LM)
    "curriculum_stages": "winnow.curate.steps.curriculum:CurriculumStages",
}
