#!/usr/bin/env python3
"""wazuh_winevt.py - a model of what a Wazuh 4.14.7 manager makes of an
event a Wazuh agent sends, for the tests of the wazuh_agent output.

Written from wazuh/wazuh v4.14.7 (read, not copied):
  src/analysisd/decoders/winevtchannel.c  DecodeWinevt(), replace_win_format()
  src/os_xml/os_xml.c, os_xml_node_access.c  OS_ReadXMLString(),
                                          OS_GetElementsbyNode()
  src/shared/string_op.c                  wstr_unescape_json(), wstr_escape()
  src/external/cJSON (1.7.x)              cJSON_PrintUnformatted() strings,
                                          cJSON_GetObjectItem() (any case)
  src/shared/mq_op.c                      SendMSG(): QUEUE:LOCATION:MESSAGE

What the model keeps of the manager's behaviour, because the rules see it:
  - the Event string is printed as JSON (quotes and escapes included)
    before it is read as XML, so every value carries JSON escaping
    (C:\\Windows, \\"), and a text of XML_MAXSIZE (20480) printed bytes or
    more makes the whole XML unreadable;
  - the XML reader decodes no entity or character reference (&amp; stays
    "&amp;"), takes only ' for an attribute quote (a " is \\" once printed)
    and fails on a > inside an attribute value;
  - win.system: Provider Name/Guid/EventSourceName, TimeCreated/SystemTime,
    Execution ProcessID/ThreadID, Channel (even empty), Level and Keywords
    (even empty), every other non-empty System child named with its first
    letter lower-cased, Correlation never, severityValue from Level and
    Keywords, message from Message (printed, then unescaped, quotes kept);
    the UserID quirks of Channel/Security as the source has them;
  - win.eventdata: <Data Name='X'> as x (first letter lower-cased), values
    "-", "(NULL)" and empty dropped, trailing white space cut (never the
    first character), unnamed <Data> joined into "data" with ", ", other
    EventData children under their own lower-cased name;
  - any other child C of <Event>: its children's children as members of
    one object named after the last child of C (win.<name>);
  - cJSON_AddStringToObject() appends: a name twice is there twice.
Not modelled (the model raises NotModelled): the category/subcategory and
auditPolicyChanges tables of Security events, and an Event that is not a
JSON string.

Comparing with the wazuh (API) output: decode_winevt() of our payload is
NOT byte for byte the API output's event for about 20 of the 845 corpus
Windows records, and cannot be for tagged ones.  The API output decodes
XML references (&lt; &amp; &#10;) and keeps CR/LF/tab as \\n \\r \\t and
cuts a value of white space to nothing, where the manager keeps
references as written, turns CR/LF (and the tabs after them) into
spaces and keeps a value's first character; and the API output puts its
tags at the top ("sysmonfwd"), where DecodeWinevt can only make
win.sysmonfwd.  Compare with compare_with_api() (pairs) or count
agent_comparable() against api_comparable() (collections.Counter), which
take exactly those differences into account and no other.

Use:
  decode_winevt(log)        the JSON (text) DecodeWinevt hands the JSON
                            decoder for the message part of an 'f' event
  split_payload(payload)    (queue, location, message) of QUEUE:LOC:MSG
  decode_payload(payload)   what the manager's decoders get: the parsed
                            DecodeWinevt JSON for queue 'f', the message
                            text for any other queue
  agent_comparable(payload), api_comparable(api_event)
                            strings to count (collections.Counter) and
                            compare: equal for the same record exactly
                            when compare_with_api() finds no mismatch
  compare_with_api(payload, api_event)
                            differences between the manager's decode of a
                            wazuh_agent payload and the event the wazuh
                            (API) output sends for the same record (the
                            text of its JSON string); a list of
                            (kind, text), kind "mismatch" or
                            "api-divergence" (the API output decodes XML
                            references and keeps CR/LF/tab as escapes,
                            where a Wazuh agent's event keeps references
                            as written and turns CR/LF into spaces)
  python3 wazuh_winevt.py [--strict] --check FILE
        FILE: one JSON array per line, [agent payload, API event string];
        exit 1 on any mismatch (with --strict, on any divergence too)
  python3 wazuh_winevt.py --fixtures DIR
        Wazuh's decoded Sysmon fixtures (sysmon*.ini) decoded again from
        the agent message each implies; exit 1 on any difference
  python3 wazuh_winevt.py --readable FILE
        FILE: one payload a line (JSON strings); exit 1 unless the XML of
        every 'f' payload is read (the 20480-byte text limit, quotes...)
  python3 wazuh_winevt.py --decode < payloads   one payload per line (JSON
        strings), prints what the manager's JSON decoder would see
"""

