"""One way to make a paho MQTT client, for edge-camera's results sink and edge-serve's request topic.

paho-mqtt 1.x (the last for Python 3.6 is 1.6.1: JetPack 4.6) and 2.x (Python 3.7+) differ in the
constructor (2.x asks for a callback API version) and in what on_connect receives (an int or a
ReasonCode); MQTT 5 (Response Topic, Correlation Data) came with 1.5.0. Credentials and TLS are
set the same way for every caller, from one settings object (edge.net.mqtt_settings). paho is imported only here, when a client is made.

A persistent session (edge-serve's request topic) makes the broker keep the subscription, and the
QoS 1 messages that arrive for it, while the client is away: MQTT 3.1.1 with clean_session false
(set on the client), MQTT 5 with clean_start false and a Session Expiry Interval (set on connect:
connect_options). Both need a client id that stays the same from one connection to the next.
"""

from edge.errors import EdgeError
from edge.util.lazy import require

PROTOCOLS = ("5", "3.1.1")


def paho(purpose):
    return require("paho.mqtt.client", purpose)


def new_client(purpose, settings, protocol="3.1.1", persistent=False):
    """(paho module, client) with the credentials and TLS of `settings` (edge.net.mqtt_settings.MqttSettings);
    not connected.

    protocol: "3.1.1" or "5". TLS is on when a CA or a client certificate is given; tls_insecure
    skips the host name check. persistent: MQTT 3.1.1's clean_session false (MQTT 5: connect_options).
    """
    mqtt = paho(purpose)
    options = {"client_id": settings.client_id}
    if protocol == "5":
        if not hasattr(mqtt, "MQTTv5"):
            raise EdgeError("this paho-mqtt has no MQTT 5 (it came with paho-mqtt 1.5): pip install 'paho-mqtt>=1.5', "
                            "or use --mqtt-protocol 3.1.1")
        options["protocol"] = mqtt.MQTTv5
    elif protocol != "3.1.1":
        raise EdgeError("unknown MQTT protocol {!r}; choose from {}".format(protocol, ", ".join(PROTOCOLS)))
    elif persistent:
        options["clean_session"] = False   # paho refuses clean_session for MQTT 5
    if hasattr(mqtt, "CallbackAPIVersion"):  # paho-mqtt 2.x
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, **options)
    else:  # paho-mqtt 1.x
        client = mqtt.Client(**options)
    if settings.username:
        client.username_pw_set(settings.username, read_password(settings.password_file))
    if settings.tls_ca or settings.tls_cert:
        try:
            client.tls_set(ca_certs=settings.tls_ca, certfile=settings.tls_cert, keyfile=settings.tls_key)
        except (IOError, OSError, ValueError) as exc:
            raise EdgeError("MQTT TLS set-up failed: {}".format(exc))
        client.tls_insecure_set(settings.tls_insecure)
    return mqtt, client


def connect_options(protocol, session_expiry_s=None):
    """Keyword arguments for connect()/connect_async() (paho 1.5+ and 2.x): for MQTT 5 with a
    session_expiry_s, a persistent session (clean_start false, Session Expiry Interval), kept on
    every reconnect; else none (MQTT 3.1.1 sets its session on the client: new_client)."""
    if protocol != "5" or not session_expiry_s:
        return {}
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = int(session_expiry_s)
    return {"clean_start": False, "properties": properties}


def connect_failed(reason):
    """True when on_connect's reason (paho 1.x: an int, or a ReasonCodes for MQTT 5; 2.x: a ReasonCode) is a refusal."""
    if hasattr(reason, "is_failure"):
        return reason.is_failure
    value = getattr(reason, "value", reason)
    return value != 0


def read_password(path):
    """The password held in `path` (kept off the command line), without its trailing newline."""
    if not path:
        return None
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError) as exc:
        raise EdgeError("cannot read the MQTT password file {} ({})".format(path, exc))
