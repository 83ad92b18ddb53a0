"""Fixed raw pools: built once from local sources, versioned and content-hashed."""