import json
import re
import sys

XML_MAXSIZE = 20480          # src/os_xml/os_xml_internal.h
XML_MAX_ATTR_DEPTH = 48
OS_MAXSTR = 65536
AUDIT_FAILURE = 0x10000000000000
AUDIT_SUCCESS = 0x20000000000000
C_SPACE = ' \t\n\v\f\r'      # isspace() in the C locale


class NotModelled(Exception):
    """The record takes a path of DecodeWinevt this model does not follow."""


class XMLError(Exception):
    """OS_ReadXMLString() would fail."""


# ---- cJSON ---------------------------------------------------------------

def cjson_string(s):
    """cJSON's print_string_ptr(): the string s as cJSON prints it."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == '\\':
            out.append('\\\\')
        elif o < 0x20:
            out.append({8: '\\b', 12: '\\f', 10: '\\n', 13: '\\r',
                        9: '\\t'}.get(o, '\\u%04x' % o))
        else:
            out.append(ch)
    out.append('"')
    return ''.join(out)


def cjson_print(pairs):
    """cJSON_PrintUnformatted() of an object kept as a list of pairs
    (values: str or another list of pairs)."""
    items = []
    for k, v in pairs:
        items.append(cjson_string(k) + ':' +
                     (cjson_print(v) if isinstance(v, list)
                      else cjson_string(v)))
    return '{' + ','.join(items) + '}'


_ABSENT = object()


def cjson_get(pairs, name):
    """cJSON_GetObjectItem(): the first member of that name, any case, or
    _ABSENT."""
    for k, v in pairs:
        if k.lower() == name.lower():
            return v
    return _ABSENT


def cjson_parse(text):
    """cJSON_ParseWithOpts(text, .., 0): an object as a list of pairs,
    anything may follow it."""
    def hook(p):
        return list(p)
    dec = json.JSONDecoder(object_pairs_hook=hook, strict=False)
    i = len(text) - len(text.lstrip(' \t\n\r'))
    val, _ = dec.raw_decode(text, i)
    return val


def cjson_print_any(v):
    """cJSON_PrintUnformatted() of a parsed item (strings exactly)."""
    if isinstance(v, str):
        return cjson_string(v)
    if v is None or isinstance(v, bool):
        return {None: 'null', True: 'true', False: 'false'}[v]
    if isinstance(v, list) and all(isinstance(p, tuple) for p in v):
        return cjson_print(v)
    raise NotModelled('printing a %s' % type(v).__name__)


def wstr_unescape_json(s):
    """src/shared/string_op.c: \\b \\t \\n \\f \\r \\" \\\\ unescaped, any
    other escape kept as it is."""
    m = {'b': '\b', 't': '\t', 'n': '\n', 'f': '\f', 'r': '\r', '"': '"',
         '\\': '\\'}
    out, i = [], 0
    while i < len(s):
        if s[i] != '\\':
            out.append(s[i])
            i += 1
        elif i + 1 == len(s):
            out.append('\\')
            i += 1
        elif s[i + 1] in m:
            out.append(m[s[i + 1]])
            i += 2
        else:
            out.append(s[i:i + 2])
            i += 2
    return ''.join(out)


# ---- OS_ReadXMLString ----------------------------------------------------

def _bytes(s):
    """s with one character per UTF-8 byte: os_xml.c counts bytes."""
    return s.encode('utf-8', 'surrogateescape').decode('latin-1')


def _text(b):
    return None if b is None else \
        b.encode('latin-1').decode('utf-8', 'surrogateescape')


class _XML:
    """The flat element list os_xml.c builds: el, ct, tp, rl, ck (its
    text one character per byte: _bytes())."""

    ELEM, ATTR = 0, 1

    def __init__(self, text):
        self.s = text
        self.i = 0
        self.stash = []
        self.el, self.ct, self.tp, self.rl, self.ck = [], [], [], [], []

    def getc(self):
        if self.stash:
            return self.stash.pop()
        if self.i >= len(self.s):
            return '\0'
        c = self.s[self.i]
        self.i += 1
        return c

    def ungetc(self, c):
        self.stash.append(c)

    def write(self, name, tp, parent):
        self.el.append(name)
        self.ct.append(None)
        self.tp.append(tp)
        self.rl.append(parent)
        self.ck.append(1 if tp == self.ATTR else 0)
        return len(self.el) - 1

    def comment(self):
        c = self.getc()
        if c != '!':
            self.ungetc(c)
            return 0
        while True:
            c = self.getc()
            if c == '\0':
                return -1
            if c == '!':
                c = self.getc()
                if c == '>':
                    return 1
                self.ungetc(c)
            elif c == '-':
                c = self.getc()
                if c == '-':
                    c = self.getc()
                    if c == '>':
                        return 1
                    self.ungetc(c)
                self.ungetc(c)

    def attributes(self, parent, depth):
        if depth > XML_MAX_ATTR_DEPTH:
            raise XMLError('Too many attributes')
        location, attr, value, quote = 0, [], [], None
        while True:
            c = self.getc()
            if c == '\0':
                raise XMLError('End of file while reading an attribute')
            count = len(attr) if location == 0 else len(value)
            if count >= XML_MAXSIZE:
                raise XMLError('Overflow attempt at attribute')
            if c == '>' or (location == 0 and c == '/'):
                if location == 1:
                    raise XMLError("Attribute '%s' not closed"
                                   % ''.join(attr))
                if attr:
                    raise XMLError('Attribute has no value')
                return '/' if c == '/' else 0
            if location == 0 and c == '=':
                name = ''.join(attr)
                k = len(self.el) - 1
                while k >= 0 and self.rl[k] == parent and \
                        self.tp[k] == self.ATTR:
                    if self.el[k] == name:
                        raise XMLError("Attribute '%s' already defined"
                                       % name)
                    k -= 1
                c = self.getc()
                if c not in '"\'' or c == '\0':
                    ok = False
                    if c != '\0' and c in C_SPACE:
                        while True:
                            c = self.getc()
                            if c == '\0':
                                break
                            if c in C_SPACE:
                                continue
                            ok = c in '"\''
                            break
                    if not ok:
                        raise XMLError("Attribute '%s' not followed by a "
                                       "quote" % name)
                quote, location, value = c, 1, []
                attr = list(name)
            elif location == 0 and c in C_SPACE:
                if attr:
                    raise XMLError('Attribute has no value')
            elif location == 1 and c == quote:
                k = self.write(''.join(attr), self.ATTR, parent)
                self.ct[k] = ''.join(value)
                c = self.getc()
                if c != '\0' and c in C_SPACE:
                    return self.attributes(parent, depth + 1)
                if c == '>':
                    return 0
                if c == '/':
                    return '/'
                raise XMLError('Bad attribute closing')
            elif location == 0:
                attr.append(c)
            else:
                value.append(c)

    def elem(self, parent, level):
        """_ReadElem(): 0, 'EOF' at the end of the top level; raises."""
        level += 1
        if level > 1024:
            raise XMLError('Max recursion level reached')
        location, prevv, cur = -1, 1, None
        elem, cont, close = [], [], []
        while True:
            c = self.getc()
            if c == '\0':
                break
            if c == '\\':
                prevv = -prevv
            elif c != '<' and prevv == -1:
                prevv = 1
            buf = elem if location == 0 else cont if location == 1 \
                else close if location == 2 else []
            if len(buf) >= XML_MAXSIZE:
                raise XMLError('String overflow')
            if c == '<':
                r = self.comment()
                if r < 0:
                    raise XMLError('Comment not closed')
                if r == 1:
                    continue
            if location == -1 and prevv == 1:
                if c == '<':
                    c2 = self.getc()
                    if c2 == '/':
                        raise XMLError('Element not opened')
                    self.ungetc(c2)
                    location = 0
                continue
            if location == 0 and (c == '>' or c in C_SPACE):
                name, ge, ga = ''.join(elem), False, 0
                if name.endswith('/'):
                    name, ge = name[:-1], True
                cur = self.write(name, self.ELEM, parent)
                if c in C_SPACE:
                    ga = self.attributes(parent, 0)
                if ge or ga == '/':
                    self.ct[cur] = ''
                    self.ck[cur] = 1
                    elem, cont, close, location = [], [], [], -1
                    if parent > 0:
                        return 0
                else:
                    location = 1
                continue
            if location == 2 and c == '>':
                if ''.join(close) != ''.join(elem):
                    raise XMLError("Element '%s' not closed"
                                   % ''.join(elem))
                self.ct[cur] = ''.join(cont)
                self.ck[cur] = 1
                elem, cont, close, location = [], [], [], -1
                if parent > 0:
                    return 0
                continue
            if location == 1 and c == '<' and prevv == 1:
                c2 = self.getc()
                if c2 == '/':
                    location = 2
                    close = []
                else:
                    self.ungetc(c2)
                    self.ungetc('<')
                    self.elem(parent + 1, level)
                    cont = []    # count = 0: text after the child only
                continue
            if location == 0:
                elem.append(c)
            elif location == 1:
                cont.append(c)
            elif location == 2:
                close.append(c)
            if c == '<':
                prevv = 1
        if location == -1:
            return 'EOF'
        raise XMLError('End of file and some elements were not closed')

    def nodes(self, node):
        """OS_GetElementsbyNode(): [(element, content, [(attr, value)],
        key)] of node's children (node None: the top level)."""
        if node is None:
            m, i = 0, 0
        else:
            i = node[3]
            m = self.rl[i] + 1
            i += 1
        out = []
        while i < len(self.el):
            if self.tp[i] == self.ELEM and self.rl[i] == m:
                attrs, k = [], i + 1
                while k < len(self.el) and self.tp[k] == self.ATTR and \
                        self.rl[k] == m:
                    attrs.append((_text(self.el[k]), _text(self.ct[k])))
                    k += 1
                out.append((_text(self.el[i]), _text(self.ct[i]), attrs, i))
            elif self.tp[i] == self.ELEM and m > self.rl[i] and \
                    node is not None:
                break
            i += 1
        return out


