"""Recipe YAML: load, validate, fingerprint and compile a submission's curation recipe.

A recipe (submissions/README.md "Recipes") is ``name``, ``track`` (filtering | mixing | order) and either
``steps:`` (a list of ``{step: <registered name>, <param>: <value>, ...}``; a bare name is a step
without parameters; ``steps: []`` keeps the whole pool) or ``ids: <file>`` (a sorted list of pool
document ids, compiled to one ``select_ids`` step; a file that is not YAML is read as such a list
on its own: ``is_id_list``; a remote one is pinned, ``ids: {url: <fsspec URL>, sha256: <hex>}``, and
fetched verified into ``$WINNOW_HOME/external``). ``plugins: [file.py]`` are imported by path
only with ``allow_code=True`` (``allow_code=true`` on the command line, ``--allow-code`` for
``winnow validate``); ``external:`` is accepted on the mixing track
only; ``stages:`` on the order track only, where it is required (the ordered training stages
over the documents' ``meta.stage`` labels: ``winnow.tokenize.stages`` has the syntax; the
compact and explicit spellings compile to the same list and fingerprint, which includes the
stages only when present). ``targets: [dclm_<task>, ...]`` declares the evaluation tasks a *targeted* submission optimises for (e.g. DsDm's selection toward LAMBADA and
SQuAD): they must be known task names, every task a step's own ``targets`` parameter names must
be declared there, and such submissions are also ranked on CORE without those tasks
(``winnow.eval.aggregates.untargeted_aggregates``; the row is flagged ``targeted``).

Notable choices:

* Validation needs no compute but is thorough: every problem found is reported at once, each
  naming the file, the step (1-based, as a person counts list items) and how to fix it. Unknown
  steps and parameters get did-you-mean suggestions; values are checked against the
  constructor's annotations (int, float, str, bool, list, dict, Literal, unions); each step is
  then instantiated, so constructors can reject values with ``ParamError``/``ValueError``.
* Paths (the ids file, plugins, any parameter ending in ``_file`` or ``_path``) are relative to
  the recipe's folder, must resolve inside it (symlinks resolved; ``winnow.paths.inside``),
  are checked to exist, and passed to steps as absolute paths.
* The fingerprint hashes the canonical steps (name, version, parameters with defaults filled in,
  referenced files replaced by their sha256), the plugins' sha256 and the ``external:`` entries
  (``ExternalFile.canonical``: a file's sha256; a reference corpus' name and docs sha256) — not
  the YAML text, so comments, key order and the folder's location do not change it. The recipe
  ``name`` is not part of it: identical data recipes share a fingerprint. A parameter a step
  lists in ``added_params`` (added later, its default keeping the old output) is left out of
  the canonical step while it holds its default, so earlier recipes keep their fingerprints.
* Each compiled step records whether its output depends on the curation seed and on the
  scale's token budget (the step's ``seed_dependent``/``budget_dependent``, read from the
  instance the validation builds, so a parameter such as ``seed:`` can settle it);
  ``Recipe.dependence()`` sums them up for the curate stage's key.
* ``segments()`` compiles the steps into maximal runs of document steps, split at each
  GlobalStep (each GlobalStep is a segment of its own).
* Duplicate YAML keys are an error (PyYAML would silently keep the last one).
* Each step's field declarations (``needs``/``provides``) are checked in recipe order, so a step
  reading a field no earlier step writes fails here, naming both steps (``winnow.curate.fields``).

One step's checks and canonical form are ``winnow.curate.stepcompile``; the strict YAML reading
(duplicate keys, ``file:line:col`` messages) is ``winnow.curate.recipe_yaml``. This module keeps
the recipe's own keys (track, ids, plugins, external, targets, stages) and the ``Recipe``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from winnow.curate.base import PluginError, SegmentJob, StepContext, StepSpec
from winnow.curate.plugins import build_step, load_plugins, resolve_step
from winnow.curate.fields import field_problems
from winnow.curate.recipe_yaml import StrictLoader, yaml_problem, yaml_type
from winnow.curate.stepcompile import compile_step, is_file_param, looks_like_url
from winnow.io import sha256_file
from winnow.manifest import hash_obj
from winnow.paths import inside, is_url, local_path, outside_message
from winnow.registry import suggest
from winnow.curate.external import ExternalError, fetch_pinned, parse_external, pinned_entry
from winnow.eval.aggregates import load_task_table

TRACKS = ("filtering", "mixing", "order")
TOP_KEYS = ("name", "track", "description", "authors", "notes", "steps", "ids", "plugins",
            "external", "stages", "targets")
FINGERPRINT_SCHEMA = 1
MAX_NAME = 100   # characters of a recipe's display name
RECIPE_FILE = "recipe.yaml"


class RecipeError(ValueError):
    """A recipe cannot be used; ``problems`` lists every problem found (each self-contained)."""

    def __init__(self, problems: list[str] | str, path: str | Path | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.path = path
        if len(self.problems) == 1:
            msg = self.problems[0]
        else:
            head = f"{path}: " if path else ""
            msg = f"{head}{len(self.problems)} problems:\n" + "\n".join(
                f"  - {p}" for p in self.problems)
        super().__init__(msg)

    def __reduce__(self):
        return (type(self), (self.problems, self.path))


# --------------------------------------------------------------------------- model

@dataclass
class Segment:
    """A compiled unit of work: a run of document steps, or one GlobalStep."""

    index: int
    kind: str  # "docs" | "global"
    steps: list[StepSpec]

    @property
    def dirname(self) -> str:
        return f"seg_{self.index}_{self.kind}"


@dataclass
class Recipe:
    name: str
    track: str
    path: Path
    steps: list[StepSpec]
    ids_file: Path | None = None
    plugins: list[Path] = field(default_factory=list)
    external: list = field(default_factory=list)  # winnow.curate.external.ExternalFile, mixing track
    targets: list[str] = field(default_factory=list)  # dclm_<task> names, sorted
    stages: list = field(default_factory=list)  # winnow.tokenize.stages.Stage, order track
    data: dict = field(default_factory=dict, repr=False)
    local_steps: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def folder(self) -> Path:
        return self.path.parent

    def segments(self) -> list[Segment]:
        """Maximal runs of document steps, split at each GlobalStep (its own segment)."""
        segs: list[Segment] = []
        for spec in self.steps:
            if spec.kind == "docs" and segs and segs[-1].kind == "docs":
                segs[-1].steps.append(spec)
            else:
                segs.append(Segment(len(segs), spec.kind, [spec]))
        return segs

    def referenced_files(self) -> dict[str, Path]:
        """Every local file the recipe uses: ids file, plugins, ``*_file``/``*_path`` params."""
        files: dict[str, Path] = {}
        if self.ids_file is not None:
            files["ids"] = self.ids_file
        for p in self.plugins:
            files[f"plugin:{p.name}"] = p
        for spec in self.steps:
            for k, v in spec.params.items():
                if is_file_param(k) and isinstance(v, str) and not looks_like_url(v):
                    files[f"step{spec.index}.{k}"] = Path(v)
        return files

    def fingerprint(self) -> str:
        """sha256 of the canonical steps, their versions, and the referenced files' contents."""
        canon = {
            "schema": FINGERPRINT_SCHEMA,
            "track": self.track,
            "steps": [s.canonical for s in self.steps],
            "plugins": [sha256_file(p) for p in self.plugins],
            "external": [f.canonical for f in self.external],
        }
        if self.targets:  # only when present, so untargeted recipes keep their fingerprints
            canon["targets"] = list(self.targets)
        if self.stages:  # likewise: recipes without stages keep their fingerprints
            canon["stages"] = self.stages_canonical()
        return hash_obj(canon)

    def stages_canonical(self) -> list[dict] | None:
        """The stages in their explicit form (what hashes), or None without stages."""
        from winnow.tokenize.stages import canonical  # numpy: listing steps must stay numpy-free

        return canonical(self.stages) if self.stages else None

    @property
    def seed_dependent(self) -> bool:
        """Some step's output depends on the curation seed (``StepSpec.seed_dependent``)."""
        return any(s.seed_dependent for s in self.steps)

    @property
    def budget_dependent(self) -> bool:
        """Some step's output depends on the scale's token budget or bytes per token."""
        return any(s.budget_dependent for s in self.steps)

    def dependence(self) -> dict:
        """What of a run the curated output depends on, and which steps make it so: decides
        the curate stage's key and which runs share a curated folder (``winnow.curate.store``)."""
        return {"seed_dependent": self.seed_dependent, "budget_dependent": self.budget_dependent,
                "seeded_steps": [s.label for s in self.steps if s.seed_dependent],
                "budget_steps": [s.label for s in self.steps if s.budget_dependent]}

    def run_inputs(self, seed: int, train_tokens: int | None,
                   bytes_per_token: float | None) -> dict:
        """The run's values that the curated output depends on, for keys: the seed only if
        the recipe is seed-dependent, the budget numbers only if it is budget-dependent (a
        recipe dependent on both gives every value, under the names keys always used)."""
        out: dict = {}
        if self.seed_dependent:
            out["seed"] = seed
        if self.budget_dependent:
            out.update(train_tokens=train_tokens, bytes_per_token=bytes_per_token)
        return out

    def flags(self) -> dict:
        """Facts a leaderboard row records about the submission."""
        return {"plugin_code": bool(self.plugins), "external_data": bool(self.external),
                "ids_list": self.ids_file is not None}

    @property
    def targeted(self) -> bool:
        """The recipe declares target tasks (rows flag it; rank it also by core_heldout_*)."""
        return bool(self.targets)

    def job(self, steps: list[StepSpec], ctx: StepContext) -> SegmentJob:
        """A picklable job for an engine: the specs, this recipe's plugin files and the context."""
        return SegmentJob(steps=list(steps), plugins=[str(p) for p in self.plugins], ctx=ctx)

    def build(self, spec: StepSpec, ctx: StepContext | None = None, setup: bool = True) -> Any:
        """Instantiate one step (resolving this recipe's plugin steps first)."""
        return build_step(spec, self.local_steps, ctx, setup=setup)

    def summary(self) -> dict:
        out = {"name": self.name, "track": self.track, "path": str(self.path),
               "fingerprint": self.fingerprint(), **self.flags(), "targeted": self.targeted,
               "targets": list(self.targets),
               "steps": [{"index": s.index, "step": s.name, "kind": s.kind,
                          "version": s.version, "params": s.canonical["params"]}
                         for s in self.steps]}
        if self.stages:
            out["stages"] = self.stages_canonical()
        return out


