"""winnow import-dclm: DCLM baselines_configs become winnow recipes, step for step.

The DCLM configs below are compact restatements (flow-style YAML) of the step lists of
mlfoundations/dclm baselines/baselines_configs/{refinedweb,dclm_baseline_refinedweb,c4}.yaml, in
their order with their parameters. The imported recipes must validate and have the same
fingerprint as the baselines that mirror them (same steps, parameters and drop-reason labels).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from winnow.cli import main
from winnow.curate.dclm_import import DclmImportError, import_dclm
from winnow.curate.recipe import load_recipe
from tests.helpers import REPO

BANLISTS = "baselines/mappers/banlists/"

URL_WORDS = f"""
    - {{func: url_substring_filter, banlist_from_fname: {BANLISTS}refinedweb_banned_words_strict_reverse_engineered.txt, ignore_chars: ['-', '.']}}
    - {{func: url_substring_filter, banlist_from_fname: {BANLISTS}refinedweb_banned_words_hard_reverse_engineered.txt, match_substrings: False}}
    - {{func: url_substring_filter, banlist_from_fname: {BANLISTS}refinedweb_banned_words_soft_reverse_engineered.txt, num_banned_substrs: 2, match_substrings: False}}
    - {{func: url_removal_modifier}}
    - {{func: newline_removal_modifier, max_consecutive: 2}}
    - {{func: detect_lang_whole_page_enricher, model: fasttext, key_prefix: language_id_whole_page}}
    - {{func: language_filter, key: language_id_whole_page_fasttext, keep_languages: [en], threshold: 0.65}}
"""
GOPHER = """
    - {func: page_length_filter, length_type: word, min_length: 50, max_length: 100000, ignore_punctuation: True}
    - {func: word_length_filter, min_length: 3, max_length: 10}
    - {func: symbol_ratio_filter, max_symbol_to_word_ratio: 0.1}
    - {func: bullet_count_filter, max_bullet_start_ratio: 0.9}
    - {func: ellipsis_count_filter, max_ellipsis_end_ratio: 0.3}
    - {func: alphabetic_word_ratio_filter, max_ratio: 0.2}
    - {func: stop_word_filter, count_unique: False, min_stop_word: 2}
    - {func: massive_web_repetition_filters}
"""
RW_LINES = """
    - {func: word_counter_enricher, key: previous_word_count}
    - {func: uppercase_ratio_line_modifier, max_ratio: 0.5}
    - {func: numeric_ratio_line_modifier, max_ratio: 0.999999}
    - {func: counter_line_modifier}
    - {func: line_length_modifier, min_length: 2}
    - {func: substring_line_modifier, max_length: 10, banlist: "items in cart", remove_substring_only: True}
    - {func: substring_line_modifier, max_length: 10, banlist: "Read more...", location: suffix, remove_substring_only: True}
    - {func: substring_line_modifier, max_length: 10, banlist: "Sign-in", location: prefix, remove_substring_only: True}
    - {func: word_removal_ratio_filter, prev_word_count_key: previous_word_count, max_removed_ratio: 0.05}
