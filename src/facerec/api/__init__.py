"""HTTP layer: routes, request parsing, and the one place errors become responses."""
