"""API: JWT settings, CORS and internal endpoints at the gateway, the NATS message bus (API rules)."""
