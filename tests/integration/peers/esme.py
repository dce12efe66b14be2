#!/usr/bin/env python3
"""An ESME (SMPP 3.4 client) driven over stdin/stdout by a test harness, built on smpplib.

    esme.py --port PORT [--tls-ca PEM_FILE]

With --tls-ca the connection is TLS (SMPP over TLS), trusting the certificates in the file.

Reads one JSON object per line from stdin and writes exactly one JSON object
line to stdout per request (flushed). Everything connects to 127.0.0.1:PORT.

Operations (fields in [brackets] are optional):

  {"op":"bind","mode":"trx"|"tx"|"rx","system_id":..,"password":..
   [,"system_type":"", "new_connection":true, "timeout":10]}
      -> {"status": int}            (-1: no answer; "closed":true if the peer hung up)
      A fresh TCP connection is opened unless "new_connection" is false, in which
      case the bind goes out on the current connection (e.g. to test a re-bind).
  {"op":"submit","src":..,"dst":..,"text":..,"dlr":bool,
   "split":"none"|"udh8"|"udh16"|"sar"|"payload","coding":"gsm"|"ucs2",
   "src_ton":1,"dst_ton":1 [,"src_npi":1,"dst_npi":1,"data_sm":false,"ref":int,
   "part_chars":40,"timeout":10]}
      -> {"statuses":[int...],"message_ids":[str|null...]}  (+ "ref" when split into
         concatenated parts, + "closed":true if the connection dropped)
  {"op":"wait_deliver","count":N,"timeout":5}
      -> {"pdus":[{"command","source_addr","dest_addr","esm_class","data_coding","text",
                   "short_message_hex","receipted_message_id","message_state"}...]}
  {"op":"enquire_link"}              -> {"status": int}
  {"op":"raw","hex":"..." [,"timeout":5]}
      -> {"command_id":int,"command_status":int,"sequence_number":int}
         | {"closed":true} | {"timeout":true}
  {"op":"unbind"}                    -> {"status": int}, then disconnects
  {"op":"quit"}                      -> {"ok": true}, then exits
  Any failure                        -> {"error": "..."}

A background thread reads the socket all the time: every deliver_sm (and data_sm)
from the peer is answered at once with a status-0 response and queued for
wait_deliver; enquire_link is answered; unbind is answered and ends the session.
"""

import argparse
import collections
import itertools
import json
import logging
import socket
import ssl
import struct
import sys
import threading
import time
import warnings

warnings.simplefilter("ignore", DeprecationWarning)

from smpplib import client as smpp_client  # noqa: E402
from smpplib import consts, smpp  # noqa: E402

HOST = "127.0.0.1"
RESP_BIT = 0x80000000
GENERIC_NACK = 0x80000000
DELIVER_SM = 0x00000005
UNBIND = 0x00000006
ENQUIRE_LINK = 0x00000015
DATA_SM = 0x00000103
ALERT_NOTIFICATION = 0x00000102
ESME_RINVCMDID = 0x00000003
MAX_FRAME = 1 << 20

PART_CHARS = 40
BIND_COMMANDS = {"trx": "bind_transceiver", "tx": "bind_transmitter", "rx": "bind_receiver"}


class OpError(Exception):
    pass


class _ParseOnlyClient:
    """Stands in for the Client when the reader thread builds or parses PDUs, so that
    it never advances the real Client's sequence counter from a second thread."""

    sequence = 0

    def next_sequence(self):
        return 0


PARSE_CLIENT = _ParseOnlyClient()


def hex_or_none(b):
    return None if b is None else b.hex()


def as_text(b):
    if b is None:
        return None
    if isinstance(b, str):
        return b
    return b.decode("latin-1")


def decode_text(data, data_coding):
    if data_coding == 0x08:
        return data.decode("utf-16-be", "replace")
    return data.decode("latin-1")


