"""edge-camera's loop and its health and metrics."""
