"""Connect with the node's last will, say so, then hang (the test kills this process).

    micropython firmware/tests/probe_will.py PORT CITY DEVICE_ID USER PASSWORD
"""

import sys

_HERE = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
sys.path.insert(0, _HERE + "/../lib")

import payload  # noqa: E402
from compat import sleep_ms  # noqa: E402
from mqtt import MQTTClient  # noqa: E402

port, city, device_id, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
topic = "ww/%s/bins/%s/status" % (city, device_id)
client = MQTTClient(device_id, "127.0.0.1", port, user, password, keepalive_s=60)
client.set_last_will(topic, payload.status("offline", device_id, "0.1.0", 7, "connection_lost", 0))
client.connect()
client.publish(topic, payload.status("online", device_id, "0.1.0", 7, "boot", 0), True)
print("connected")
while True:
    sleep_ms(1000)
