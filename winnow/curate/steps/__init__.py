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
| ``url_dedup``         | GlobalStep | dedup        | duplicate_url                     |
| ``line_dedup``        | GlobalStep | line_dedup   | empty_after_line_dedup (C4's corpus-wide line dedup) |
| ``minhash_dedup``     | GlobalStep | minhash      | near_duplicate                    |
| ``bloom_dedup``       | GlobalStep | bloom        | near_duplicate_document, duplicate_paragraphs |
| ``random_sample``     | GlobalStep | selection    | not_sampled                       |
| ``select_ids``        | GlobalStep | selection    | not_listed (used by ``ids:`` recipes) |
| ``page_length_filter`` ... ``massive_web_repetition_filters`` | Filter | gopher | see ``gopher`` |
| ``uppercase_ratio_line_modifier`` ... ``word_removal_ratio_filter`` | Mapper/Filter | refinedweb | see ``refinedweb`` |
| ``punctuation_line_modifier``, ``word_length_modifier``, ``citation_removal_modifier``, ``substring_filter`` | Mapper/Filter | c4 | see ``c4`` |
| ``url_substring_filter`` | Filter     | urls         | the ``reason`` parameter (banned_url), no_url |
| ``url_removal_modifier`` | Mapper   | url_removal  | empty_after_url_removal           |
| ``language_id``       | Mapper     | langid       | (adds meta.lang, meta.lang_score) |
| ``language_filter``   | Filter     | langid       | no_language, wrong_language, low_language_score |
| ``within_page_dedup`` | Mapper     | page_dedup   | empty_after_within_page_dedup     |
| ``decontaminate``     | GlobalStep | decontam     | contaminated (only with ``remove: true``) |
| ``semdedup``          | GlobalStep | semdedup     | semantic_duplicate (MiniLM embeddings; ``winnow[semdedup]``) |
| ``dsdm_select``       | GlobalStep | dsdm         | not_selected (targeted: proxy-LM gradient scores) |
| ``fasttext_quality``  | GlobalStep | quality      | low_quality_score (fastText hq-vs-cc, DCLM-Baseline) |
| ``target_classifier`` | GlobalStep | quality      | low_target_score (hashed n-gram logistic regression, GPT-3) |
| ``dsir``              | GlobalStep | dsir         | not_resampled, too_short_for_dsir (importance resampling) |
| ``curriculum_stages`` | GlobalStep | curriculum   | (none; adds meta.stage, meta.difficulty: order track) |

What each step's output depends on besides the documents (its ``seed_dependent`` and
``budget_dependent``, ``winnow.curate.base``; checked by ``tests/test_curate_dependence.py``):
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