class Connection:
    """One TCP connection: an smpplib Client plus a reader thread."""

    def __init__(self, esme, port, timeout):
        self.esme = esme
        self.client = smpp_client.Client(
            HOST, port, timeout=timeout, allow_unknown_opt_params=True, ssl_context=esme.ssl_context
        )
        self.client.connect()
        self.sock = self.client._socket
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(1.0)
        self.send_lock = threading.Lock()
        self.cond = esme.cond
        self.resps = []  # (command_id, status, seq, frame), oldest first
        self.closed = False
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    # ---------------------------------------------------------------- writing

    def send_raw(self, data):
        with self.send_lock:
            if self.closed:
                raise OpError("connection closed")
            try:
                self.sock.sendall(data)
            except OSError as e:
                self._mark_closed()
                raise OpError("send failed: %s" % e)

    def send_pdu(self, p):
        """Send through smpplib's Client (state-checked); fall back to a plain write
        when smpplib's state machine would refuse (e.g. bind on a bound session)."""
        if self.closed:
            raise OpError("connection closed")
        if self.client.state in consts.COMMAND_STATES.get(p.command, ()):
            with self.send_lock:
                try:
                    self.client.send_pdu(p)
                    return
                except Exception as e:  # smpplib wraps socket errors
                    self._mark_closed()
                    raise OpError("send failed: %s" % e)
        self.send_raw(p.generate())

    # ---------------------------------------------------------------- reading

    def _mark_closed(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()

    def _reader(self):
        buf = bytearray()
        try:
            while not self.closed:
                try:
                    data = self.sock.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    break
                if not data:
                    break
                buf += data
                while len(buf) >= 4:
                    (length,) = struct.unpack_from(">I", buf, 0)
                    if length < 16 or length > MAX_FRAME:
                        raise EOFError("bad command_length %d" % length)
                    if len(buf) < length:
                        break
                    frame = bytes(buf[:length])
                    del buf[:length]
                    self._on_frame(frame)
        except Exception as e:  # noqa: BLE001 - the connection is unusable afterwards
            sys.stderr.write("esme: reader stopped: %s\n" % e)
        finally:
            self._mark_closed()

    def _reply(self, command_name, seq, status=0):
        p = smpp.make_pdu(command_name, client=PARSE_CLIENT, status=status, sequence=seq)
        p.sequence = seq
        self.send_raw(p.generate())

    def _on_frame(self, frame):
        command_id, status, seq = struct.unpack_from(">III", frame, 4)
        if command_id & RESP_BIT:
            name = None
            try:
                name = smpp.parse_pdu(frame, client=PARSE_CLIENT, allow_unknown_opt_params=True).command
            except Exception:
                pass
            if status == 0 and name in consts.STATE_SETTERS:
                self.client.state = consts.STATE_SETTERS[name]
            with self.cond:
                self.resps.append((command_id, status, seq, frame))
                self.cond.notify_all()
            return
        if command_id in (DELIVER_SM, DATA_SM):
            item = self._parse_message(frame, command_id)
            self._reply("deliver_sm_resp" if command_id == DELIVER_SM else "data_sm_resp", seq)
            with self.cond:
                self.esme.delivered.append(item)
                self.cond.notify_all()
        elif command_id == ENQUIRE_LINK:
            self._reply("enquire_link_resp", seq)
        elif command_id == UNBIND:
            self._reply("unbind_resp", seq)
            self.client.state = consts.SMPP_CLIENT_STATE_OPEN
            raise EOFError("peer unbound")
        elif command_id == ALERT_NOTIFICATION:
            pass  # no response defined
        else:
            gn = smpp.make_pdu("generic_nack", client=PARSE_CLIENT, status=ESME_RINVCMDID)
            gn.sequence = seq
            self.send_raw(gn.generate())

    def _parse_message(self, frame, command_id):
        item = {
            "command": "deliver_sm" if command_id == DELIVER_SM else "data_sm",
            "source_addr": None,
            "dest_addr": None,
            "esm_class": None,
            "data_coding": None,
            "text": None,
            "short_message_hex": None,
            "receipted_message_id": None,
            "message_state": None,
        }
        try:
            p = smpp.parse_pdu(frame, client=PARSE_CLIENT, allow_unknown_opt_params=True)
        except Exception as e:  # keep the raw bytes so the test can see what came
            item["parse_error"] = str(e)
            item["pdu_hex"] = frame.hex()
            return item
        sm = getattr(p, "short_message", None) or b""
        payload = getattr(p, "message_payload", None) or b""
        data = sm or payload
        esm_class = p.esm_class or 0
        data_coding = p.data_coding or 0
        body = data
        if esm_class & 0x40 and data:
            udhl = data[0]
            item["udh_hex"] = data[:1 + udhl].hex()
            body = data[1 + udhl:]
        rmid = getattr(p, "receipted_message_id", None)
        if isinstance(rmid, bytes):
            rmid = rmid.rstrip(b"\x00").decode("latin-1")
        item.update({
            "source_addr": as_text(p.source_addr) or "",
            "dest_addr": as_text(p.destination_addr) or "",
            "esm_class": esm_class,
            "data_coding": data_coding,
            "text": decode_text(body, data_coding),
            "short_message_hex": sm.hex(),
            "receipted_message_id": rmid,
            "message_state": getattr(p, "message_state", None),
        })
        if payload:
            item["message_payload_hex"] = payload.hex()
        return item

    def wait_resp(self, seq, timeout, any_seq=False):
        """The response with sequence `seq` (or the next response of any kind when
        any_seq): (command_id, status, frame), None on timeout, "closed" if closed."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, r in enumerate(self.resps):
                    if any_seq or r[2] == seq:
                        del self.resps[i]
                        return r[0], r[1], r[3]
                if self.closed:
                    return "closed"
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self.cond.wait(remaining)

    def close(self):
        self.closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.thread.join(3)
        try:
            self.client.disconnect()
        except Exception:
            pass


class Esme:
    def __init__(self, port, ssl_context=None):
        self.port = port
        self.ssl_context = ssl_context
        self.conn = None
        self.cond = threading.Condition()
        self.delivered = collections.deque()
        self.refs = itertools.count(1)

    def need_conn(self):
        if self.conn is None or self.conn.closed:
            raise OpError("not connected")
        return self.conn

    def drop_conn(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -------------------------------------------------------------------- ops

    def op_bind(self, req):
        mode = req.get("mode", "trx")
        if mode not in BIND_COMMANDS:
            raise OpError("mode must be trx, tx or rx")
        timeout = float(req.get("timeout", 10))
        if req.get("new_connection", True) or self.conn is None or self.conn.closed:
            self.drop_conn()
            self.conn = Connection(self, self.port, timeout)
        c = self.conn
        p = smpp.make_pdu(
            BIND_COMMANDS[mode],
            client=c.client,
            system_id=req.get("system_id", ""),
            password=req.get("password", ""),
            system_type=req.get("system_type", ""),
            interface_version=0x34,
            addr_ton=0,
            addr_npi=0,
            address_range="",
        )
        p.interface_version = 0x34
        c.send_pdu(p)
        r = c.wait_resp(p.sequence, timeout)
        if r is None:
            return {"status": -1}
        if r == "closed":
            return {"status": -1, "closed": True}
        return {"status": r[1]}

    def _parts(self, req):
        text = req.get("text", "")
        split = req.get("split", "none")
        coding = req.get("coding", "gsm")
        if coding == "ucs2":
            enc, dc = (lambda t: t.encode("utf-16-be")), 0x08
        elif coding == "gsm":
            enc, dc = (lambda t: t.encode("ascii")), 0x00
        else:
            raise OpError("coding must be gsm or ucs2")
        if split == "none":
            data = enc(text)
            if len(data) > 254 and not req.get("data_sm"):
                raise OpError("text is %d octets; does not fit one short_message" % len(data))
            return dc, None, [{"esm_class": 0, "data": data, "tlvs": {}}]
        if split == "payload":
            return dc, None, [{"esm_class": 0, "data": enc(text), "payload": True, "tlvs": {}}]
        if split not in ("udh8", "udh16", "sar"):
            raise OpError("split must be none, udh8, udh16, sar or payload")
        n = int(req.get("part_chars", PART_CHARS))
        chunks = [text[i:i + n] for i in range(0, len(text), n)] or [""]
        total = len(chunks)
        if total > 255:
            raise OpError("too many parts (%d)" % total)
        ref = int(req["ref"]) if "ref" in req else next(self.refs)
        ref &= 0xFF if split == "udh8" else 0xFFFF
        parts = []
        for seqnum, chunk in enumerate(chunks, 1):
            if split == "udh8":
                udh = bytes([0x05, 0x00, 0x03, ref, total, seqnum])
                parts.append({"esm_class": 0x40, "data": udh + enc(chunk), "tlvs": {}})
            elif split == "udh16":
                udh = bytes([0x06, 0x08, 0x04, ref >> 8, ref & 0xFF, total, seqnum])
                parts.append({"esm_class": 0x40, "data": udh + enc(chunk), "tlvs": {}})
            else:
                parts.append({
                    "esm_class": 0,
                    "data": enc(chunk),
                    "tlvs": {"sar_msg_ref_num": ref, "sar_total_segments": total, "sar_segment_seqnum": seqnum},
                })
        return dc, ref, parts

    def op_submit(self, req):
        c = self.need_conn()
        dc, ref, parts = self._parts(req)
        use_data_sm = bool(req.get("data_sm", False))
        timeout = float(req.get("timeout", 10))
        common = {
            "service_type": req.get("service_type", ""),
            "source_addr_ton": int(req.get("src_ton", 1)),
            "source_addr_npi": int(req.get("src_npi", 1)),
            "source_addr": req.get("src", ""),
            "dest_addr_ton": int(req.get("dst_ton", 1)),
            "dest_addr_npi": int(req.get("dst_npi", 1)),
            "destination_addr": req.get("dst", ""),
            "registered_delivery": 1 if req.get("dlr") else 0,
            "data_coding": dc,
        }
        statuses, ids = [], []
        closed = False
        for part in parts:
            if closed:
                statuses.append(-1)
                ids.append(None)
                continue
            fields = dict(common, esm_class=part["esm_class"], **part["tlvs"])
            if use_data_sm:
                fields["message_payload"] = part["data"]
                p = smpp.make_pdu("data_sm", client=c.client, **fields)
            elif part.get("payload"):
                fields["short_message"] = b""
                fields["message_payload"] = part["data"]
                p = smpp.make_pdu("submit_sm", client=c.client, **fields)
            else:
                fields["short_message"] = part["data"]
                p = smpp.make_pdu("submit_sm", client=c.client, **fields)
            try:
                c.send_pdu(p)
            except OpError:
                closed = True
                statuses.append(-1)
                ids.append(None)
                continue
            r = c.wait_resp(p.sequence, timeout)
            if r is None or r == "closed":
                closed = closed or r == "closed"
                statuses.append(-1)
                ids.append(None)
                continue
            command_id, status, frame = r
            statuses.append(status)
            mid = None
            if status == 0 and command_id != GENERIC_NACK and len(frame) > 16:
                mid = frame[16:].split(b"\x00", 1)[0].decode("latin-1") or None
            ids.append(mid)
        out = {"statuses": statuses, "message_ids": ids}
        if ref is not None:
            out["ref"] = ref
        if closed:
            out["closed"] = True
        return out

    def op_wait_deliver(self, req):
        count = int(req.get("count", 1))
        deadline = time.monotonic() + float(req.get("timeout", 5))
        with self.cond:
            while len(self.delivered) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.cond.wait(remaining)
            pdus = []
            while self.delivered and len(pdus) < count:
                pdus.append(self.delivered.popleft())
        return {"pdus": pdus}

    def op_enquire_link(self, req):
        c = self.need_conn()
        p = smpp.make_pdu("enquire_link", client=c.client)
        c.send_pdu(p)
        r = c.wait_resp(p.sequence, float(req.get("timeout", 10)))
        if r is None:
            return {"status": -1}
        if r == "closed":
            return {"status": -1, "closed": True}
        return {"status": r[1]}

    def op_raw(self, req):
        data = bytes.fromhex(req["hex"])
        if self.conn is None or self.conn.closed:
            self.drop_conn()
            self.conn = Connection(self, self.port, 10)
        c = self.conn
        with self.cond:
            c.resps.clear()
        try:
            c.send_raw(data)
        except OpError:
            return {"closed": True}
        r = c.wait_resp(None, float(req.get("timeout", 5)), any_seq=True)
        if r is None:
            return {"timeout": True}
        if r == "closed":
            return {"closed": True}
        command_id, status, frame = r
        return {
            "command_id": command_id,
            "command_status": status,
            "sequence_number": struct.unpack_from(">I", frame, 12)[0],
        }

    def op_unbind(self, req):
        c = self.need_conn()
        p = smpp.make_pdu("unbind", client=c.client)
        try:
            c.send_pdu(p)
            r = c.wait_resp(p.sequence, float(req.get("timeout", 10)))
        except OpError:
            r = None
        self.drop_conn()
        if r is None or r == "closed":
            return {"status": -1}
        return {"status": r[1]}


def main():
    ap = argparse.ArgumentParser(description="smpplib-based ESME test peer")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-ca")
    args = ap.parse_args()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

    ssl_context = None
    if args.tls_ca:
        ssl_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ssl_context.load_verify_locations(cafile=args.tls_ca)
        # smpplib wraps the socket without a server name; the chain is still verified.
        ssl_context.check_hostname = False
    esme = Esme(args.port, ssl_context)
    ops = {
        "bind": esme.op_bind,
        "submit": esme.op_submit,
        "wait_deliver": esme.op_wait_deliver,
        "enquire_link": esme.op_enquire_link,
        "raw": esme.op_raw,
        "unbind": esme.op_unbind,
    }

    def emit(obj):
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "quit":
                emit({"ok": True})
                break
            if op not in ops:
                raise OpError("unknown op %r" % op)
            out = ops[op](req)
        except Exception as e:  # noqa: BLE001 - report, keep going
            out = {"error": "%s: %s" % (type(e).__name__, e)}
        emit(out)
    try:
        esme.drop_conn()
    except Exception:
        pass


if __name__ == "__main__":
    main()