def read_xml_string(text):
    """OS_ReadXMLString(): the parsed document, or raises XMLError."""
    x = _XML(text)
    x.elem(0, 0)
    for k, closed in enumerate(x.ck):
        if not closed:
            raise XMLError("Element '%s' not closed" % x.el[k])
    return x


# ---- DecodeWinevt --------------------------------------------------------

def replace_win_format(s, message):
    r = wstr_unescape_json(s) if message else s
    end = len(r) - 1
    trimmed = False
    while end > 0 and r[end] in C_SPACE:
        end -= 1
        trimmed = True
    return r[:end + 1] if trimmed else r


def lower1(s):
    return s[:1].lower() + s[1:] if s and 'A' <= s[0] <= 'Z' else s


def _strtol(s):
    m = re.match(r'[ \t\n\v\f\r]*([+-]?\d+)', s)
    return int(m.group(1)) if m else 0


def _strtoull16(s):
    m = re.match(r'[ \t\n\v\f\r]*([+-]?)(0[xX])?([0-9a-fA-F]+)', s)
    if not m:
        return 0
    v = int(m.group(3), 16)
    return (-v) % (1 << 64) if m.group(1) == '-' else min(v, (1 << 64) - 1)


def severity_value(level, keywords):
    lv, kw = _strtol(level), _strtoull16(keywords)
    names = {1: 'CRITICAL', 2: 'ERROR', 3: 'WARNING', 4: 'INFORMATION',
             5: 'VERBOSE'}
    if lv in names:
        return names[lv]
    if lv == 0 and kw & AUDIT_FAILURE:
        return 'AUDIT_FAILURE'
    if lv == 0 and kw & AUDIT_SUCCESS:
        return 'AUDIT_SUCCESS'
    return 'UNKNOWN'


