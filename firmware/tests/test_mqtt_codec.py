import mqtt
from util import eq


def _length(n):
    buf = bytearray(5)
    end = mqtt.encode_length(buf, 0, n)
    return bytes(buf[:end])


def test_remaining_length_vectors():
    eq(_length(0), b"\x00")
    eq(_length(127), b"\x7f")
    eq(_length(128), b"\x80\x01")
    eq(_length(16383), b"\xff\x7f")
    eq(_length(16384), b"\x80\x80\x01")
    eq(_length(2097151), b"\xff\xff\x7f")


def test_connect_packet_with_will_and_credentials():
    c = mqtt.MQTTClient("dev-1", "127.0.0.1", 1883, "user", "pw", keepalive_s=60)
    c.set_last_will("w/t", b'{"state":"offline"}')
    got = c._connect_packet()
    body = (
        b"\x00\x04MQTT\x04\xee\x00\x3c"
        b"\x00\x05dev-1"
        b"\x00\x03w/t\x00\x13" + b'{"state":"offline"}' + b"\x00\x04user\x00\x02pw"
    )
    eq(got, b"\x10" + bytes([len(body)]) + body)


def test_connect_packet_anonymous():
    got = mqtt.MQTTClient("dev-1", "h")._connect_packet()
    eq(got, b"\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05dev-1")
