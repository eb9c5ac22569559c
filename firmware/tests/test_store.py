import store
from util import eq, tmpdir


def test_write_atomic_replaces():
    d = tmpdir()
    store.write_atomic(d + "/a.json", b'{"x":1}', open)
    store.write_atomic(d + "/a.json", b'{"x":2}', open)
    eq(store.read_json(d + "/a.json", open), {"x": 2})


def test_read_json_missing_or_garbage():
    d = tmpdir()
    eq(store.read_json(d + "/none.json", open), None)
    with open(d + "/bad.json", "wb") as f:
        f.write(b'{"x":')
    eq(store.read_json(d + "/bad.json", open), None)


def test_boot_counter_rises_and_respects_the_ring():
    d = tmpdir()
    eq(store.next_boot(d, -1, open), 0)
    eq(store.next_boot(d, -1, open), 1)
    eq(store.next_boot(d, 9, open), 10, "ring holds boot 9: counter file was lost")
    eq(store.next_boot(d, -1, open), 11)
