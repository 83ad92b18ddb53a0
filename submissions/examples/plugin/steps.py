"""Plugin steps of submissions/examples/plugin: one Filter and one GlobalStep.

winnow imports this file by path (never through sys.path) when a recipe lists it under
`plugins:` and the run opts in with allow_code=true. `@STEPS.register(name)` adds a step that
only this recipe sees. A step's constructor keyword arguments are exactly its YAML parameters
(checked against the signature and annotations when the recipe loads, so keep constructors
cheap and reject bad values with ParamError). Bump `version` whenever a step's output changes:
it is part of the recipe fingerprint.
"""

from __future__ import annotations

from pathlib import Path

from winnow.curate import STEPS, Filter, GlobalStep, ParamError, StepContext
from winnow.curate.base import DropSampler
from winnow.docs import read_docs, write_docs


@STEPS.register("digit_share_filter")
class DigitShareFilter(Filter):
    """Drop documents whose characters are more than `max_share` digits. Reason: too_many_digits."""

    version = 1
    seed_dependent = False    # the output depends on the documents and parameters alone,
    budget_dependent = False  # so every seed and scale shares one curated folder

    def __init__(self, max_share: float = 0.2):
        if not 0.0 < max_share <= 1.0:
            raise ParamError("max_share", f"must be in (0, 1], got {max_share}")
        self.max_share = max_share

    def keep(self, doc: dict) -> bool | str:
        text = doc["text"]
        digits = sum(ch.isdigit() for ch in text)
        # True keeps the document; a short string drops it and is counted as the drop reason
        return True if digits <= self.max_share * max(len(text), 1) else "too_many_digits"


@STEPS.register("length_percentile")
class LengthPercentile(GlobalStep):
    """Keep the longest `keep_top` share of the whole corpus (a threshold that needs every
    document: a corpus-level step). Reason: below_length_percentile."""

    version = 1
    seed_dependent = False
    budget_dependent = False

    def __init__(self, keep_top: float = 0.5):
        if not 0.0 < keep_top <= 1.0:
            raise ParamError("keep_top", f"must be in (0, 1], got {keep_top}")
        self.keep_top = keep_top

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        # pass 1: every document's length, to place the threshold
        lengths = sorted(len(doc["text"]) for shard in input_shards for doc in read_docs(shard))
        cut = lengths[min(len(lengths) - 1, int(len(lengths) * (1.0 - self.keep_top)))] if lengths else 0
        # pass 2: write the kept documents into shards of the same names, count every drop
        c, outputs = self.counters, []
        for shard in input_shards:
            sampler = DropSampler()  # a sample of dropped documents for `winnow inspect`

            def kept(shard=shard, sampler=sampler):
                for doc in read_docs(shard):
                    c.docs_in += 1
                    if len(doc["text"]) >= cut:
                        c.docs_out += 1
                        yield doc
                    else:
                        c.drop("below_length_percentile")
                        sampler.add(self.step_index, self.step_name, "below_length_percentile", doc)

            out = Path(out_dir) / Path(shard).name
            write_docs(out, kept())
            sampler.write(Path(out_dir) / "dropped" / Path(shard).name)
            outputs.append(out)
        c.info["length_cut_chars"] = cut
        return outputs  # the list of shard paths written