def _system(child, system, state):
    el, ct, attrs, _ = child
    if el == 'Provider' and attrs:
        for a, v in attrs:
            key = {'Name': 'providerName', 'Guid': 'providerGuid',
                   'EventSourceName': 'eventSourceName'}.get(a)
            if key:
                system.append((key, v))
    elif el == 'TimeCreated' and attrs:
        if attrs[0][0] == 'SystemTime':
            system.append(('systemTime', attrs[0][1]))
    elif el == 'Execution' and attrs:
        for a, v in attrs:
            if a == 'ProcessID':
                system.append(('processID', v))
            elif a == 'ThreadID':
                system.append(('threadID', v))
    elif el == 'Channel':
        system.append(('channel', ct))
        if attrs and attrs[0][1] == 'UserID':
            system.append(('userID', attrs[0][1]))
    elif el == 'Security':
        if attrs and attrs[0][1] == 'UserID':
            system.append(('securityUserID', attrs[0][1]))
    elif el in ('Level', 'Keywords'):
        state[el] = ct
        system.append((lower1(el), ct))
    elif el == 'Correlation':
        pass
    elif ct:
        system.append((lower1(el), ct))


def _eventdata(child, data, state):
    el, ct, attrs, _ = child
    if el == 'Data' and attrs and ct:
        for a, v in attrs:
            if ct in ('(NULL)', '-'):
                continue
            f = replace_win_format(ct, 0)
            key = lower1(v)
            if a == 'Name':
                if key in ('categoryId', 'subcategoryId',
                           'auditPolicyChanges'):
                    raise NotModelled('eventdata.%s' % key)
                data.append((key, f))
                break
            data.append((key, f))
    elif ct and ct not in ('(NULL)', '-'):
        f = replace_win_format(ct, 0)
        if f and el == 'Data':
            joined = state.get('join')
            state['join'] = (f if not joined else joined + ', ' + f)
            state['join'] = state['join'].encode(
                'utf-8', 'surrogateescape')[:OS_MAXSTR - 1].decode(
                'utf-8', 'surrogateescape')
        elif el != 'Data':
            data.append((lower1(el), f))


