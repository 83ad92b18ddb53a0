"""The leaderboard: rows (``rows``), their evidence bundles (``evidence``), the filtering-track
descent check (``descent``), verification of runs and rows (``verify``), ranking statistics and
cross-scale agreement (``stats``), Markdown tables (``render``) and the static page (``html``)."""
