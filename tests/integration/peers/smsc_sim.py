#!/usr/bin/env python3
"""An upstream SMSC simulator: a minimal SMPP 3.4 server for integration tests.

Standard library only (asyncio + struct), written independently of any SMPP
client library so that it can act as the far side of the gateway under test.

    smsc_sim.py --system-id ID --password PW --log FILE [--dlr-delay-ms 50]
                [--tls-cert PEM --tls-key PEM]   (the SMPP port speaks TLS)
                [--id-prefix smsc-]              (message ids are PREFIX1, PREFIX2, ...)

Listens on 127.0.0.1 (OS-chosen ports) for SMPP and for a line-based control
protocol, prints ``LISTENING <smpp_port> <control_port>`` once, and runs until
killed or told ``quit`` on the control port.

Every accepted submit_sm / data_sm is appended to the --log file as one JSON
line (flushed) *before* its response is written, so a message whose
submit_sm_resp (status 0) has been seen is always already in the log.

Control commands (one per line, one reply line each, "OK ..." or "ERR ..."):
    throttle N      next N submit_sm/data_sm get ESME_RTHROTTLED (0x58), not logged
    drop N          next N submit_sm: the session's TCP connection is aborted, no answer
    nack N          next N submit_sm/data_sm get generic_nack ESME_RINVCMDID (0x03), not logged
    silent N        next N submit_sm/data_sm get no answer at all (the session stays up), not logged
    down SECONDS    close every SMPP session, and close new connections at once, for SECONDS
    delay MS        answer accepted submits MS milliseconds after logging them (0: at once)
    dlrdelay MS     send delivery receipts MS milliseconds after the submit
    disconnect      close every SMPP session now
    mo SRC DST TEXT send a mobile-originated deliver_sm to the most recently bound
                    receiver/transceiver; OK when its deliver_sm_resp came back
    dlr SYSTEM_ID ID SRC DST
                    queue a delivery receipt (DELIVRD) for message id ID, as if the
                    message SRC -> DST had been submitted by SYSTEM_ID (a message of an
                    earlier run of this SMSC)
    stats           OK {json counters}
    quit            exit
"""

import argparse
import asyncio
import collections
import itertools
import json
import re
import ssl
import struct
import sys
import time

HOST = "127.0.0.1"

# command ids
GENERIC_NACK = 0x80000000
BIND_RECEIVER = 0x00000001
BIND_TRANSMITTER = 0x00000002
SUBMIT_SM = 0x00000004
DELIVER_SM = 0x00000005
DELIVER_SM_RESP = 0x80000005
UNBIND = 0x00000006
BIND_TRANSCEIVER = 0x00000009
ENQUIRE_LINK = 0x00000015
DATA_SM = 0x00000103
RESP_BIT = 0x80000000

BIND_MODES = {BIND_RECEIVER: "rx", BIND_TRANSMITTER: "tx", BIND_TRANSCEIVER: "trx"}

# command_status values
ESME_ROK = 0x00000000
ESME_RINVCMDLEN = 0x00000002
ESME_RINVCMDID = 0x00000003
ESME_RINVBNDSTS = 0x00000004
ESME_RALYBND = 0x00000005
ESME_RINVPASWD = 0x0000000E
ESME_RTHROTTLED = 0x00000058
ESME_RINVOPTPARSTREAM = 0x000000C0

# TLV tags
TAG_RECEIPTED_MESSAGE_ID = 0x001E
TAG_SC_INTERFACE_VERSION = 0x0210
TAG_MESSAGE_PAYLOAD = 0x0424
TAG_MESSAGE_STATE = 0x0427

MIN_PDU = 16
MAX_PDU = 65536
MO_TIMEOUT = 5.0


class PduError(Exception):
    """A request body could not be parsed; carries the command_status to answer with."""

    def __init__(self, status, text):
        super().__init__(text)
        self.status = status


