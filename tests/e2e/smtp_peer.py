#!/usr/bin/env python3
"""A scripted SMTP peer for the lab (tests/e2e/app_probes_test.sh): greeting,
EHLO, STARTTLS (with Python's ssl module), QUIT. Not a mail server: enough of
RFC 5321 for a client that greets, asks for TLS and leaves.

usage: smtp_peer.py --port N [--greeting TEXT] [--cert PEM --key PEM]
                    [--implicit-tls] [--no-starttls] [--auth MECHANISMS]
                    [--greet-pause SECONDS] [--greet-delay SECONDS]
--greet-pause sends the first greeting line ("220-") at once and the rest
later, as postscreen and greet pauses do; --greet-delay holds the whole
greeting, as a slow reverse lookup of the client does. --auth offers AUTH
over TLS only (what postfix's submission service does).
Listens on [::]:N (IPv4 too), one thread per connection.
"""
import argparse
import socket
import ssl
import threading
import time


def serve(conn, args, ctx):
    conn.settimeout(10)
    tls = False
    if args.implicit_tls:
        conn = ctx.wrap_socket(conn, server_side=True)
        tls = True
    reader = conn.makefile("rb")

    def say(text):
        conn.sendall(text.encode() + b"\r\n")

    time.sleep(args.greet_delay)
    if args.greet_pause > 0:
        host = args.greeting.split(" ")[1] if " " in args.greeting else "mail.lab.test"
        say("220-" + host + " ESMTP (greeting paused)")
        time.sleep(args.greet_pause)
    say(args.greeting)
    while True:
        line = reader.readline(1024)
        if not line:
            return
        verb = line.decode("ascii", "replace").strip().split(" ")[0].upper()
        if verb in ("EHLO", "HELO"):
            caps = ["mail.lab.test greets you", "PIPELINING", "SIZE 10240000"]
            if not tls and not args.no_starttls and ctx is not None:
                caps.append("STARTTLS")
            if tls and args.auth:
                caps.append("AUTH " + args.auth)
            caps.append("8BITMIME")
            say("\r\n".join(("250-" if i + 1 < len(caps) else "250 ") + c for i, c in enumerate(caps)))
        elif verb == "STARTTLS" and not tls and ctx is not None and not args.no_starttls:
            say("220 2.0.0 Ready to start TLS")
            conn = ctx.wrap_socket(conn, server_side=True)
            reader = conn.makefile("rb")
            tls = True
        elif verb == "QUIT":
            say("221 2.0.0 Bye")
            return
        else:
            say("502 5.5.2 Error: command not recognized")


def handle(conn, args, ctx):
    try:
        serve(conn, args, ctx)
    except (OSError, ssl.SSLError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--greeting", default="220 mail.lab.test ESMTP dropspot-lab")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--implicit-tls", action="store_true")
    ap.add_argument("--no-starttls", action="store_true")
    ap.add_argument("--auth", default="")
    ap.add_argument("--greet-pause", type=float, default=0)
    ap.add_argument("--greet-delay", type=float, default=0)
    args = ap.parse_args()
    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", args.port))
    sock.listen(16)
    while True:
        conn, _ = sock.accept()
        threading.Thread(target=handle, args=(conn, args, ctx), daemon=True).start()


if __name__ == "__main__":
    main()
