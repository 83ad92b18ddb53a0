"""Evaluation stage: DCLM tasks through lm-eval, scored the way llm-foundry (DCLM's evaluator) scores.

Modules, one concern each (imported lazily: lm-eval and torch are slow to import):

- `lm`: `WinnowLM`, the lm-eval adapter around any HF causal LM (three request methods, plus a
  record of token counts per (context, continuation) request);
- `scoring`: per-item and per-task values by llm-foundry's rules, versioned aggregates
  (`aggregate(per_task)`), DCLM's random baselines;
- `aggregates`: DCLM's task table (eval/dclm_tasks.json) and its aggregates (Core, Extended,
  MMLU, category means, core_prob_v1, gold bpb, CORE over the untargeted tasks);
- `dclm_database`: the reproduction check of DCLM's published numbers against those aggregates;
- `heldout`: held-out bits per byte of the model and of a unigram reference on the same tokens;
- `contamination`: the trained tokens' 13-token overlap with the scored items (gold and
  context), written by the eval stage into results.json and carried by every leaderboard row;
- `runner`: `evaluate(...)` runs a suite (conf/suite/*.yaml) and writes results.json + samples.

Task definitions live outside the package in eval/tasks/ (lm-eval YAML, `dclm_<task>`);
eval/README.md documents every task and every scoring choice.
"""
