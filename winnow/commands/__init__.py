"""The handlers of ``winnow <verb>``, grouped by area; ``winnow.cli`` builds the parser and dispatches.

Each handler takes the parsed ``argparse.Namespace`` and returns the exit status. The modules:
``compute`` (the stage verbs ``pool``, ``curate``, ``tokenize``, ``train``, ``eval``, ``run``, with
Hydra's ``--multirun``/``--cfg``), ``board`` (``submit``, ``leaderboard``, ``analyze``), ``recipes``
(``ls``, ``validate``, ``verify``, ``inspect``, ``import-dclm``) and ``data`` (``data``, ``tokenizer``,
``check-aggregates``, ``convert``). Errors a user can fix are raised and reported by ``winnow.cli.main``
in one line.
"""
