"""Data: secrets, data services, backups and the PostgreSQL init scripts (DATA rules)."""
