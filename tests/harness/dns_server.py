"""A DNS server for one test zone, run inside a namespace by the dns tests:

    python tests/harness/dns_server.py ADDRESS [PORT]

Over UDP, with Twisted Names' message codec: ``www.test.example`` has an A
record (192.0.2.7) and an AAAA record (2001:db8::7); ``servfail.test.example``
answers SERVFAIL; every other name NXDOMAIN.  It prints ``ready`` once it
listens."""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.protocol import DatagramProtocol
from twisted.names import dns

ZONE = {
    (b"www.test.example", dns.A): dns.Record_A("192.0.2.7", 60),
    (b"www.test.example", dns.AAAA): dns.Record_AAAA("2001:db8::7", 60),
}


class Zone(DatagramProtocol):
    def datagramReceived(self, data: bytes, addr: Any) -> None:
        query = dns.Message()
        query.fromStr(data)
        answer = dns.Message(id=query.id, answer=1, recAv=1, rCode=dns.ENAME)
        answer.queries = query.queries
        for q in query.queries:
            name = q.name.name.lower()
            if name == b"servfail.test.example":
                answer.rCode = dns.ESERVER
            record = ZONE.get((name, q.type))
            if record is not None or any(n == name for n, _ in ZONE):
                answer.rCode = dns.OK
            if record is not None:
                answer.answers.append(dns.RRHeader(name, q.type, ttl=60, payload=record))
        self.transport.write(answer.toStr(), addr)


if __name__ == "__main__":
    address = sys.argv[1]
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 53
    reactor.listenUDP(port, Zone(), interface=address)
    print("ready", flush=True)
    reactor.run()
