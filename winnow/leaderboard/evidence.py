"""Evidence: what a leaderboard row's numbers are recomputed from, and the bundle that keeps it.

A row cites a run folder. The run folder's *evidence* is ``run.json`` (the resolved config),
every stage manifest of the chain (pool, curated, tokenized, train, eval: file tables, parents,
configs, stats) and the raw text of ``results.json``. ``row_numbers(evidence)`` derives every
number a row carries from it; ``submit`` writes the row from that, and ``winnow leaderboard
check`` derives it again and compares, so an edited row fails even when its ``row_hash`` was
recomputed after the edit.

The stages and their parents are the stage table's (``winnow.stages``); a row names each stage's
manifest by its kind (``pool``, ``curated``, ``tokenized``, ``train``, ``eval``).

Run folders are large and machine-local, so ``submit`` also stores the evidence beside the row
as a *bundle* (``<row>.bundle.json``, canonical JSON, schema ``BUNDLE_SCHEMA``). Where the run
folder is gone, the check uses the bundle, after checking that it is internally chained:

* each manifest's ``content_id`` is the hash of its own file table and equals the id the row
  cites for that stage;
* each stage names its parent's content id (curated -> pool, ..., eval -> train);
* the sha256 of the bundled ``results.json`` text is the one in the eval manifest's file table
  (so results cannot change without changing the eval content id the row cites);
* rows of schema 2 and later also record the bundle file's sha256.

An edit to the row's numbers, to the bundled results, or to a manifest's file table is caught.
What a bundle cannot catch is a forger who rewrites results, eval file table, the cited eval id,
the bundle hash and the row hash all consistently: that is a new, fabricated eval output. Runs are
deterministic (same seed, same ids and numbers in a fresh home), so such a row is exposed by
rerunning its ``run_id``; review of the commit that adds the row is the other guard.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from winnow.io import atomic_path, loads_json, read_json, sha256_bytes
from winnow.manifest import canonical_json, content_id_of, read_manifest
from winnow.stages import STAGES, parent_kind, run_folders

BUNDLE_SCHEMA = 1
BUNDLE_SUFFIX = ".bundle.json"


class EvidenceError(ValueError):
    pass


def collect(run_dir: Path) -> dict:
    """The evidence of a finished run folder (raises EvidenceError naming what is missing)."""
    run_dir = Path(run_dir)
    if not (run_dir / "run.json").exists():
        raise EvidenceError(f"{run_dir}: not a run folder (no run.json)")
    run = read_json(run_dir / "run.json")
    folders = run_folders(run_dir)
    manifests = {}
    for stage in STAGES:
        m = read_manifest(folders[stage.name]) if stage.name in folders else None
        if m is None:
            raise EvidenceError(f"{run_dir}: the {stage.name} stage has not finished (no manifest in "
                                f"{folders.get(stage.name) or stage.path(run_dir, run['suite'])}); run `winnow run` first")
        d = m.to_dict()
        d.pop("env", None)  # host facts: outside every hash, not evidence
        manifests[stage.kind] = d
    results = folders["eval"] / "results.json"
    if not results.exists():
        raise EvidenceError(f"{results}: missing; rerun the eval stage")
    return {"bundle_schema": BUNDLE_SCHEMA, "run": run, "recipe": recipe_facts(run),
            "manifests": manifests, "results_json": results.read_text(encoding="utf-8")}


def recipe_facts(run: dict) -> dict:
    """What a row needs from the submission's recipe.yaml beyond the fingerprint: ``targets:``
    (the eval tasks a targeted submission aims at). Read at submit time and kept in the bundle."""
    recipe = Path(run.get("submission_folder", "")) / "recipe.yaml"
    try:
        data = yaml.safe_load(recipe.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    t = data.get("targets") or []
    return {"targets": sorted(t) if isinstance(t, list) else [t]}


def comparable(evidence: dict) -> dict:
    """The part of evidence that two copies of the same artifacts must share. Left out: each
    manifest's ``code`` and ``input_key`` (a pool rebuilt by a later commit has the same content)
    and the pool's ``stats`` (its build timings); every stage's content, parents and config stay,
    and so do the stats that rows read."""
    out = {k: v for k, v in evidence.items() if k != "manifests"}
    out["manifests"] = {}
    for key, m in (evidence.get("manifests") or {}).items():
        keep = ("content_id", "files", "parents", "config", "kind") + (() if key == "pool" else ("stats",))
        out["manifests"][key] = {k: m.get(k) for k in keep}
    return out


def bundle_bytes(evidence: dict) -> bytes:
    return canonical_json(evidence) + b"\n"


def bundle_path(row_path: Path) -> Path:
    row_path = Path(row_path)
    return row_path.with_name(row_path.name[:-len(".json")] + BUNDLE_SUFFIX)


def is_bundle(path: Path) -> bool:
    return Path(path).name.endswith(BUNDLE_SUFFIX)


def chain_problems(evidence: dict, cited: dict[str, str]) -> list[str]:
    """Internal consistency of evidence, and agreement with the manifest ids a row cites."""
    probs = []
    ms = evidence.get("manifests") or {}
    for stage in STAGES:
        key, parent = stage.kind, parent_kind(stage)
        m = ms.get(key)
        if m is None:
            probs.append(f"the {key} manifest is missing")
            continue
        if content_id_of(m["files"]) != m["content_id"]:
            probs.append(f"the {key} manifest's content id {m['content_id'][:8]} is not the hash of its "
                         "file table (a file hash was edited)")
        if cited.get(key) != m["content_id"]:
            probs.append(f"the row cites {key} {str(cited.get(key))[:8]} but the evidence's {key} "
                         f"manifest has content id {m['content_id'][:8]}")
        if parent and parent in ms and m["parents"].get(parent) != ms[parent]["content_id"]:
            probs.append(f"the {key} manifest names parent {parent} {str(m['parents'].get(parent))[:8]} "
                         f"but the {parent} manifest has content id {ms[parent]['content_id'][:8]}")
    if "eval" in ms:
        want = (ms["eval"]["files"].get("results.json") or {}).get("sha256")
        got = sha256_bytes(evidence.get("results_json", "").encode("utf-8"))
        if want != got:
            probs.append(f"results.json has sha256 {got[:12]} but the eval manifest lists {str(want)[:12]} "
                         "(the results were edited)")
    return probs


def results_of(evidence: dict) -> dict:
    return json.loads(evidence["results_json"])


def write_bundle(path: Path, evidence: dict) -> str:
    """Write the bundle atomically; return its sha256."""
    data = bundle_bytes(evidence)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return sha256_bytes(data)


def read_bundle(path: Path) -> tuple[dict, str]:
    data = Path(path).read_bytes()
    try:
        ev = loads_json(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EvidenceError(f"{path}: not valid JSON ({e})") from None
    if ev.get("bundle_schema") != BUNDLE_SCHEMA:
        raise EvidenceError(f"{path}: bundle schema {ev.get('bundle_schema')!r}, expected {BUNDLE_SCHEMA}")
    return ev, sha256_bytes(data)
