"""Product mapping: restating the canonical rows of remapped POS products."""
