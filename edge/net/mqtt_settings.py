"""How to reach an MQTT broker: one settings object for edge-camera's results sink and edge-serve's requests.

Built once, from the --mqtt-* flags and YAML keys (from_options) or from a sink URI's host, port and
query keys (edge.sinks.uri), then handed whole to the part that connects: edge.sinks.mqtt.MqttSink
and edge.serve.mqtt.MqttFrontEnd, which make their client from it (edge.net.mqtt_client.new_client). The
password stays in its file until a client is made.
"""

DEFAULT_PORT = 1883
DEFAULT_QOS = 1
# The option names (flags without dashes, YAML keys) that fill each field.
OPTION_FIELDS = (("mqtt_host", "host"), ("mqtt_port", "port"), ("mqtt_qos", "qos"),
                 ("mqtt_client_id", "client_id"), ("mqtt_username", "username"),
                 ("mqtt_password_file", "password_file"), ("mqtt_tls_ca", "tls_ca"), ("mqtt_tls_cert", "tls_cert"),
                 ("mqtt_tls_key", "tls_key"), ("mqtt_tls_insecure", "tls_insecure"))


class MqttSettings(object):
    """A broker's address, the QoS, the client id, credentials (a password file) and TLS."""

    def __init__(self, host, port=DEFAULT_PORT, qos=DEFAULT_QOS, client_id=None, username=None, password_file=None,
                 tls_ca=None, tls_cert=None, tls_key=None, tls_insecure=False):
        self.host = host
        self.port = DEFAULT_PORT if port is None else int(port)
        self.qos = DEFAULT_QOS if qos is None else int(qos)
        self.client_id, self.username, self.password_file = client_id, username, password_file
        self.tls_ca, self.tls_cert, self.tls_key, self.tls_insecure = tls_ca, tls_cert, tls_key, bool(tls_insecure)

    @classmethod
    def from_options(cls, values):
        """Settings from resolved options, vars(args) or a sink URI's (the mqtt_* keys; None: the default)."""
        return cls(**dict((field, values.get(option)) for option, field in OPTION_FIELDS))

    def __repr__(self):
        return "MqttSettings({}:{}, qos {})".format(self.host, self.port, self.qos)

    def with_client_id(self, client_id):
        """A copy with `client_id` where none was given (each command has its own default)."""
        return MqttSettings(self.host, self.port, self.qos, self.client_id or client_id, self.username,
                            self.password_file, self.tls_ca, self.tls_cert, self.tls_key, self.tls_insecure)