def decode_winevt_pairs(log):
    """DecodeWinevt() of the message part of an 'f' event: the final
    event as a list of pairs ([("win", [...])]), or raises ValueError when
    the manager drops it (not JSON, no Event)."""
    received = cjson_parse(log)
    if not isinstance(received, list) or \
            (received and not isinstance(received[0], tuple)):
        raise ValueError('Malformed EventChannel JSON event')
    ev = cjson_get(received, 'Event')
    if ev is _ABSENT:
        raise ValueError("No 'Event' field found")
    system, data, extra, extra_name, state = [], [], [], None, {}
    try:
        xml = read_xml_string(_bytes(cjson_print_any(ev)))
    except XMLError:
        xml = None
    if xml is not None:
        top = xml.nodes(None)
        for child in (xml.nodes(top[0]) if top else []):
            for gc in xml.nodes(child):
                if child[0] == 'System':
                    _system(gc, system, state)
                elif child[0] == 'EventData':
                    _eventdata(gc, data, state)
                else:
                    for ggc in xml.nodes(gc):
                        c = ggc[1]
                        if c and c not in ('(NULL)', '-'):
                            extra.append((lower1(ggc[0]),
                                          replace_win_format(c, 0)))
                    extra_name = gc[0]
        if 'Level' in state and 'Keywords' in state:
            system.append(('severityValue',
                           severity_value(state['Level'],
                                          state['Keywords'])))
    msg = cjson_get(received, 'Message')
    if msg is not _ABSENT:
        system.append(('message',
                       replace_win_format(cjson_print_any(msg), 1)))
    win = [('system', system)]
    if state.get('join'):
        data.append(('data', state['join']))
    if data:
        win.append(('eventdata', data))
    if extra_name is not None:
        win.append((lower1(extra_name), extra))
    return [('win', win)]


def decode_winevt(log):
    """The JSON text DecodeWinevt() hands the JSON decoder."""
    return cjson_print(decode_winevt_pairs(log))


# ---- payloads ------------------------------------------------------------

def split_payload(payload):
    """(queue, location, message) of "Q:LOCATION:MESSAGE", the location
    unescaped as wstr_escape() escaped it ('|:' and '||')."""
    if len(payload) < 2 or payload[1] != ':':
        raise ValueError('no queue')
    loc, i = [], 2
    while i < len(payload):
        c = payload[i]
        if c == '|' and i + 1 < len(payload) and payload[i + 1] in '|:':
            loc.append(payload[i + 1])
            i += 2
            continue
        if c == ':':
            return payload[0], ''.join(loc), payload[i + 1:]
        loc.append(c)
        i += 1
    raise ValueError('no location')