def _target_name(name: str) -> str:
    """``squad`` and ``dclm_squad`` -> ``dclm_squad`` (winnow's lm-eval task names)."""
    return name if name.startswith("dclm_") else f"dclm_{name}"


def _check_targets(raw: Any, path: Path, problems: list[str]) -> list[str]:
    """The recipe's ``targets:`` as sorted ``dclm_<task>`` names; problems for bad entries."""
    if raw is None:
        return []
    if not _str_list(raw) or not raw:
        problems.append(f"{path}: `targets` must be a non-empty list of evaluation task names "
                        f"(e.g. [dclm_squad, dclm_lambada_openai]), got {yaml_type(raw)}")
        return []
    known = [f"dclm_{t}" for t in load_task_table().names]
    out: list[str] = []
    for t in raw:
        name = _target_name(t)
        if name not in known:
            problems.append(f"{path}: `targets` names unknown task {t!r}: {suggest(name, known)}")
        elif name in out:
            problems.append(f"{path}: `targets` lists {name} twice")
        else:
            out.append(name)
    return sorted(out)


def _check_stage_labels(stages: list, specs: list[StepSpec], local: dict[str, Any], path: Path,
                        problems: list[str]) -> None:
    """Stages against the labels the recipe's last labelling step writes, when one says.

    A step class may declare ``stage_labels(params) -> set[int]`` (``params`` with defaults
    filled in): the ``meta.stage`` values it gives (``curriculum_stages``: ``0..count-1``). Then every label must be used by a stage and
    every label a stage uses must be given, so a mismatch fails here, not after curation.
    """
    labelling = [s for s in specs if callable(getattr(resolve_step(s.name, local),
                                                      "stage_labels", None))]
    if not labelling:
        return
    spec = labelling[-1]
    try:
        given = set(resolve_step(spec.name, local).stage_labels(spec.canonical["params"]))
    except Exception as e:  # a plugin's stage_labels: name it rather than show a traceback
        problems.append(f"{path}: {spec.label}: its stage_labels(params) failed: "
                        f"{type(e).__name__}: {e}")
        return
    if not given:
        problems.append(f"{path}: {spec.label}: its stage_labels(params) gives no label")
        return
    used = {v for s in stages for v in s.labels}
    if used - given:
        problems.append(f"{path}: `stages:` uses meta.stage label(s) {sorted(used - given)[:10]}, "
                        f"which {spec.label} never gives (it gives {min(given)}..{max(given)}); "
                        "match the stages' labels to the step's `count`")
    if given - used:
        problems.append(f"{path}: {spec.label} gives meta.stage label(s) "
                        f"{sorted(given - used)[:10]} that no stage uses; those documents would "
                        "never train (match the stages' labels to the step's `count`)")


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def recipe_path(path: str | Path) -> Path:
    """``path`` itself, or ``path/recipe.yaml`` when given a submission folder."""
    p = Path(path).expanduser()
    return p / RECIPE_FILE if p.is_dir() else p


