"""The MQTT connection options, declared once for edge-camera (results) and edge-serve (requests).

Each fills a field of edge.net.mqtt_settings.MqttSettings (MqttSettings.from_options). The flags'
defaults are None: edge-camera layers its YAML config under them; an unset port or QoS is the
settings' default. The command adds its own flags (topics, outbox) to the group.
"""

from edge.net.mqtt_settings import DEFAULT_PORT, DEFAULT_QOS
from edge.options.table import Option, add_flags

MQTT_OPTIONS = (
    Option("mqtt_host", str, what="a host name or address", help="MQTT broker host"),
    Option("mqtt_port", int, DEFAULT_PORT, help="default {}".format(DEFAULT_PORT)),
    Option("mqtt_qos", int, DEFAULT_QOS, choices=[0, 1, 2], help="default 1 (at least once)"),
    Option("mqtt_client_id", str, what="a client id"),
    Option("mqtt_username", str, what="a user name"),
    Option("mqtt_password_file", str, what="a file path",
           help="file holding the MQTT password (not on the command line)"),
    Option("mqtt_tls_ca", str, what="a file path", help="CA certificate: enables TLS"),
    Option("mqtt_tls_cert", str, what="a file path"),
    Option("mqtt_tls_key", str, what="a file path"),
    Option("mqtt_tls_insecure", bool, False, help="skip host name checks"),
)


def add_mqtt_arguments(group):
    """--mqtt-host, -port, -qos, -client-id, -username, -password-file, -tls-ca/-cert/-key/-insecure."""
    return add_flags(group, MQTT_OPTIONS)