class Body:
    """A cursor over a PDU body."""

    def __init__(self, data):
        self.data = data
        self.pos = 0

    def u8(self):
        if self.pos + 1 > len(self.data):
            raise PduError(ESME_RINVCMDLEN, "truncated integer")
        v = self.data[self.pos]
        self.pos += 1
        return v

    def cstr(self):
        end = self.data.find(b"\x00", self.pos)
        if end < 0:
            raise PduError(ESME_RINVCMDLEN, "unterminated C-string")
        v = self.data[self.pos:end]
        self.pos = end + 1
        return v

    def octets(self, n):
        if self.pos + n > len(self.data):
            raise PduError(ESME_RINVCMDLEN, "truncated octet string")
        v = self.data[self.pos:self.pos + n]
        self.pos += n
        return v

    def tlvs(self):
        """The rest of the body as TLVs: a list of (tag, value)."""
        out = []
        while self.pos < len(self.data):
            if self.pos + 4 > len(self.data):
                raise PduError(ESME_RINVOPTPARSTREAM, "truncated TLV header")
            tag, length = struct.unpack_from(">HH", self.data, self.pos)
            self.pos += 4
            if self.pos + length > len(self.data):
                raise PduError(ESME_RINVOPTPARSTREAM, "truncated TLV value")
            out.append((tag, self.data[self.pos:self.pos + length]))
            self.pos += length
        return out


def cstr(b):
    if isinstance(b, str):
        b = b.encode("latin-1")
    return b + b"\x00"


def tlv(tag, value):
    return struct.pack(">HH", tag, len(value)) + value


def text_of(b):
    return b.decode("latin-1")


def parse_addresses(b, m):
    """service_type, source and destination, esm_class: the fields submit_sm and data_sm share."""
    m["service_type"] = text_of(b.cstr())
    m["source_addr_ton"] = b.u8()
    m["source_addr_npi"] = b.u8()
    m["source_addr"] = text_of(b.cstr())
    m["dest_addr_ton"] = b.u8()
    m["dest_addr_npi"] = b.u8()
    m["dest_addr"] = text_of(b.cstr())
    m["esm_class"] = b.u8()


def parse_submit_sm(body):
    b = Body(body)
    m = {"command": "submit_sm"}
    parse_addresses(b, m)
    m["protocol_id"] = b.u8()
    m["priority_flag"] = b.u8()
    m["schedule_delivery_time"] = text_of(b.cstr())
    m["validity_period"] = text_of(b.cstr())
    m["registered_delivery"] = b.u8()
    m["replace_if_present_flag"] = b.u8()
    m["data_coding"] = b.u8()
    m["sm_default_msg_id"] = b.u8()
    sm_length = b.u8()
    m["short_message"] = b.octets(sm_length)
    m["tlvs"] = b.tlvs()
    return m


def parse_data_sm(body):
    b = Body(body)
    m = {"command": "data_sm"}
    parse_addresses(b, m)
    m["registered_delivery"] = b.u8()
    m["data_coding"] = b.u8()
    m["short_message"] = b""
    m["tlvs"] = b.tlvs()
    return m


def parse_bind(body):
    b = Body(body)
    system_id = text_of(b.cstr())
    password = text_of(b.cstr())
    system_type = text_of(b.cstr())
    interface_version = b.u8()
    addr_ton = b.u8()
    addr_npi = b.u8()
    address_range = text_of(b.cstr())
    return {
        "system_id": system_id,
        "password": password,
        "system_type": system_type,
        "interface_version": interface_version,
        "addr_ton": addr_ton,
        "addr_npi": addr_npi,
        "address_range": address_range,
    }


def deliver_sm_body(src_ton, src_npi, src, dst_ton, dst_npi, dst, esm_class, data_coding, text, tlvs=()):
    """A deliver_sm body. Text over 254 octets goes into message_payload."""
    extra = list(tlvs)
    if len(text) > 254:
        extra.append((TAG_MESSAGE_PAYLOAD, text))
        text = b""
    body = (
        cstr("")  # service_type
        + bytes([src_ton, src_npi]) + cstr(src)
        + bytes([dst_ton, dst_npi]) + cstr(dst)
        + bytes([esm_class, 0, 0])  # esm_class, protocol_id, priority_flag
        + cstr("") + cstr("")  # schedule_delivery_time, validity_period
        + bytes([0, 0, data_coding, 0])  # registered_delivery, replace_if_present, data_coding, sm_default_msg_id
        + bytes([len(text)]) + text
    )
    for tag, value in extra:
        body += tlv(tag, value)
    return body


