"""The MQTT connection options, declared once for edge-camera (results) and edge-serve (requests).

Every default is None: edge-camera layers its YAML config under the flags, edge-serve fills in
MQTT_DEFAULTS. The command adds its own flags (topics, outbox) to the group.
"""

# The numbers these flags take, checked against edge.options.ranges.
MQTT_NUMBERS = ("mqtt_port", "mqtt_qos")
MQTT_DEFAULTS = {"mqtt_port": 1883, "mqtt_qos": 1}


def add_mqtt_arguments(group):
    """--mqtt-host, -port, -qos, -client-id, -username, -password-file, -tls-ca/-cert/-key/-insecure."""
    group.add_argument("--mqtt-host", help="MQTT broker host")
    group.add_argument("--mqtt-port", type=int, help="default 1883")
    group.add_argument("--mqtt-qos", type=int, choices=[0, 1, 2], help="default 1 (at least once)")
    group.add_argument("--mqtt-client-id")
    group.add_argument("--mqtt-username")
    group.add_argument("--mqtt-password-file", help="file holding the MQTT password (not on the command line)")
    group.add_argument("--mqtt-tls-ca", help="CA certificate: enables TLS")
    group.add_argument("--mqtt-tls-cert")
    group.add_argument("--mqtt-tls-key")
    group.add_argument("--mqtt-tls-insecure", action="store_const", const=True, help="skip host name checks")
    return group
