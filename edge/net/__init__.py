"""The HTTP, MQTT and metrics plumbing shared by edge-camera and edge-serve."""
