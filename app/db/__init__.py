"""Persistence: models, engine and sessions, repositories, Alembic migrations."""
