"""Vector index: a cache of the faces table, kept in step through the change log."""
