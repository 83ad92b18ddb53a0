"""Leaderboard rows (one JSON file per result), their verification, and the rendered tables."""
