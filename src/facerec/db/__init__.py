"""Database access: engine, sessions, migrations, and the write lock."""
