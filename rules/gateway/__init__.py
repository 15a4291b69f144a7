"""Gateway: the nginx configuration as the gateway container loads it (GW rules), one module per family."""
