"""Running the gateway: logging, metrics, and the health endpoint."""
