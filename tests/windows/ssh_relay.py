#!/usr/bin/env python3
"""The Linux half of the Wine test's ssh stand-in (tests/windows/ssh_shim.c).

usage: ssh_relay.py PORT ARGV_LOG [SSH_OPTION...]

Listens on 127.0.0.1:PORT. Per connection: reads the arguments ssh_shim.exe
was given (as the Windows C runtime parsed prober.exe's command line),
appends them to ARGV_LOG as one JSON line, runs /usr/bin/ssh with the
SSH_OPTIONs and then the same arguments (the first, the program, dropped), passes the connection's
bytes to its stdin and sends back its stdout, stderr and exit status in
frames: one type byte (o, e, x) and a little-endian u32 length.
"""
import json
import socket
import struct
import subprocess
import sys
import threading


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def serve(conn, log_path, log_lock, options):
    with conn:
        try:
            (argc,) = struct.unpack("<I", recv_exact(conn, 4))
            argv = []
            for _ in range(argc):
                (size,) = struct.unpack("<I", recv_exact(conn, 4))
                argv.append(recv_exact(conn, size).decode("utf-8", "replace"))
        except EOFError:
            return
        with log_lock, open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(argv) + "\n")
        child = subprocess.Popen(["/usr/bin/ssh"] + options + argv[1:], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        send_lock = threading.Lock()

        def send(kind, data):
            with send_lock:
                conn.sendall(kind + struct.pack("<I", len(data)) + data)

        def to_child():
            try:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    child.stdin.write(data)
                    child.stdin.flush()
            except OSError:
                pass
            try:
                child.stdin.close()
            except OSError:
                pass

        def from_child(stream, kind):
            try:
                while True:
                    data = stream.read1(65536)
                    if not data:
                        return
                    send(kind, data)
            except OSError:
                pass

        pumps = [threading.Thread(target=from_child, args=(child.stdout, b"o")),
                 threading.Thread(target=from_child, args=(child.stderr, b"e"))]
        threading.Thread(target=to_child, daemon=True).start()
        for p in pumps:
            p.start()
        for p in pumps:
            p.join()
        status = child.wait()
        try:
            send(b"x", struct.pack("<I", status if status >= 0 else 128 - status))
        except OSError:
            pass


def main():
    port, log_path = int(sys.argv[1]), sys.argv[2]
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(16)
    log_lock = threading.Lock()
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn, log_path, log_lock, sys.argv[3:]), daemon=True).start()


if __name__ == "__main__":
    main()
