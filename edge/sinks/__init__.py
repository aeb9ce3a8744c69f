"""Result sinks for the camera daemon: JSON lines, HTTP (health, metrics, latest, MJPEG), MQTT."""
