"""Application: container runtime privileges, images, Dockerfiles and SQL code safety (APP rules)."""