def _to_obj(pairs):
    if isinstance(pairs, list):
        d = {}
        for k, v in pairs:
            d.setdefault(k, _to_obj(v))
        return d
    return pairs


def decode_payload(payload):
    """What the manager's decoders get: for queue 'f' the DecodeWinevt JSON
    parsed (a name twice: the first), else the message text."""
    q, _, msg = split_payload(payload)
    if q == 'f':
        return _to_obj(decode_winevt_pairs(msg))
    return msg


# ---- comparison with the API output --------------------------------------

def _unescape_api(v):
    """The raw value of an API output value (cJSON-escaped text)."""
    try:
        return json.loads('"' + v + '"', strict=False)
    except ValueError:
        return None


def agent_form(raw):
    """What the manager shows of a value raw that EvtRender wrote into the
    XML and a Wazuh agent sent: &, <, > as references, CR/LF as spaces
    (and tabs after them or after ':'), printed by cJSON, trailing space
    cut (replace_win_format)."""
    t = raw.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')
    out, i = list(t), 0
    while i < len(out):
        if out[i] in '\r\n:':
            if out[i] != ':':
                out[i] = ' '
            i += 1
            while i < len(out) and out[i] == '\t':
                out[i] = ' '
                i += 1
            continue
        i += 1
    return replace_win_format(cjson_string(''.join(out))[1:-1], 0)


def _short(v, n=160):
    r = repr(v)
    return r if len(r) <= n else r[:n - 20] + '...' + r[-17:]


def _cmp_values(where, api, ours, diffs):
    if api == ours:
        return
    raw = _unescape_api(api) if isinstance(api, str) else None
    if raw is not None and isinstance(ours, str) and (agent_form(raw) ==
                                                      ours or
                                                      (api == '' and ours
                                                       and ours.strip(
                                                           C_SPACE) == '')):
        # (A value of white space only: the API output cuts it all,
        # replace_win_format() never cuts the first character.)
        diffs.append(('api-divergence', '%s: API %s, agent path %s'
                      % (where, _short(api), _short(ours))))
    else:
        diffs.append(('mismatch', '%s: API %s, agent path %s'
                      % (where, _short(api), _short(ours))))


def _cmp_obj(where, api, ours, diffs):
    api = api if isinstance(api, dict) else {}
    ours = ours if isinstance(ours, dict) else {}
    for k, v in api.items():
        if k not in ours:
            # A value the agent path drops only because it is empty once
            # spaces are cut (the API kept the escaped form).
            raw = _unescape_api(v) if isinstance(v, str) else None
            kind = 'api-divergence' if raw is not None and \
                agent_form(raw) == '' else 'mismatch'
            diffs.append((kind, '%s.%s: only in the API output (%s)'
                          % (where, k, _short(v))))
        else:
            _cmp_values('%s.%s' % (where, k), v, ours[k], diffs)
    for k, v in ours.items():
        if k not in api:
            diffs.append(('mismatch', '%s.%s: only on the agent path (%s)'
                          % (where, k, _short(v))))


def _split_list(v):
    return [] if not v else v.split(', ')


def compare_with_api(payload, api_event):
    """Differences between the manager's decode of an agent payload and
    the API output's event (the text of its JSON string) for the same
    record: [(kind, text)], empty when equal."""
    diffs = []
    q, loc, msg = split_payload(payload)
    try:
        api = json.loads(api_event)
    except ValueError:
        api = None
    if not isinstance(api, dict) or 'win' not in api:
        # Sysmon for Linux, parse errors, gaps: the same text on queue 1.
        if q != '1':
            diffs.append(('mismatch', 'queue %r for a non-Windows event'
                          % q))
        if msg != api_event:
            diffs.append(('mismatch', 'message %s != API %s'
                          % (_short(msg), _short(api_event))))
        return diffs
    if q != 'f' or loc != 'EventChannel':
        diffs.append(('mismatch', 'Windows event on %s:%s' % (q, loc)))
        return diffs
    ours = decode_payload(payload)
    win, awin = ours.get('win', {}), api['win']
    _cmp_obj('win.system', awin.get('system'), win.get('system'), diffs)
    _cmp_obj('win.eventdata', awin.get('eventdata'), win.get('eventdata'),
             diffs)
    for k in awin:
        if k not in ('system', 'eventdata'):
            diffs.append(('mismatch', 'API win.%s not compared' % k))
    for k in win:
        if k not in ('system', 'eventdata', 'sysmonfwd'):
            diffs.append(('mismatch', 'agent path win.%s' % k))
    tags = api.get('sysmonfwd', {})
    mine = win.get('sysmonfwd', {})
    for name in ('tags', 'cut_fields'):
        a, b = tags.get(name, []), _split_list(mine.get(name))
        if a != b:
            diffs.append(('mismatch', 'sysmonfwd.%s: API %r, agent path %r'
                          % (name, a, b)))
    for k in api:
        if k not in ('win', 'sysmonfwd'):
            diffs.append(('mismatch', 'API member %s not compared' % k))
    return diffs


