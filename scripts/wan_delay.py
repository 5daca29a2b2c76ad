#!/usr/bin/env python3
"""A WAN link for the lab (scripts/lab.sh wan): this kernel has no netem.

usage: wan_delay.py DELAY_MS NETNS_A IF_A NETNS_B IF_B

Creates the TUN device IF_A inside /run/netns/NETNS_A and IF_B inside
/run/netns/NETNS_B (a TUN device is made in the network namespace of the
thread that names it), then carries every IP packet from one to the other
DELAY_MS later, in both directions, in order. Prints "ready" once both exist
and runs until killed or until a device goes away (its namespace deleted).
The caller gives the devices their addresses and routes.
"""
import ctypes
import fcntl
import heapq
import os
import select
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000

libc = ctypes.CDLL(None, use_errno=True)


def enter_netns(name):
    fd = os.open("/run/netns/" + name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns %s: %s" % (name, os.strerror(err)))
    finally:
        os.close(fd)


def make_tun(netns, name):
    enter_netns(netns)
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


def main(argv):
    if len(argv) != 6 or not argv[1].isdigit() or int(argv[1]) > 10000:
        sys.stderr.write("usage: wan_delay.py DELAY_MS(0-10000) NETNS_A IF_A NETNS_B IF_B\n")
        return 2
    delay = int(argv[1]) / 1000.0
    a = make_tun(argv[2], argv[3])
    b = make_tun(argv[4], argv[5])
    peer = {a: b, b: a}
    queue = []  # (due, sequence, out fd, packet): the same delay keeps each direction in order
    sequence = 0
    print("ready", flush=True)
    while True:
        wait = max(0.0, queue[0][0] - time.monotonic()) if queue else None
        readable, _, _ = select.select([a, b], [], [], wait)
        now = time.monotonic()
        for fd in readable:
            while True:
                try:
                    packet = os.read(fd, 65536)
                except BlockingIOError:
                    break
                except OSError:
                    return 0  # the device is gone with its namespace
                heapq.heappush(queue, (now + delay, sequence, peer[fd], packet))
                sequence += 1
        now = time.monotonic()
        while queue and queue[0][0] <= now:
            _, _, out, packet = heapq.heappop(queue)
            try:
                os.write(out, packet)
            except BlockingIOError:
                pass  # the device's queue is full: lost, as on a real link
            except OSError:
                return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
