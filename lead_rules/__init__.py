"""lead-rules: alignment rules as data."""