"""
CURATED = (f"    - {{func: url_substring_filter, banlist_from_fname: {BANLISTS}"
           "refinedweb_banned_domains_curated.txt, exact_domain_match: True, ignore_chars: ['www']}\n")
HQ = ("    - {func: url_substring_filter, banlist: [arxiv.org, askubuntu.com, stackoverflow.com, "
      "stackapps.com, stackexchange.com, mathoverflow.net, exporter.nih.gov, ncbi.nlm.nih.gov, "
      "github.com, irclogs.ubuntu.com, news.ycombinator.com, courtlistener.com, reddit.com, "
      "statmt.org, uspto.gov, wikipedia.org], exact_domain_match: True, ignore_chars: ['www']}\n")
HEAD = "- source: {src}\n  weight: 1.0\n  steps:\n    - {{func: move_url_modifier}}\n"

REFINEDWEB = HEAD.format(src="cc_v3_fasttext") + CURATED + HQ + URL_WORDS + GOPHER + RW_LINES
DCLM_BASELINE_RW = HEAD.format(src="cc") + CURATED + URL_WORDS + GOPHER + RW_LINES
GOPHER_ONLY = "- source: cc\n  steps:\n" + GOPHER  # DCLM has no Gopher-only YAML: its RW block

C4 = """- source: cc_april_2019
  weight: 1.0
  steps:
    - {func: move_url_modifier}
    - {func: key_name_modifier}
    - {func: page_length_filter, length_type: char, max_length: 190000}
    - {func: word_length_modifier, max_length: 1000, model: split}
    - {func: citation_removal_modifier}
    - {func: punctuation_line_modifier, remove_ellipses: True}
    - {func: line_length_modifier, min_length: 5}
    - {func: substring_filter, banlist: ['lorem ipsum']}
    - {func: substring_line_modifier, banlist: ['javascript']}
    - {func: substring_filter, banlist: ['{']}
    - {func: substring_line_modifier, banlist: ["terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies"]}
    - {func: page_length_filter, length_type: sentence, min_length: 3, tokenizer: nltk, tokenizer_lang: english}
    - {func: split_lines_modifier, delimiter: "\\n"}
    - {func: exact_dedup, content_key: url, normalize: normalize_url}
    - {func: exact_dedup, content_key: text, normalize: normalize_whitespace_and_lowercase, selection_key: url, selection_normalize: hash_text}
    - {func: join_lines_modifier, delimiter: "\\n"}
    - {func: within_page_dedup, granularity: line, normalize: True}
    - {func: page_length_filter, length_type: sentence, min_length: 3, tokenizer: nltk, tokenizer_lang: english}
    - {func: substring_filter, banlist_from_fname: "baselines/mappers/banlists/ldnoobw.txt", exact_word: True}
    - func: detect_lang_whole_page_enricher
      model: langdetect
      key_prefix: language_id_whole_page
      seed: 0
      _aggregate: {language_id_whole_page_langdetect: {type: histogram, threshold: 0.99}}
    - {func: language_filter, key: language_id_whole_page_langdetect, keep_languages: [en], threshold: 0.99}
