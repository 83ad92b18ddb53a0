"""winnow: a benchmark harness for language-model training-data curation (DCLM style).

The package is organised by stage (pool -> curate -> tokenize -> train -> eval -> leaderboard);
see README.md for the annotated tree. Importing ``winnow`` is cheap: heavy libraries (torch,
transformers, lm-eval) are imported only by the stages that need them.
"""

__version__ = "0.1.0"
