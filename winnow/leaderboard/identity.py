"""A row's identity (submission, scale, version, track, seed) bound to its evidence and its place.

``check_row`` already derives every field of a row from its evidence (``run.json`` and the
manifests); this module closes the ways around that which issue 21 found:

* ``evidence_problems``: ``run.json`` must agree with itself and with the manifests. The run id
  is recomputed from the resolved config (``winnow.runid``: submission, fingerprint, scale, suite,
  seed, pool), so a seed edited in ``run.json`` changes the key; the seeds the tokenized, train
  and curated manifests record must be the ones the config gives each source; the curated
  manifest's fingerprint must be the submission's.
* ``place_problems``: a row sits at ``<scale>/<track>/<slug>__seed<k>__<key8>.json`` with its own
  values, so a row and bundle copied into another scale's or track's folder is refused.
* ``board_problems``: within one scale version, one trained model counts once (a second row
  citing the same train manifest is refused; ``model_conflicts`` refuses it at submit time), and
  one submission name has one recipe fingerprint. Across versions of a scale the same model may
  appear once each: a version that changes only evaluation or ranking re-evaluates its
  predecessor's models (``winnow.reuse``), and versions are separate tables, never pooled.
* ``baseline_problems``: a ``baselines/<name>`` row must carry the fingerprint and track of this
  repository's ``baselines/<name>/recipe.yaml``, and ``submit`` takes baseline runs only from that
  folder (``baseline_folder_problems``), so a folder elsewhere named ``baselines/random`` cannot
  submit under the baseline's name. Changing a baseline's recipe therefore retires its old rows:
  rerun them.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

from winnow.paths import REPO_ROOT
from winnow.runid import RunIdError, run_id_of, run_key_of, source_seed
from winnow.stages import CURATE, TOKENIZE, TRAIN
from winnow.curate.recipe import RecipeError
from winnow.submission import load_submission


def _short(v) -> str:
    return str(v)[:8] if isinstance(v, str) else repr(v)


def evidence_problems(evidence: dict) -> list[str]:
    """Disagreements between ``run.json`` (its fields and its resolved config) and the manifests."""
    run, ms = evidence.get("run") or {}, evidence.get("manifests") or {}
    cfg = run.get("config") or {}
    probs = []
    try:
        scale, suite = cfg["scale"], cfg["suite"]
        for field, want in (("scale", scale.get("name")), ("scale_version", scale.get("version")),
                            ("suite", suite.get("name")), ("suite_version", suite.get("version")),
                            ("seed", cfg.get("seed"))):
            if run.get(field) != want or isinstance(run.get(field), bool):
                probs.append(f"run.json says {field} {run.get(field)!r} but its config says {want!r}")
        if not isinstance(cfg.get("seed"), int) or isinstance(cfg.get("seed"), bool) or cfg["seed"] < 0:
            probs.append(f"run.json's seed {cfg.get('seed')!r} is not a whole number >= 0")
            return probs
        key = run_key_of(cfg, run.get("submission"), run.get("fingerprint"))
        want_id = run_id_of(str(run.get("submission")), str(scale.get("name")), key)
        if run.get("run_key") != key or run.get("run_id") != want_id:
            probs.append(f"run.json's run id {run.get('run_id')!r} is not the one its submission, fingerprint, "
                         f"scale, suite, seed and pool give ({want_id}): run.json was edited")
        seeds = {s: source_seed(cfg, s) for s in ("curate", "fill", "order", "init")}
    except (KeyError, TypeError, AttributeError, RunIdError) as e:
        return probs + [f"run.json is incomplete ({type(e).__name__}: {e})"]
    tok = (ms.get(TOKENIZE.kind) or {}).get("config") or {}
    if TOKENIZE.kind in ms:
        if tok.get("seed") != seeds["fill"]:
            probs.append(f"the tokenized manifest was made with seed {tok.get('seed')!r} but run.json gives "
                         f"{seeds['fill']!r}")
        if tok.get("order_seed") != seeds["order"]:
            probs.append(f"the tokenized manifest's order seed is {tok.get('order_seed')!r} but run.json gives "
                         f"{seeds['order']!r}")
    if TRAIN.kind in ms and ((ms[TRAIN.kind].get("config") or {}).get("seed")) != seeds["init"]:
        probs.append(f"the train manifest was made with seed {ms[TRAIN.kind]['config'].get('seed')!r} but "
                     f"run.json gives {seeds['init']!r}")
    cur = (ms.get(CURATE.kind) or {}).get("config") or {}
    if CURATE.kind in ms:
        if cur.get("fingerprint") != run.get("fingerprint"):
            probs.append(f"the curated manifest is of recipe {_short(cur.get('fingerprint'))} but run.json names "
                         f"{_short(run.get('fingerprint'))}")
        # a shared curation (winnow.curate.store) of a seed-independent recipe records no seed
        want = seeds["curate"] if cur.get("seed_dependent", True) else None
        if cur.get("seed") != want:
            probs.append(f"the curated manifest was made with seed {cur.get('seed')!r} but run.json gives {want!r}")
    return probs


def expected_name(row: dict) -> str:
    key8 = str(row.get("run_id", "")).rsplit("__", 1)[-1]
    return f"{str(row.get('submission')).replace('/', '-')}__seed{row.get('seed')}__{key8}.json"


def place_problems(path: Path, row: dict) -> list[str]:
    """The row file's folder and name against its own scale, track, submission, seed and run id."""
    path = Path(path)
    want = Path(str(row.get("scale"))) / str(row.get("track")) / expected_name(row)
    got = Path(path.parent.parent.name) / path.parent.name / path.name
    if got != want:
        return [f"{path}: a row of scale {row.get('scale')!r}, track {row.get('track')!r}, seed "
                f"{row.get('seed')!r} belongs at rows/{want.as_posix()}, not rows/{got.as_posix()} "
                "(a row is not moved or copied by hand; `winnow submit` places it)"]
    return []


