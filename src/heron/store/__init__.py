"""Storage: the schema, migrations and engine set-up; SQLite by default, PostgreSQL for scale."""