def _canonical(v):
    return json.dumps(v, sort_keys=True, ensure_ascii=False)


def _text_comparable(text):
    try:
        v = json.loads(text)
    except ValueError:
        return text
    return _canonical(v) if isinstance(v, dict) else text


def agent_comparable(payload):
    """A wazuh_agent payload as a string to count and compare with
    api_comparable() of the API output's event for the same record: equal
    exactly when compare_with_api() finds no mismatch.  Queue 'f': the
    manager's decode, win.sysmonfwd put back where the API output has its
    tags, trailing white space cut from every value; others: the message
    (a JSON object re-dumped with sorted keys)."""
    q, _, msg = split_payload(payload)
    if q != 'f':
        return _text_comparable(msg)
    doc = decode_payload(payload)
    win = doc.get('win', {})
    for sec in ('system', 'eventdata'):
        for k, v in win.get(sec, {}).items():
            if isinstance(v, str) and k != 'message':
                win[sec][k] = v.rstrip(C_SPACE)
    tags = win.pop('sysmonfwd', None)
    if tags is not None:
        doc['sysmonfwd'] = {k: _split_list(v) for k, v in tags.items()}
    return _canonical(doc)


def api_comparable(api_event):
    """The API output's event (the text of its JSON string) in the terms
    of agent_comparable(): each win value as a Wazuh agent's event shows
    it (agent_form()), trailing white space cut."""
    try:
        doc = json.loads(api_event)
    except ValueError:
        return api_event
    if not isinstance(doc, dict) or 'win' not in doc:
        return _text_comparable(api_event)
    for sec in ('system', 'eventdata'):
        for k, v in doc['win'].get(sec, {}).items():
            raw = _unescape_api(v) if isinstance(v, str) else None
            if raw is not None and k != 'message':
                doc['win'][sec][k] = agent_form(raw).rstrip(C_SPACE)
    return _canonical(doc)


def check_file(path, strict):
    """--check: every pair of the file; 0 when no difference counts."""
    n = windows = 0
    kinds = {'mismatch': 0, 'api-divergence': 0}
    shown = 0
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            payload, api = json.loads(line)
            n += 1
            windows += payload.startswith('f:')
            try:
                diffs = compare_with_api(payload, api)
                same = agent_comparable(payload) == api_comparable(api)
            except NotModelled as e:
                diffs, same = [('mismatch', 'not modelled: %s' % e)], False
            if same != (not any(k == 'mismatch' for k, _ in diffs)):
                diffs.append(('mismatch', 'agent_comparable() and '
                              'api_comparable() disagree with '
                              'compare_with_api()'))
            for kind, text in diffs:
                kinds[kind] += 1
                if (kind == 'mismatch' or strict) and shown < 50:
                    print('%s:%d: %s: %s' % (path, lineno, kind, text))
                    shown += 1
    print('wazuh_winevt: %d records (%d Windows), %d mismatches, %d API '
          'divergences (references and CR/LF: see compare_with_api)'
          % (n, windows, kinds['mismatch'], kinds['api-divergence']))
    bad = kinds['mismatch'] + (kinds['api-divergence'] if strict else 0)
    return 1 if bad or n == 0 else 0