def is_id_list(path: str | Path) -> bool:
    """A file that is not YAML is a plain id list (one pool document id a line, sorted): a
    complete filtering-track submission, as ``name: <file stem>, track: filtering, ids: <file>``."""
    p = Path(path)
    return p.is_file() and p.suffix.lower() not in (".yaml", ".yml")


def load_recipe(path: str | Path, allow_code: bool = False) -> Recipe:
    """Load, validate and compile a recipe; raise RecipeError listing every problem found."""
    path = recipe_path(path)
    if not path.is_file():
        raise RecipeError(f"{path}: no such recipe file (give a recipe.yaml or a submission "
                          "folder holding one)", path)
    if not inside(path.parent, path):   # a recipe.yaml linked out of its folder is never read
        raise RecipeError(f"{path}: " + outside_message("the recipe", path.name, path.resolve(),
                                                        path.parent.resolve()), path)
    if is_id_list(path):
        data: Any = {"name": path.stem, "track": "filtering", "ids": path.name}
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise RecipeError(f"{path}: cannot be read ({e.strerror or e})", path) from None
        except UnicodeDecodeError as e:
            raise RecipeError(f"{path}: not a text file (byte {e.start} is not UTF-8); a recipe is a UTF-8 "
                              "YAML file (copy submissions/template/recipe.yaml to start one)", path) from None
        try:
            data = yaml.load(text, Loader=StrictLoader)
        except yaml.YAMLError as e:
            raise RecipeError(yaml_problem(path, text, e), path) from None
        except RecursionError:
            raise RecipeError(f"{path}: the YAML nests too deep to read; a recipe is a few levels "
                              "deep (`steps:`, a list of `- step: <name>` mappings)", path) from None
    if data is None:
        raise RecipeError(f"{path}: the file is empty; a recipe needs at least `name:`, `track:` "
                          "and `steps:` (or `ids:`)", path)
    if not isinstance(data, dict):
        raise RecipeError(f"{path}: the top level must be a mapping (`name: ...`, `track: ...`, "
                          f"`steps: ...`), got {yaml_type(data)}", path)

    problems: list[str] = []
    for key in data:
        if key not in TOP_KEYS:
            problems.append(f"{path}: unknown top-level key {key!r}: "
                            f"{suggest(str(key), list(TOP_KEYS))}")
    name = data.get("name")
    if name is None:
        problems.append(f"{path}: missing `name:` (a short name for the submission)")
    elif not isinstance(name, str) or not name.strip():
        problems.append(f"{path}: `name` must be a non-empty string, got {yaml_type(name)}")
    elif not name.isprintable() or len(name) > MAX_NAME:   # it heads tables, pages and log lines
        problems.append(f"{path}: `name` must be one line of printable characters, at most {MAX_NAME}, got "
                        f"{yaml_type(name)}")
    track = data.get("track")
    if track is None:
        problems.append(f"{path}: missing `track:`; use one of {', '.join(TRACKS)}")
    elif track not in TRACKS:
        problems.append(f"{path}: unknown track {track!r}: {suggest(str(track), list(TRACKS))} "
                        f"(tracks: {', '.join(TRACKS)})")
    has_steps = data.get("steps") is not None
    has_ids = data.get("ids") is not None
    if has_steps == has_ids:
        problems.append(f"{path}: give exactly one of `steps:` (a list of steps) and `ids:` (a "
                        f"sorted file of pool ids), not {'both' if has_steps else 'neither'}")
    if has_steps and not isinstance(data["steps"], list):
        problems.append(f"{path}: `steps` must be a list (`- step: <name>` items), "
                        f"got {yaml_type(data['steps'])}")
    if has_ids and not isinstance(data["ids"], str):
        try:
            if pinned_entry(data["ids"]) is None:
                problems.append(f"{path}: `ids` must be a file path or {{url: <URL>, sha256: <64 hex>}}, "
                                f"got {yaml_type(data['ids'])}")
        except ExternalError as e:
            problems.append(f"{path}: `ids`: {e}")
    external = data.get("external")
    if external is not None:
        if track != "mixing":
            problems.append(f"{path}: `external:` (documents from outside the pool) is only "
                            f"allowed on the mixing track, not {track!r}")
        else:
            external, found = parse_external(external, path.parent.resolve())
            problems.extend(f"{path}: {p}" for p in found)
    targets = _check_targets(data.get("targets"), path, problems)
    stages: list = []
    if data.get("stages") is not None and track != "order":
        problems.append(f"{path}: `stages:` is only used by the order track, not {track!r}")
    elif track == "order":
        if data.get("stages") is None:
            problems.append(f"{path}: the order track needs `stages:` (the ordered training "
                            "stages, e.g. `stages: {count: 20, cumulative: true, shares: equal}` "
                            "over the documents' meta.stage labels; see winnow/tokenize/stages.py)")
        else:
            from winnow.tokenize.stages import parse_stages  # numpy (see stages_canonical)

            stages, found = parse_stages(data["stages"])
            problems.extend(f"{path}: {p}" for p in found)

    folder = path.parent.resolve()
    plugins_raw = data.get("plugins")
    plugins: list[Path] = []
    if plugins_raw is not None:
        if not _str_list(plugins_raw):
            problems.append(f"{path}: `plugins` must be a list of .py files relative to the "
                            "recipe's folder")
        else:
            for p in plugins_raw:
                full = (folder / p).resolve()
                if not inside(folder, full):
                    problems.append(f"{path}: " + outside_message("plugin", p, full, folder))
                elif not full.is_file():
                    problems.append(f"{path}: plugin file {p!r} not found (looked for {full})")
                plugins.append(full)
    if plugins and not allow_code:
        problems.append(f"{path}: the recipe uses plugin code ({', '.join(plugins_raw)}), which "
                        "runs only if you opt in after reading the plugin files: add "
                        "allow_code=true to the compute verb (`winnow run submission=... "
                        "allow_code=true`), or --allow-code to `winnow validate` "
                        "(allow_code=True in load_recipe)")
        raise RecipeError(problems, path)
    if problems:
        raise RecipeError(problems, path)

    local: dict[str, Any] = {}
    if plugins:
        try:
            local = load_plugins(plugins)
        except PluginError as e:
            raise RecipeError(f"{path}: {e}", path) from None

    specs: list[StepSpec] = []
    ids_file = None
    if has_ids and isinstance(data["ids"], dict):   # a pinned remote id file, fetched and verified
        try:
            ids_file = fetch_pinned(*pinned_entry(data["ids"]), what="`ids` file")
        except ExternalError as e:
            raise RecipeError(f"{path}: {e}", path) from None
        spec = compile_step(1, "select_ids", {"ids_file": str(ids_file)}, f"{path}: ids",
                            ids_file.parent, local, problems)
        specs += [spec] if spec is not None else []
    elif has_ids:
        if is_url(data["ids"]) and local_path(data["ids"]) is None:
            raise RecipeError(f"{path}: `ids` names the URL {data['ids']!r}; the id file must be in the "
                              f"submission folder (copy it in), or be pinned: ids: {{url: {data['ids']}, "
                              "sha256: <64 hex>}; a whole submission folder may be a URL too "
                              "(submission=s3://bucket/folder is copied to a local cache)", path)
        given = local_path(data["ids"]) if is_url(data["ids"]) else Path(data["ids"])  # file:// is local
        ids_file = (folder / given).resolve()
        if not inside(folder, ids_file):
            raise RecipeError(f"{path}: " + outside_message("`ids`", data["ids"], ids_file, folder), path)
        if not ids_file.is_file():
            raise RecipeError(f"{path}: `ids` names {data['ids']!r}, but {ids_file} does not "
                              "exist (paths are relative to the recipe's folder)", path)
        spec = compile_step(1, "select_ids", {"ids_file": str(ids_file)}, f"{path}: ids",
                            folder, local, problems)
        if spec is not None:
            specs.append(spec)
    else:
        for i, item in enumerate(data["steps"], 1):
            where = f"{path}: step {i}"
            if isinstance(item, str):
                step_name, params = item, {}
            elif isinstance(item, dict):
                if "step" not in item:
                    problems.append(f"{where}: no `step:` key (got {', '.join(map(str, item))}); "
                                    "each item is `- step: <name>` followed by its parameters")
                    continue
                step_name = item["step"]
                params = {k: v for k, v in item.items() if k != "step"}
            else:
                problems.append(f"{where}: each step must be a mapping `- step: <name>`, "
                                f"got {yaml_type(item)}")
                continue
            if not isinstance(step_name, str):
                problems.append(f"{where}: `step` must be a step name, got {yaml_type(step_name)}")
                continue
            bad_keys = [k for k in params if not isinstance(k, str)]
            if bad_keys:
                problems.append(f"{where} ({step_name}): parameter names must be strings, "
                                f"got {bad_keys!r}")
                continue
            spec = compile_step(i, step_name, params, f"{where} ({step_name})", folder, local,
                                problems)
            if spec is not None:
                specs.append(spec)
    for spec in specs:
        step_targets = spec.params.get("targets")
        if isinstance(step_targets, list):
            undeclared = sorted({_target_name(t) for t in step_targets if isinstance(t, str)}
                                - set(targets))
            if undeclared:
                problems.append(f"{path}: step {spec.index} ({spec.name}) targets "
                                f"{', '.join(undeclared)}, which the recipe does not declare: add "
                                f"them to the top-level `targets:` list, so the submission is "
                                "flagged as targeted and also scored without those tasks")
    if not problems:  # every step compiled: what each needs is provided before it
        problems.extend(f"{path}: {p}" for p in field_problems(specs, bool(stages), local))
    if stages:
        _check_stage_labels(stages, specs, local, path, problems)
    if problems:
        raise RecipeError(problems, path)
    return Recipe(name=name, track=track, path=path.resolve(), steps=specs, ids_file=ids_file,
                  plugins=plugins, external=list(external or []) if track == "mixing" else [],
                  targets=targets, stages=stages, data=data, local_steps=local)


def validate_recipe(path: str | Path, allow_code: bool = False) -> list[str]:
    """Every problem of the recipe at ``path`` (empty when it is valid); runs no curation."""
    try:
        load_recipe(path, allow_code=allow_code)
    except RecipeError as e:
        return list(e.problems)
    return []