"""



def imported(tmp_path: Path, text: str, name: str):
    cfg = tmp_path / f"{name}.yaml"
    cfg.write_text(text)
    res = import_dclm(cfg, name=name)
    out = tmp_path / name / "recipe.yaml"
    out.parent.mkdir()
    out.write_text(res.to_yaml())
    return res, load_recipe(out)  # raises RecipeError if the recipe does not validate


def same_steps(a, b) -> None:
    assert [s.canonical for s in a.steps] == [s.canonical for s in b.steps]
    assert a.fingerprint() == b.fingerprint()


def test_refinedweb_matches_the_baseline(tmp_path):
    res, rec = imported(tmp_path, REFINEDWEB, "refinedweb")
    same_steps(rec, load_recipe(REPO / "baselines" / "refinedweb"))
    assert [(x.position, x.func) for x in res.lacking] == [(2, "url_substring_filter")]
    assert "refinedweb_banned_domains_curated.txt" in res.lacking[0].why
    assert [x.func for x in res.not_needed] == ["move_url_modifier"]
    assert any("tldextract" in n for n in res.notes)
    text = res.to_yaml()
    assert "LACKING url_substring_filter" in text and "LACKS (1)" in text
    assert "banlist: Read more..." in text  # YAML's '...' end marker must not eat the value


def test_dclm_baseline_refinedweb_matches_the_baseline(tmp_path):
    res, rec = imported(tmp_path, DCLM_BASELINE_RW, "dclm_refinedweb")
    same_steps(rec, load_recipe(REPO / "baselines" / "dclm_refinedweb"))
    assert [x.func for x in res.lacking] == ["url_substring_filter"]


def test_gopher_block_matches_the_baseline(tmp_path):
    res, rec = imported(tmp_path, GOPHER_ONLY, "gopher")
    same_steps(rec, load_recipe(REPO / "baselines" / "gopher"))
    assert not res.lacking and not res.not_needed


def test_c4_matches_the_baseline(tmp_path):
    res, rec = imported(tmp_path, C4, "c4")
    same_steps(rec, load_recipe(REPO / "baselines" / "c4"))
    assert not res.lacking
    assert {"step": "line_dedup", "normalize": True} in res.steps
    assert any("line_dedup" in n and "selection_key" in n for n in res.notes)
    assert [x.func for x in res.not_needed] == [
        "move_url_modifier", "key_name_modifier", "split_lines_modifier", "join_lines_modifier"]
    assert any("_aggregate" in n for n in res.notes)


@pytest.mark.parametrize("step,expect", [
    ({"func": "exact_dedup", "content_key": "text",
      "normalize": "normalize_whitespace_and_lowercase"}, {"step": "exact_dedup", "normalize": True}),
    ({"func": "random_sampling_filter", "keep_probability": 0.5},
     {"step": "random_sample", "fraction": 0.5}),
    ({"func": "page_length_filter", "length_type": "sentence", "min_length": 3,
      "tokenizer": "blingfire"}, None),
    ({"func": "language_filter", "keep_languages": ["en"]}, None),  # no enricher before it
    ({"func": "quality_filter", "key": "fasttext_hq_prob", "threshold": 0.1}, None),
    ({"func": "url_removal_modifier"}, {"step": "url_removal_modifier"}),
    ({"func": "url_removal_modifier", "tlds_filepath": "my_tlds.txt"}, None),
    ({"func": "line_length_filter", "length_type": "max", "max_length": 1000, "bogus": 1}, None),
])
def test_single_step_rules(step, expect):
    res = import_dclm([{"source": "cc", "steps": [step]}])
    if expect is None:
        assert not res.steps and [x.func for x in res.lacking] == [step["func"]]
    else:
        assert res.steps == [expect] and not res.lacking


def test_sources_must_be_chosen():
    two = [{"source": "a", "steps": [{"func": "counter_line_modifier"}]},
           {"source": "b", "steps": [{"func": "citation_removal_modifier"}]}]
    with pytest.raises(DclmImportError, match="--source"):
        import_dclm(two)
    assert import_dclm(two, source="b").steps == [{"step": "citation_removal_modifier"}]
    with pytest.raises(DclmImportError, match="not a DCLM"):
        import_dclm({"name": "x", "steps": []})


def test_cli(tmp_path, capsys):
    cfg = tmp_path / "refinedweb.yaml"
    cfg.write_text(REFINEDWEB)
    out = tmp_path / "recipe.yaml"
    assert main(["import-dclm", str(cfg), "-o", str(out)]) == 0
    err = capsys.readouterr().err
    assert "DCLM steps winnow lacks (1)" in err and "refinedweb_banned_domains_curated" in err
    assert "the imported recipe validates" in err
    assert yaml.safe_load(out.read_text())["name"] == "refinedweb"
    assert main(["validate", str(out)]) == 0
    capsys.readouterr()

    assert main(["import-dclm", str(cfg)]) == 0  # to stdout
    assert capsys.readouterr().out.startswith("# Imported by `winnow import-dclm`")

    bad = tmp_path / "quality.yaml"
    bad.write_text("- source: cc\n  steps:\n    - {func: quality_filter, threshold: 0.1}\n")
    assert main(["import-dclm", str(bad)]) == 1  # nothing converted
    assert "quality_filter" in capsys.readouterr().err
    two = tmp_path / "two.yaml"
    two.write_text("- {source: a, steps: []}\n- {source: b, steps: []}\n")
    assert main(["import-dclm", str(two)]) == 2
