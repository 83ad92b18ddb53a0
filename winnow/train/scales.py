"""The scale registry (``conf/scale/*.yaml``) as data: load, derive, tabulate, and the
reference formulas the official scales are checked against.

Every scale is a YAML file; its derived numbers (steps, tokens, parameters, FLOPs) come from
``winnow.train.plan.derive`` and are never typed. ``scale_table()`` is what ``winnow ls scales``
prints.

Parameter counts. winnow's model is open_lm's architecture with QK-norm, whose gains span the
full d_model (2·d per layer). ``dclm_nominal_params`` is the figure DCLM's
``training/configs/*.json`` give as ``params`` (and from which their token budgets are 20×, 5× or
40×): it equals winnow's true count *minus* those QK-norm gains, for every DCLM shape:

    nominal = 2·V·d + L·(4·d² + 3·d·h + 2·d) + d      (true total = nominal + 2·L·d)

with V = 50,432 the padded vocabulary, h the SwiGLU hidden size; the two ``2·d`` terms per layer
left in are the block norms, ``+ d`` the final norm. E.g. 400m-1x: 411,616,256 nominal,
411,665,408 true (+ 24·2·1024 = 49,152). DCLM's ``params_no_embed`` is ``nominal − V·d`` (the
output head counts as non-embedding there; winnow's ``non_embedding`` excludes both matrices).

DataDecide / OLMo ladder (the 10m-1x, 60m-1x, 150m-1x shapes): ``olmo_ladder_params`` is
DataDecide's ``MODEL_TO_PARAMETERS`` (OLMo blocks 16·d²·L + norms + one 50,304·d embedding),
``olmo_ladder_lr`` and ``olmo_ladder_warmup`` the rules of OLMo's ``scripts/ladder.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

from winnow.config import group_file
from winnow.paths import conf_dir
from winnow.train.plan import ModelShape, derive, param_counts


def scale_names() -> list[str]:
    return sorted(p.stem for p in (conf_dir() / "scale").glob("*.yaml"))


def load_scale(name: str) -> dict:
    return group_file("scale", name)


def dclm_nominal_params(model: dict) -> int:
    """DCLM's ``params`` figure for an open_lm shape: the true count without QK-norm gains."""
    cfg = ModelShape.from_scale(model)
    return param_counts(cfg)["total"] - (2 * cfg.n_layers * cfg.d_model if cfg.qk_norm else 0)


def dclm_params_no_embed(model: dict) -> int:
    """DCLM's ``params_no_embed``: nominal params minus the input embedding only."""
    return dclm_nominal_params(model) - int(model["vocab_size"]) * int(model["d_model"])


OLMO_LADDER_VOCAB = 50304  # OLMo's padded GPT-NeoX/Dolma embedding size in the ladder


def olmo_ladder_params(d_model: int, n_layers: int) -> int:
    """DataDecide's parameter count of an OLMo ladder model (SwiGLU mlp_ratio 8, RMSNorm gains)."""
    return 16 * d_model**2 * n_layers + 2 * d_model * n_layers + d_model + OLMO_LADDER_VOCAB * d_model


def olmo_ladder_lr(n_params: int) -> float:
    return 0.0047 * (n_params / 108e6) ** (-1 / 3)


def olmo_ladder_warmup(n_params: int, batch_size: int, seq_len: int = 2048) -> int:
    return round(n_params / (batch_size * seq_len))


@dataclass(frozen=True)
class ScaleRow:
    name: str
    version: int
    params_non_embedding: int
    params_total: int
    tokens: int
    steps: int
    batch_size: int
    seq_len: int
    total_flops: int
    tokenizer: str


def scale_row(cfg: dict) -> ScaleRow:
    d = derive(cfg["model"], cfg["train"])
    return ScaleRow(name=cfg["name"], version=int(cfg["version"]),
                    params_non_embedding=d["params"]["non_embedding"], params_total=d["params"]["total"],
                    tokens=d["tokens"], steps=d["steps"], batch_size=int(cfg["train"]["batch_size"]),
                    seq_len=int(cfg["model"]["seq_len"]), total_flops=int(d["total_flops"]),
                    tokenizer=cfg["tokenizer"]["name"])


def _order(row: ScaleRow) -> tuple:
    return (row.total_flops, row.name)


def scale_rows(names: list[str] | None = None) -> list[ScaleRow]:
    """One row per scale, smallest compute first."""
    return sorted((scale_row(load_scale(n)) for n in (names or scale_names())), key=_order)


COLUMNS = ("scale", "ver", "params (non-emb)", "params (total)", "tokens", "steps", "batch", "seq",
           "FLOPs", "tokenizer")


def scale_table(rows: list[ScaleRow] | None = None) -> str:
    """A fixed-width text table of the scales (``winnow ls scales``)."""
    rows = scale_rows() if rows is None else rows
    cells = [COLUMNS] + [
        (r.name, f"v{r.version}", f"{r.params_non_embedding:,}", f"{r.params_total:,}", f"{r.tokens:,}",
         f"{r.steps:,}", f"{r.batch_size:,}", f"{r.seq_len:,}", f"{r.total_flops:.3g}", r.tokenizer)
        for r in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(COLUMNS))]
    left = {0, 1, len(COLUMNS) - 1}
    lines = []
    for row in cells:
        lines.append("  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)