class Session:
    _ids = itertools.count(1)

    def __init__(self, sim, reader, writer):
        self.sim = sim
        self.id = next(Session._ids)
        self.reader = reader
        self.writer = writer
        self.mode = None  # "tx" / "rx" / "trx" once bound
        self.system_id = None
        self.bind_order = 0
        self.closed = False
        self._seq = 0
        # sequence_number -> ("dlr", record) | ("mo", future)
        self.outstanding = {}

    @property
    def bound(self):
        return self.mode is not None

    @property
    def can_receive(self):
        return self.mode in ("rx", "trx") and not self.closed

    def next_seq(self):
        self._seq = self._seq % 0x7FFFFFFF + 1
        return self._seq

    def send(self, command_id, status, seq, body=b""):
        if self.closed:
            return False
        self.writer.write(struct.pack(">IIII", 16 + len(body), command_id, status, seq) + body)
        return True

    def abort(self):
        """Close the TCP connection abruptly (no unbind, unsent data dropped)."""
        if not self.closed:
            self.closed = True
            self.writer.transport.abort()

    def close(self):
        if not self.closed:
            self.closed = True
            self.writer.close()


class Sim:
    def __init__(self, args):
        self.args = args
        self.system_id = args.system_id
        self.password = args.password
        self.dlr_delay = max(0, args.dlr_delay_ms) / 1000.0
        self.resp_delay = 0.0  # seconds before a submit is answered ("delay MS")
        self.log = open(args.log, "a", encoding="utf-8")
        self.sessions = []  # open sessions
        self.msg_counter = itertools.count(1)
        self.bind_counter = itertools.count(1)
        self.throttle_left = 0
        self.drop_left = 0
        self.nack_left = 0
        self.silent_left = 0
        self.down_until = 0.0
        # system_id -> deque of DLR records waiting for a receiver
        self.pending_dlrs = collections.defaultdict(collections.deque)
        self.quit = asyncio.Event()
        self.stats = {
            "binds": 0,
            "bind_failures": 0,
            "sessions_open": 0,
            "sessions_bound": 0,
            "submits_ok": 0,
            "submits_throttled": 0,
            "submits_dropped": 0,
            "submits_nacked": 0,
            "submits_ignored": 0,
            "connections_refused": 0,
            "submits_rejected": 0,
            "dlrs_sent": 0,
            "dlr_resps": 0,
            "dlr_resps_ok": 0,
            "dlrs_pending": 0,
            "mos_sent": 0,
            "mo_resps": 0,
            "enquire_links": 0,
            "resps_received": 0,
            "generic_nacks_sent": 0,
            "unbinds": 0,
        }

    # ---------------------------------------------------------------- SMPP side

    async def handle_smpp(self, reader, writer):
        if time.monotonic() < self.down_until:
            self.stats["connections_refused"] += 1
            writer.close()
            return
        s = Session(self, reader, writer)
        self.sessions.append(s)
        try:
            while not s.closed:
                head = await reader.readexactly(4)
                (length,) = struct.unpack(">I", head)
                if length < MIN_PDU or length > MAX_PDU:
                    s.abort()
                    break
                rest = await reader.readexactly(length - 4)
                command_id, status, seq = struct.unpack_from(">III", rest, 0)
                self.dispatch(s, command_id, status, seq, rest[12:])
                if not s.closed:
                    try:
                        await writer.drain()
                    except ConnectionError:
                        break
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            self.session_gone(s)

    def session_gone(self, s):
        if s in self.sessions:
            self.sessions.remove(s)
        if not s.closed:
            s.closed = True
            try:
                s.writer.close()
            except Exception:
                pass
        # Unacknowledged receipts go back to the queue for the next receiver;
        # mobile-originated messages in flight fail.
        requeued = set()
        for kind, item in s.outstanding.values():
            if kind == "dlr":
                self.pending_dlrs[item["system_id"]].append(item)
                requeued.add(item["system_id"])
            elif not item.done():
                item.set_result(None)
        s.outstanding.clear()
        s.mode = None
        for system_id in requeued:
            self.flush_pending(system_id)

    def dispatch(self, s, command_id, status, seq, body):
        if command_id & RESP_BIT:
            self.on_response(s, command_id, status, seq)
        elif command_id in BIND_MODES:
            self.on_bind(s, command_id, seq, body)
        elif command_id == ENQUIRE_LINK:
            self.stats["enquire_links"] += 1
            s.send(ENQUIRE_LINK | RESP_BIT, ESME_ROK, seq)
        elif command_id == UNBIND:
            self.stats["unbinds"] += 1
            s.send(UNBIND | RESP_BIT, ESME_ROK, seq)
            s.mode = None
            s.close()
        elif command_id in (SUBMIT_SM, DATA_SM):
            self.on_submit(s, command_id, seq, body)
        else:
            self.stats["generic_nacks_sent"] += 1
            s.send(GENERIC_NACK, ESME_RINVCMDID, seq)

    def on_response(self, s, command_id, status, seq):
        self.stats["resps_received"] += 1
        if command_id not in (DELIVER_SM_RESP, GENERIC_NACK):
            return
        entry = s.outstanding.pop(seq, None)
        if entry is None:
            return
        kind, item = entry
        if kind == "dlr":
            self.stats["dlr_resps"] += 1
            if command_id == DELIVER_SM_RESP and status == ESME_ROK:
                self.stats["dlr_resps_ok"] += 1
        else:
            self.stats["mo_resps"] += 1
            if not item.done():
                item.set_result(status)

    def on_bind(self, s, command_id, seq, body):
        resp_id = command_id | RESP_BIT
        if s.bound:
            self.stats["bind_failures"] += 1
            s.send(resp_id, ESME_RALYBND, seq)
            return
        try:
            b = parse_bind(body)
        except PduError as e:
            self.stats["bind_failures"] += 1
            s.send(resp_id, e.status, seq)
            return
        if b["system_id"] != self.system_id or b["password"] != self.password:
            self.stats["bind_failures"] += 1
            s.send(resp_id, ESME_RINVPASWD, seq)
            return
        s.mode = BIND_MODES[command_id]
        s.system_id = b["system_id"]
        s.bind_order = next(self.bind_counter)
        self.stats["binds"] += 1
        s.send(resp_id, ESME_ROK, seq, cstr("smscsim") + tlv(TAG_SC_INTERFACE_VERSION, b"\x34"))
        if s.can_receive:
            self.flush_pending(s.system_id)

    def on_submit(self, s, command_id, seq, body):
        resp_id = command_id | RESP_BIT
        try:
            m = parse_submit_sm(body) if command_id == SUBMIT_SM else parse_data_sm(body)
        except PduError as e:
            self.stats["submits_rejected"] += 1
            s.send(resp_id, e.status, seq)
            return
        if s.mode not in ("tx", "trx"):
            self.stats["submits_rejected"] += 1
            s.send(resp_id, ESME_RINVBNDSTS, seq)
            return
        if command_id == SUBMIT_SM and self.drop_left > 0:
            self.drop_left -= 1
            self.stats["submits_dropped"] += 1
            s.abort()
            return
        if self.nack_left > 0:
            self.nack_left -= 1
            self.stats["submits_nacked"] += 1
            self.stats["generic_nacks_sent"] += 1
            s.send(GENERIC_NACK, ESME_RINVCMDID, seq)
            return
        if self.silent_left > 0:
            self.silent_left -= 1
            self.stats["submits_ignored"] += 1
            return
        if self.throttle_left > 0:
            self.throttle_left -= 1
            self.stats["submits_throttled"] += 1
            s.send(resp_id, ESME_RTHROTTLED, seq)
            return

        message_id = "%s%d" % (self.args.id_prefix, next(self.msg_counter))
        tlvs = {}
        for tag, value in m["tlvs"]:
            tlvs["0x%04x" % tag] = value.hex()
        record = {
            "message_id": message_id,
            "command": m["command"],
            "source_addr": m["source_addr"],
            "source_addr_ton": m["source_addr_ton"],
            "source_addr_npi": m["source_addr_npi"],
            "dest_addr": m["dest_addr"],
            "dest_addr_ton": m["dest_addr_ton"],
            "dest_addr_npi": m["dest_addr_npi"],
            "service_type": m["service_type"],
            "esm_class": m["esm_class"],
            "data_coding": m["data_coding"],
            "registered_delivery": m["registered_delivery"],
            "short_message_hex": m["short_message"].hex(),
            "tlvs": tlvs,
            "system_id": s.system_id,
            "session": s.id,
        }
        # Log first (flushed), then answer: an answered message is always logged.
        self.log.write(json.dumps(record, sort_keys=True) + "\n")
        self.log.flush()
        self.stats["submits_ok"] += 1
        if self.resp_delay > 0:
            asyncio.get_running_loop().call_later(self.resp_delay, s.send, resp_id, ESME_ROK, seq, cstr(message_id))
        else:
            s.send(resp_id, ESME_ROK, seq, cstr(message_id))

        if m["registered_delivery"] & 0x03:
            text = m["short_message"]
            if not text:
                for tag, value in m["tlvs"]:
                    if tag == TAG_MESSAGE_PAYLOAD:
                        text = value
            if m["esm_class"] & 0x40 and text:  # strip the UDH, keep the text
                text = text[1 + text[0]:]
            dlr = {
                "message_id": message_id,
                "system_id": s.system_id,
                "origin": s,
                "src_ton": m["dest_addr_ton"],
                "src_npi": m["dest_addr_npi"],
                "src": m["dest_addr"],
                "dst_ton": m["source_addr_ton"],
                "dst_npi": m["source_addr_npi"],
                "dst": m["source_addr"],
                "text": text[:20],
                "submit_date": time.strftime("%y%m%d%H%M"),
            }
            asyncio.get_running_loop().call_later(self.dlr_delay, self.queue_dlr, dlr)

    # ------------------------------------------------------------- receipts

    def receiver_for(self, system_id, origin=None):
        if origin is not None and origin.mode == "trx" and not origin.closed and origin in self.sessions:
            return origin
        cands = [x for x in self.sessions if x.can_receive and x.system_id == system_id]
        if not cands:
            return None
        return max(cands, key=lambda x: x.bind_order)

    def queue_dlr(self, dlr):
        self.pending_dlrs[dlr["system_id"]].append(dlr)
        self.flush_pending(dlr["system_id"])

    def flush_pending(self, system_id):
        q = self.pending_dlrs[system_id]
        while q:
            dlr = q[0]
            target = self.receiver_for(system_id, dlr.get("origin"))
            if target is None:
                break
            q.popleft()
            self.send_dlr(target, dlr)
        self.stats["dlrs_pending"] = sum(len(v) for v in self.pending_dlrs.values())

    def send_dlr(self, s, dlr):
        done = time.strftime("%y%m%d%H%M")
        text = (
            "id:%s sub:001 dlvrd:001 submit date:%s done date:%s stat:DELIVRD err:000 text:"
            % (dlr["message_id"], dlr["submit_date"], done)
        ).encode("ascii") + dlr["text"]
        body = deliver_sm_body(
            dlr["src_ton"], dlr["src_npi"], dlr["src"],
            dlr["dst_ton"], dlr["dst_npi"], dlr["dst"],
            0x04, 0x00, text,
            [
                (TAG_RECEIPTED_MESSAGE_ID, cstr(dlr["message_id"])),
                (TAG_MESSAGE_STATE, b"\x02"),
            ],
        )
        seq = s.next_seq()
        s.outstanding[seq] = ("dlr", dlr)
        s.send(DELIVER_SM, ESME_ROK, seq, body)
        self.stats["dlrs_sent"] += 1

    # ---------------------------------------------------------- control side

    async def handle_control(self, reader, writer):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                if not cmd.strip():
                    continue
                try:
                    reply = await self.control(cmd)
                except Exception as e:  # keep the control channel alive
                    reply = "ERR %s: %s" % (type(e).__name__, e)
                writer.write((reply + "\n").encode("utf-8"))
                await writer.drain()
                if cmd.strip() == "quit":
                    self.quit.set()
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except Exception:
                pass

    async def control(self, cmd):
        words = cmd.split()
        op = words[0].lower()
        if op in ("throttle", "drop", "nack", "silent", "down"):
            if len(words) != 2 or not words[1].isdigit():
                return "ERR usage: %s N" % op
            n = int(words[1])
            if op == "throttle":
                self.throttle_left = n
            elif op == "drop":
                self.drop_left = n
            elif op == "nack":
                self.nack_left = n
            elif op == "silent":
                self.silent_left = n
            else:
                self.down_until = time.monotonic() + n
                for s in list(self.sessions):
                    s.close()
            return "OK"
        if op in ("delay", "dlrdelay"):
            if len(words) != 2 or not words[1].isdigit():
                return "ERR usage: %s MS" % op
            if op == "delay":
                self.resp_delay = int(words[1]) / 1000.0
            else:
                self.dlr_delay = int(words[1]) / 1000.0
            return "OK"
        if op == "disconnect":
            n = 0
            for s in list(self.sessions):
                n += 1
                s.close()
            return "OK %d" % n
        if op == "mo":
            return await self.control_mo(cmd)
        if op == "dlr":
            if len(words) != 5:
                return "ERR usage: dlr SYSTEM_ID ID SRC DST"
            _, system_id, message_id, src, dst = words
            self.queue_dlr({
                "message_id": message_id, "system_id": system_id, "origin": None,
                "src_ton": 1, "src_npi": 1, "src": dst, "dst_ton": 1, "dst_npi": 1, "dst": src,
                "text": b"", "submit_date": time.strftime("%y%m%d%H%M"),
            })
            return "OK"
        if op == "stats":
            self.stats["sessions_open"] = len(self.sessions)
            self.stats["sessions_bound"] = sum(1 for s in self.sessions if s.bound)
            self.stats["dlrs_pending"] = sum(len(v) for v in self.pending_dlrs.values())
            return "OK " + json.dumps(self.stats, sort_keys=True)
        if op == "quit":
            return "OK"
        return "ERR unknown command"

    async def control_mo(self, cmd):
        match = re.match(r"^\s*mo\s+(\S+)\s+(\S+)(?:\s(.*))?$", cmd, re.IGNORECASE)
        if not match:
            return "ERR usage: mo SOURCE DEST TEXT..."
        source, dest, text = match.group(1), match.group(2), match.group(3) or ""
        try:
            payload = text.encode("ascii")
        except UnicodeEncodeError:
            return "ERR text must be ASCII"
        cands = [s for s in self.sessions if s.can_receive]
        if not cands:
            return "ERR no receiver"
        s = max(cands, key=lambda x: x.bind_order)
        body = deliver_sm_body(1, 1, source, 1, 1, dest, 0x00, 0x00, payload)
        fut = asyncio.get_running_loop().create_future()
        seq = s.next_seq()
        s.outstanding[seq] = ("mo", fut)
        s.send(DELIVER_SM, ESME_ROK, seq, body)
        self.stats["mos_sent"] += 1
        try:
            status = await asyncio.wait_for(fut, MO_TIMEOUT)
        except asyncio.TimeoutError:
            s.outstanding.pop(seq, None)
            return "ERR timeout"
        if status is None:
            return "ERR closed"
        if status != ESME_ROK:
            return "ERR status %d" % status
        return "OK"


async def main():
    ap = argparse.ArgumentParser(description="SMPP 3.4 SMSC simulator")
    ap.add_argument("--system-id", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--dlr-delay-ms", type=int, default=50)
    ap.add_argument("--id-prefix", default="smsc-", help="message ids are this and a counter")
    ap.add_argument("--tls-cert", help="PEM certificate: the SMPP port speaks TLS")
    ap.add_argument("--tls-key", help="PEM private key of --tls-cert")
    args = ap.parse_args()

    ssl_context = None
    if args.tls_cert:
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ssl_context.load_cert_chain(args.tls_cert, args.tls_key)
    sim = Sim(args)
    smpp = await asyncio.start_server(sim.handle_smpp, HOST, 0, ssl=ssl_context)
    ctl = await asyncio.start_server(sim.handle_control, HOST, 0)
    smpp_port = smpp.sockets[0].getsockname()[1]
    ctl_port = ctl.sockets[0].getsockname()[1]
    sys.stdout.write("LISTENING %d %d\n" % (smpp_port, ctl_port))
    sys.stdout.flush()
    await sim.quit.wait()
    smpp.close()
    ctl.close()
    for s in list(sim.sessions):
        s.abort()
    sim.log.flush()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