def repo_baseline(name: str) -> Path:
    return REPO_ROOT / "baselines" / name.split("/", 1)[1]


def baseline_folder_problems(run: dict) -> list[str]:
    """At submit time: a ``baselines/...`` run must have been made from this repository's recipe of
    that name: its folder, or a folder whose recipe has the same fingerprint (a git worktree of
    this repository pinned to another commit, as a background queue of runs uses)."""
    name = str(run.get("submission", ""))
    if not name.startswith("baselines/"):
        return []
    want = repo_baseline(name).resolve()
    got = Path(str(run.get("submission_folder", ""))).resolve()
    if got == want:
        return []
    try:
        same = (want / "recipe.yaml").is_file() and load_submission(want).fingerprint == run.get("fingerprint")
    except RecipeError:      # a recipe that needs plugin code to load: only its own folder will do
        same = False
    if same:
        return []
    return [f"{name} was run from {got}, whose recipe is not this repository's {want}: baseline rows come "
            "only from the repository's own baselines/ (put your recipe under submissions/<name>/)"]


def baseline_problems(path: Path, row: dict, fingerprints: dict[str, tuple[str, str] | None]) -> list[str]:
    """A ``baselines/...`` row against this repository's recipe of that name; ``fingerprints``
    caches (fingerprint, track) by name (None when the recipe needs plugin code to load)."""
    name = str(row.get("submission", ""))
    if not name.startswith("baselines/"):
        return []
    folder = repo_baseline(name)
    if not (folder / "recipe.yaml").is_file():
        return [f"{path}: {name} is not a baseline of this repository (no {folder}/recipe.yaml)"]
    if name not in fingerprints:
        try:
            sub = load_submission(folder)
            fingerprints[name] = (sub.fingerprint, sub.recipe.track)
        except RecipeError:   # needs plugin code: the board-wide one-fingerprint rule still holds
            fingerprints[name] = None
    known = fingerprints[name]
    if known is None:
        return []
    fp, track = known
    probs = []
    if row.get("fingerprint") != fp:
        probs.append(f"{path}: {name} in this repository has recipe fingerprint {fp[:8]} but the row records "
                     f"{_short(row.get('fingerprint'))}: it was not made from this repository's {name} "
                     "(or that recipe changed since: rerun the row)")
    if row.get("track") != track:
        probs.append(f"{path}: {name} is a {track}-track recipe but the row says track {row.get('track')!r}")
    return probs


def _model_key(row: dict) -> tuple[str, str, str] | None:
    """What "one trained model counts once in a scale version" compares: (scale, version, train
    content id); None for a row that cites no train manifest."""
    train = (row.get("manifests") or {}).get(TRAIN.kind)
    return (str(row.get("scale")), str(row.get("scale_version")), train) if isinstance(train, str) else None


def board_problems(rows: list[tuple[Path, dict]]) -> list[str]:
    """Problems between rows: the same trained model cited twice in one scale version (the row's
    own ``scale`` and ``scale_version``, not its folder), one name with two fingerprints."""
    probs = []
    first: dict[tuple, Path] = {}
    for path, row in rows:
        key = _model_key(row)
        if key is None:
            continue
        train = key[2]
        if key in first:
            probs.append(f"{path}: built from the same evidence as {first[key]} (train {train[:8]}): a "
                         "trained model counts once in a scale version; delete the copy")
        else:
            first[key] = path
    by_name: dict[str, list[tuple[Path, str]]] = defaultdict(list)
    for path, row in rows:
        by_name[str(row.get("submission"))].append((path, str(row.get("fingerprint"))))
    for name, items in sorted(by_name.items()):
        counts = Counter(fp for _, fp in items)
        if len(counts) < 2:
            continue
        recorded = max(counts, key=lambda fp: (counts[fp], -min(i for i, (_, f) in enumerate(items) if f == fp)))
        for path, fp in items:
            if fp != recorded:
                probs.append(f"{path}: submission {name} has recipe fingerprint {fp[:8]} here but {recorded[:8]} in "
                             f"{counts[recorded]} other row(s): one name, one recipe (submit a changed recipe "
                             "under a new name)")
    return probs


def model_conflicts(row: dict, existing: list[tuple[Path, dict]]) -> list[str]:
    """At submit time: rows already on the board, of ``row``'s scale version, that cite its trained
    model (``board_problems``'s rule, caught before the row is written). Two recipes get here
    honestly when they select the same training tokens: the CPU scales order documents by a keyed
    hash of their id, so the same tokens at the same seed train the same weights."""
    key = _model_key(row)
    return [f"{p} ({r.get('submission')}, seed {r.get('seed')}) already stands for this trained model "
            f"(train {_short(key[2])}, {row.get('scale')} v{row.get('scale_version')}): the run's training "
            "tokens are that row's, and a trained model counts once in a scale version (a recipe that "
            "selects the same documents within the token budget trains the same model)"
            for p, r in existing if key is not None and _model_key(r) == key]


def name_conflicts(row: dict, existing: list[tuple[Path, dict]]) -> list[str]:
    """At submit time: rows already on the board that record another fingerprint for ``row``'s name."""
    return [f"{p} records recipe fingerprint {_short(r.get('fingerprint'))} for {row['submission']}, this run "
            f"{row['fingerprint'][:8]}: one name, one recipe (submit a changed recipe under a new name)"
            for p, r in existing if r.get("submission") == row["submission"]
            and r.get("fingerprint") != row["fingerprint"]]
