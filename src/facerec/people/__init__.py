"""People: the registry of who can be recognised."""
