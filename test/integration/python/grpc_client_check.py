# A Python gRPC client (grpcio, gRPC's C core) against an etcd endpoint, with protobuf encoded by
# hand so that nothing but Debian's python3-grpcio is needed. Prints one JSON object with what it
# saw; test/integration/python-grpc-client.test.ts judges it.
# Usage: /usr/bin/python3 grpc_client_check.py 127.0.0.1:2379
import json
import sys
import threading

import grpc


def varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field_bytes(number, data):
    return varint((number << 3) | 2) + varint(len(data)) + data


def field_varint(number, value):
    return varint(number << 3) + varint(value)


def parse(data):
    """Top-level protobuf fields: {number: [int or bytes, ...]}."""
    fields = {}
    offset = 0
    while offset < len(data):
        key, offset = read_varint(data, offset)
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            value, offset = read_varint(data, offset)
        elif wire_type == 2:
            length, offset = read_varint(data, offset)
            value = data[offset:offset + length]
            offset += length
        else:
            raise ValueError('unexpected wire type %d' % wire_type)
        fields.setdefault(number, []).append(value)
    return fields


def read_varint(data, offset):
    result = shift = 0
    while True:
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, offset


def identity(data):
    return data


def main():
    endpoint = sys.argv[1]
    report = {}
    channel = grpc.insecure_channel(endpoint)
    grpc.channel_ready_future(channel).result(timeout=10)
    unary = lambda path: channel.unary_unary(path, request_serializer=identity, response_deserializer=identity)
    put = unary('/etcdserverpb.KV/Put')
    range_ = unary('/etcdserverpb.KV/Range')

    put(field_bytes(1, b'py/key') + field_bytes(2, b'py-value'), timeout=10)
    kvs = [parse(kv) for kv in parse(range_(field_bytes(1, b'py/key'), timeout=10)).get(2, [])]
    report['range'] = [{'key': kv[1][0].decode(), 'value': kv[5][0].decode()} for kv in kvs]

    # Many calls at once on one channel: one HTTP/2 connection, concurrent streams.
    futures = [put.future(field_bytes(1, b'py/many/%03d' % i) + field_bytes(2, b'v%d' % i), timeout=10) for i in range(200)]
    for future in futures:
        future.result()
    counted = parse(range_(field_bytes(1, b'py/many/') + field_bytes(2, b'py/many0') + field_varint(8, 1), timeout=10))
    report['concurrentPuts'] = counted.get(4, [0])[0]

    # A value above the client's first flow-control window (64 KiB) in both directions.
    big = bytes(range(256)) * 1024
    put(field_bytes(1, b'py/big') + field_bytes(2, big), timeout=10)
    big_kvs = [parse(kv) for kv in parse(range_(field_bytes(1, b'py/big'), timeout=10)).get(2, [])]
    report['bigValueIntact'] = len(big_kvs) == 1 and big_kvs[0][5][0] == big

    try:
        put(field_bytes(2, b'no key'), timeout=10)
        report['emptyKey'] = 'accepted'
    except grpc.RpcError as error:
        report['emptyKey'] = {'code': error.code().name, 'details': error.details()}

    # Watch: a bidi stream; the create is answered, then the event of a put made after it.
    requests = []
    condition = threading.Condition()

    def request_iterator():
        yield field_bytes(1, field_bytes(1, b'py/watched'))
        with condition:
            condition.wait_for(lambda: requests, timeout=10)

    watch = channel.stream_stream('/etcdserverpb.Watch/Watch', request_serializer=identity, response_deserializer=identity)
    responses = watch(request_iterator(), timeout=10)
    created = parse(next(responses))
    report['watchCreated'] = created.get(3, [0])[0] == 1
    put(field_bytes(1, b'py/watched') + field_bytes(2, b'seen'), timeout=10)
    event_response = parse(next(responses))
    events = [parse(event) for event in event_response.get(11, [])]
    report['watchEvents'] = [{'key': parse(e[2][0])[1][0].decode(), 'value': parse(e[2][0])[5][0].decode()} for e in events]
    with condition:
        requests.append('done')
        condition.notify_all()
    responses.cancel()

    grant = parse(unary('/etcdserverpb.Lease/LeaseGrant')(field_varint(1, 30), timeout=10))
    lease_id = grant[2][0]
    keep_alive = channel.stream_stream('/etcdserverpb.Lease/LeaseKeepAlive', request_serializer=identity, response_deserializer=identity)
    answers = [parse(answer) for answer in keep_alive(iter([field_varint(1, lease_id)] * 3), timeout=10)]
    report['keepAlives'] = [{'sameId': answer[2][0] == lease_id, 'ttl': answer[3][0]} for answer in answers]

    status = parse(unary('/etcdserverpb.Maintenance/Status')(b'', timeout=10))
    report['statusVersion'] = status[2][0].decode()

    # Server streaming: relayed to grpc-js on etcd-ts.
    snapshot = channel.unary_stream('/etcdserverpb.Maintenance/Snapshot', request_serializer=identity, response_deserializer=identity)
    chunks = [parse(chunk) for chunk in snapshot(b'', timeout=30)]
    report['snapshotBytes'] = sum(len(chunk.get(3, [b''])[0]) for chunk in chunks)
    report['snapshotLastRemaining'] = chunks[-1].get(2, [0])[0] if chunks else None

    try:
        unary('/etcdserverpb.KV/NoSuchMethod')(b'', timeout=10)
        report['unknownMethod'] = 'accepted'
    except grpc.RpcError as error:
        report['unknownMethod'] = error.code().name

    channel.close()
    print(json.dumps(report))


main()