def _fixture_event(fx):
    """An agent's message for a decoded Wazuh fixture: the System and
    EventData it names as EvtRender XML, Message from its message."""
    sys_ = fx['win']['system']
    data = fx['win'].get('eventdata', {})
    raw, draw = {}, {}
    for src, dst in ((sys_, raw), (data, draw)):
        for k, v in src.items():
            if src is sys_ and k == 'message':
                continue    # unescaped by the manager: not a printed form
            dst[k] = _unescape_api(v)
            if dst[k] is None:
                return None

    def g(k):
        return raw.get(k, '')
    xml = ["<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/"
           "event'><System><Provider Name='%s' Guid='%s'/>"
           % (g('providerName'), g('providerGuid'))]
    for el, k in (('EventID', 'eventID'), ('Version', 'version'),
                  ('Level', 'level'), ('Task', 'task'),
                  ('Opcode', 'opcode'), ('Keywords', 'keywords')):
        xml.append('<%s>%s</%s>' % (el, g(k), el))
    xml.append("<TimeCreated SystemTime='%s'/><EventRecordID>%s"
               "</EventRecordID><Correlation/><Execution ProcessID='%s' "
               "ThreadID='%s'/><Channel>%s</Channel><Computer>%s</Computer>"
               "<Security UserID='S-1-5-18'/></System><EventData>"
               % (g('systemTime'), g('eventRecordID'), g('processID'),
                  g('threadID'), g('channel'), g('computer')))
    for k in data:
        xml.append("<Data Name='%s'>%s</Data>" % (k[:1].upper() + k[1:],
                                                   draw[k]))
    xml.append('</EventData></Event>')
    pairs = []
    if 'message' in sys_:
        m = sys_['message']
        if not (m.startswith('"') and m.endswith('"')):
            return None
        pairs.append(('Message', m[1:-1]))
    pairs.append(('Event', ''.join(xml)))
    return cjson_print(pairs)


def check_fixtures(d):
    """--fixtures: Wazuh's own decoded Sysmon fixtures
    (ruleset/testing/tests/sysmon*.ini, v4.14.7) decoded again from the
    agent message they imply: the same members and values, severityValue
    computed, message through wstr_unescape_json()."""
    import glob
    n = bad = skipped = same_order = 0
    for path in sorted(glob.glob(d + '/sysmon*.ini')):
        with open(path, encoding='utf-8') as f:
            for lineno, line in enumerate(f, 1):
                m = re.match(r'log \d+ pass = (\{.*\})\s*$', line)
                if not m:
                    continue
                fx = json.loads(m.group(1))
                if 'system' not in fx.get('win', {}):
                    continue
                msg = _fixture_event(fx)
                if msg is None:
                    skipped += 1
                    continue
                n += 1
                got = decode_winevt_pairs(msg)
                ours = _to_obj(got)
                order = [k for k, _ in dict(got[0][1])['system']]
                same_order += order == list(fx['win']['system'])
                if ours != fx:
                    bad += 1
                    if bad <= 10:
                        print('%s:%d: decoded differently' % (path,
                                                              lineno))
    # (Some fixtures were reordered by hand: the order is only counted.)
    print('wazuh_winevt: %d fixtures decoded again, %d differ, %d skipped, '
          '%d with the System members in the same order'
          % (n, bad, skipped, same_order))
    return 1 if bad or n < 100 else 0


def check_readable(path):
    """--readable: every 'f' payload of the file (one JSON string a line)
    has an Event the manager's XML reader reads (win.system.providerName
    and win.eventdata decoded); prints the win.sysmonfwd of each."""
    n = bad = 0
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        for line in f:
            if not line.strip():
                continue
            payload = json.loads(line)
            if not payload.startswith('f:'):
                continue
            n += 1
            win = decode_payload(payload).get('win', {})
            ok = 'providerName' in win.get('system', {}) and \
                'eventdata' in win
            bad += not ok
            print('wazuh_winevt: %s, sysmonfwd %s'
                  % ('decoded' if ok else 'XML not read',
                     json.dumps(win.get('sysmonfwd'))))
    return 1 if bad or n == 0 else 0


def main(argv):
    args = [a for a in argv[1:] if a != '--strict']
    if len(args) == 2 and args[0] == '--fixtures':
        return check_fixtures(args[1])
    if len(args) == 2 and args[0] == '--readable':
        return check_readable(args[1])
    if len(args) == 2 and args[0] == '--check':
        return check_file(args[1], '--strict' in argv)
    if len(argv) == 2 and argv[1] == '--decode':
        for line in sys.stdin:
            if line.strip():
                q, _, msg = split_payload(json.loads(line))
                print(decode_winevt(msg) if q == 'f' else msg)
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
