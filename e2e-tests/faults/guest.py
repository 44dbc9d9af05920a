#!/usr/bin/env python3
"""Writes a tiny waPC guest whose `validate` misbehaves: loop, trap or memory-bomb.

The binary is emitted by hand (a few dozen bytes) so the e2e suite needs no WAT toolchain. The
guest mirrors host/tests/common/guests.rs: it answers `protocol_version` with "v1" and
`validate_settings` with {"valid":true}, so the server loads it, and only `validate` faults.
Operations are told apart by their name's length (16, 17, 8), the only three the host sends.

usage: guest.py loop|trap|memory-bomb OUT.wasm
"""
import sys


def uleb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def sleb(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if (n == 0 and not byte & 0x40) or (n == -1 and byte & 0x40):
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def vec(items):
    return uleb(len(items)) + b"".join(items)


def name(text):
    return uleb(len(text)) + text.encode()


def section(sid, body):
    return bytes([sid]) + uleb(len(body)) + body


I32 = 0x7F
I32_CONST, LOCAL_GET, I32_EQ, I32_NE = 0x41, 0x20, 0x46, 0x47
IF, LOOP, END, BR, BR_IF, CALL, RETURN, UNREACHABLE, MEMORY_GROW = (
    0x04, 0x03, 0x0B, 0x0C, 0x0D, 0x10, 0x0F, 0x00, 0x40)
EMPTY = 0x40  # block type []
GUEST_RESPONSE = 1  # function index of the __guest_response import

FAULTS = {
    # loop $forever (br $forever)
    "loop": bytes([LOOP, EMPTY, BR, 0, END]),
    "trap": bytes([UNREACHABLE]),
    # grow 1 MiB at a time until refused, then abort like an allocator would
    "memory-bomb": bytes([LOOP, EMPTY, I32_CONST]) + sleb(16) + bytes([MEMORY_GROW, 0, I32_CONST])
    + sleb(-1) + bytes([I32_NE, BR_IF, 0, END, UNREACHABLE]),
}


def respond_if_op_len(op_len, ptr, length):
    return (bytes([LOCAL_GET, 0, I32_CONST]) + sleb(op_len) + bytes([I32_EQ, IF, EMPTY, I32_CONST])
            + sleb(ptr) + bytes([I32_CONST]) + sleb(length) + bytes([CALL, GUEST_RESPONSE, I32_CONST])
            + sleb(1) + bytes([RETURN, END]))


def module(fault):
    types = vec([
        bytes([0x60]) + vec([bytes([I32]), bytes([I32])]) + vec([]),  # 0: (i32 i32) -> ()
        bytes([0x60]) + vec([]) + vec([]),  # 1: () -> ()
        bytes([0x60]) + vec([bytes([I32]), bytes([I32])]) + vec([bytes([I32])]),  # 2: (i32 i32) -> i32
    ])
    imports = vec([name("wapc") + name(f) + bytes([0x00]) + uleb(0)
                   for f in ("__guest_request", "__guest_response", "__guest_error")])
    functions = vec([uleb(1), uleb(2)])  # 3: wapc_init, 4: __guest_call
    memory = vec([bytes([0x00]) + uleb(1)])  # one page, no maximum: the host's cap applies
    exports = vec([name("memory") + bytes([0x02, 0]), name("wapc_init") + bytes([0x00, 3]),
                   name("__guest_call") + bytes([0x00, 4])])
    init_body = vec([]) + bytes([END])
    call_body = (vec([]) + respond_if_op_len(16, 0, 4) + respond_if_op_len(17, 16, 14)
                 + FAULTS[fault] + bytes([I32_CONST]) + sleb(0) + bytes([END]))
    code = vec([uleb(len(init_body)) + init_body, uleb(len(call_body)) + call_body])
    data = vec([bytes([0x00, I32_CONST]) + sleb(0) + bytes([END]) + name('"v1"'),
                bytes([0x00, I32_CONST]) + sleb(16) + bytes([END]) + name('{"valid":true}')])
    return (b"\0asm" + (1).to_bytes(4, "little") + section(1, types) + section(2, imports)
            + section(3, functions) + section(5, memory) + section(7, exports)
            + section(10, code) + section(11, data))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in FAULTS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(FAULTS)} OUT.wasm")
    with open(sys.argv[2], "wb") as out:
        out.write(module(sys.argv[1]))
