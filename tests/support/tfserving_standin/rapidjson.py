"""A port of the parts of rapidjson 1.1.0 that TF Serving's REST API shows to its clients.

`read_json` reads a request body as TF Serving's ParseJson does (the iterative parser with
kParseNanAndInfFlag and kParseStopWhenDoneFlag, and ParseNumber's exact doubles), raising
`JsonError` with rapidjson's message and byte offset; Python's json is only a fast path for the
usual body. `debug_string` writes a value as PrettyWriter does, cut at 256 bytes, for the
"JSON Value: ..." part of error texts. Pure Python over bytes and JSON values: no TensorFlow.
"""

from __future__ import annotations

import decimal
import json
import math
import re
from typing import Any


class JsonError(Exception):
    """A rapidjson parse error: the GetParseError_En text and GetErrorOffset (in bytes)."""

    def __init__(self, text: str, offset: int) -> None:
        super().__init__(f"{text} at offset: {offset}")
        self.text = text
        self.offset = offset


_JSON_WS = b" \t\n\r"
# A \uD800-\uDFFF escape: rapidjson rejects an unpaired high surrogate and keeps a lone low one
# as its 3 raw bytes, where Python's json differs; such bodies take the exact (slow) path.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_POW10 = [float(f"1e{e}") for e in range(309)]  # rapidjson internal/pow10.h


def read_json(body: bytes) -> Any:
    """rapidjson 1.1.0 ParseStream<kParseIterativeFlag|kParseNanAndInfFlag|kParseStopWhenDone>.

    Strings come back as their UTF-8 bytes decoded with "surrogateescape" (rapidjson does not
    validate UTF-8: bytes that are not UTF-8 reach a string tensor unchanged). Python's json
    parses the usual body; it is only a fast path: numbers go through the port of rapidjson's
    ParseNumber, and whenever Python's json fails or may differ the port of the iterative
    parser decides, so errors carry rapidjson's message and byte offset.
    """
    pos = 0
    # EncodedInputStream<UTF8<>, MemoryStream> skips the bytes of a UTF-8 BOM (offsets count them).
    for byte in (0xEF, 0xBB, 0xBF):
        if pos < len(body) and body[pos] == byte:
            pos += 1
    while pos < len(body) and body[pos] in _JSON_WS:
        pos += 1
    # The fast path only for an object or array: its end is its closing bracket. After a
    # number at the root (not an object, so an error anyway) Python stops where rapidjson
    # may still read on ("2e" is "Miss exponent in number.").
    if body[pos : pos + 1] in (b"{", b"[") and not _SURROGATE_ESCAPE.search(body, pos):
        try:
            return _FAST_JSON.raw_decode(body[pos:].decode("utf-8", "surrogateescape"))[0]
        except (ValueError, RecursionError, JsonError):
            pass
    return _rj_parse(body, pos)


_PLAIN_INT = re.compile(r"-?[0-9]{1,18}")
_PLAIN_DECIMAL = re.compile(r"-?([0-9]{1,18})(?:\.([0-9]+))?(?:[eE]([-+]?[0-9]{1,5}))?")
_SIGNIFICAND_MAX = 0x1FFFFFFFFFFFFF  # 2^53 - 1, ParseNumber's limit for the exact significand


def _number_hook(token: str) -> Any:
    """parse_int/parse_float of the fast path: the value rapidjson gives the number token."""
    if _PLAIN_INT.fullmatch(token):
        return int(token)  # fits int64: Int/Uint/Int64
    match = _PLAIN_DECIMAL.fullmatch(token)
    if match:
        whole, fraction, exponent = match.group(1), match.group(2) or "", match.group(3)
        return _rj_decimal(token[0] == "-", whole, fraction, int(exponent or 0))
    value, _ = _rj_number(token.encode("ascii"), 0)
    return value


def _rj_decimal(minus: bool, whole: str, fraction: str, exponent: int) -> float:
    """_rj_number's double for a number whose integer part has at most 18 digits, computed
    from slices instead of digit by digit (the fast path parses whole tensors with it).

    ParseNumber appends fraction digits to the integer while it is at most 2^53 - 1 (checked
    before each digit), so below 16 significant digits every digit joins, and at 16 one more
    joins only if the value is still within the limit. Up to 17 significant digits in all are
    then added to the double one at a time; the rest are ignored.
    """
    value = int(whole)
    significant = len(whole) - 1 if value else 0  # significandDigit skips the first digit
    joined = 0
    if fraction:
        zeros = len(fraction) - len(fraction.lstrip("0")) if value == 0 else 0
        if len(whole) > 16 and value:
            joined = 0  # already beyond the limit
        else:
            sixteen = 16 - len(whole) if value else zeros + 16  # digits joined at 16 significant
            if sixteen >= len(fraction):
                joined = len(fraction)
            else:
                at_sixteen = int(whole + fraction[:sixteen])
                joined = sixteen if at_sixteen > _SIGNIFICAND_MAX else sixteen + 1
        significant += joined if value else max(0, joined - zeros)
    number = float(int(whole + fraction[:joined]))
    exp_frac = -joined
    for char in fraction[joined:]:
        if significant >= 17:
            break
        number = number * 10.0 + (ord(char) - 0x30)
        exp_frac -= 1
        if number > 0.0:
            significant += 1
    if exponent > 308 - exp_frac:
        raise JsonError("Number too big to be stored in double.", 0)  # the slow path places it
    number = _rj_strtod(number, exponent + exp_frac)
    return -number if minus else number


_FAST_JSON = json.JSONDecoder(parse_float=_number_hook, parse_int=_number_hook)

# GenericReader::IterativeParse states (reader.h).
(
    _RJ_START,
    _RJ_FINISH,
    _RJ_ERROR,
    _RJ_OBJECT,
    _RJ_KEY,
    _RJ_COLON,
    _RJ_MEMBER,
    _RJ_MEMBER_COMMA,
    _RJ_OBJECT_END,
    _RJ_ARRAY,
    _RJ_ELEMENT,
    _RJ_ELEMENT_COMMA,
    _RJ_ARRAY_END,
    _RJ_VALUE,
) = range(14)
# Tokenize(): these bytes are tokens of their own; any other byte starts a literal or a
# number (NumberToken), including bytes that start nothing valid.
_RJ_TOKENS = frozenset(b'[]{},:"')
_RJ_LITERAL = -1


def _rj_value_state(state: int) -> dict[int, int]:
    """The transitions of a state where a value may start."""
    return {
        ord("["): _RJ_ARRAY,
        ord("{"): _RJ_OBJECT,
        ord('"'): state,
        _RJ_LITERAL: state,
    }


# Predict(): state x token -> state; anything missing is the error state.
_RJ_NEXT: dict[int, dict[int, int]] = {
    _RJ_START: _rj_value_state(_RJ_VALUE),
    _RJ_OBJECT: {ord("}"): _RJ_OBJECT_END, ord('"'): _RJ_KEY},
    _RJ_KEY: {ord(":"): _RJ_COLON},
    _RJ_COLON: _rj_value_state(_RJ_MEMBER),
    _RJ_MEMBER: {ord("}"): _RJ_OBJECT_END, ord(","): _RJ_MEMBER_COMMA},
    _RJ_MEMBER_COMMA: {ord("}"): _RJ_OBJECT_END, ord('"'): _RJ_KEY},
    _RJ_ARRAY: {**_rj_value_state(_RJ_ELEMENT), ord("]"): _RJ_ARRAY_END},
    _RJ_ELEMENT: {ord("]"): _RJ_ARRAY_END, ord(","): _RJ_ELEMENT_COMMA},
    _RJ_ELEMENT_COMMA: {**_rj_value_state(_RJ_ELEMENT), ord("]"): _RJ_ARRAY_END},
}
# HandleError(): the error a state reports when the next token does not fit.
_RJ_STATE_ERROR = {
    _RJ_START: "The document is empty.",
    _RJ_OBJECT: "Missing a name for object member.",
    _RJ_MEMBER_COMMA: "Missing a name for object member.",
    _RJ_KEY: "Missing a colon after a name of object member.",
    _RJ_MEMBER: "Missing a comma or '}' after an object member.",
    _RJ_COLON: "Invalid value.",
    _RJ_ARRAY: "Invalid value.",
    _RJ_ELEMENT_COMMA: "Invalid value.",
    _RJ_ELEMENT: "Missing a comma or ']' after an array element.",
}
_RJ_ESCAPES = {
    ord('"'): 0x22,
    ord("\\"): 0x5C,
    ord("/"): 0x2F,
    ord("b"): 0x08,
    ord("f"): 0x0C,
    ord("n"): 0x0A,
    ord("r"): 0x0D,
    ord("t"): 0x09,
}


def _rj_parse(data: bytes, pos: int) -> Any:
    """GenericReader::IterativeParse (rapidjson 1.1.0 reader.h) building Python values.

    A zero byte ends the input as the end of the buffer does (MemoryStream::Peek). Duplicate
    keys keep the last value, as Python's json does (rapidjson keeps both; FindMember finds the
    first) -- the one place where this differs.
    """
    size = len(data)
    state = _RJ_START
    frames: list[list[Any]] = []  # [state to return to, container, pending key]
    root: list[Any] = []

    def attach(value: Any) -> None:
        if not frames:
            root.append(value)
        elif isinstance(frames[-1][1], list):
            frames[-1][1].append(value)
        else:
            frames[-1][1][frames[-1][2]] = value

    while pos < size and data[pos] != 0:
        char = data[pos]
        token = char if char in _RJ_TOKENS else _RJ_LITERAL
        new = _RJ_NEXT.get(state, {}).get(token, _RJ_ERROR)
        if new == _RJ_ERROR:
            raise JsonError(_RJ_STATE_ERROR.get(state, "Invalid value."), pos)
        if new in (_RJ_OBJECT, _RJ_ARRAY):
            back = state
            if state in (_RJ_ARRAY, _RJ_ELEMENT_COMMA):
                back = _RJ_ELEMENT
            elif state == _RJ_COLON:
                back = _RJ_MEMBER
            container: Any = {} if new == _RJ_OBJECT else []
            attach(container)
            frames.append([back, container, None])
            pos += 1
        elif new == _RJ_KEY:
            frames[-1][2], pos = _rj_string(data, pos)
        elif new in (_RJ_COLON, _RJ_MEMBER_COMMA, _RJ_ELEMENT_COMMA):
            pos += 1
        elif new in (_RJ_OBJECT_END, _RJ_ARRAY_END):
            if state == _RJ_MEMBER_COMMA:  # no trailing commas (kParseTrailingCommasFlag)
                raise JsonError("Missing a name for object member.", pos)
            if state == _RJ_ELEMENT_COMMA:
                raise JsonError("Invalid value.", pos)
            new = frames.pop()[0]
            if new == _RJ_START:
                new = _RJ_FINISH
            pos += 1
        else:  # _RJ_MEMBER, _RJ_ELEMENT, _RJ_VALUE: a string, literal or number
            value, pos = _rj_scalar(data, pos)
            attach(value)
            if new == _RJ_VALUE:
                new = _RJ_FINISH
        state = new
        if state == _RJ_FINISH:
            return root[0]  # kParseStopWhenDoneFlag: whatever follows is not read
        while pos < size and data[pos] in _JSON_WS:
            pos += 1
    raise JsonError(_RJ_STATE_ERROR.get(state, "Invalid value."), pos)


def _rj_peek(data: bytes, pos: int) -> int:
    return data[pos] if pos < len(data) else 0


def _rj_consume(data: bytes, pos: int, expect: bytes) -> tuple[bool, int]:
    """Consume(is, c) for each byte of `expect` in turn: (all matched, position reached)."""
    for byte in expect:
        if _rj_peek(data, pos) != byte:
            return False, pos
        pos += 1
    return True, pos


def _rj_scalar(data: bytes, pos: int) -> tuple[Any, int]:
    """ParseValue for a non-compound value: ParseNull/True/False, ParseString, ParseNumber."""
    char = data[pos]
    if char == 0x22:
        return _rj_string(data, pos)
    for literal, value in ((b"null", None), (b"true", True), (b"false", False)):
        if char == literal[0]:
            ok, pos = _rj_consume(data, pos + 1, literal[1:])
            if not ok:
                raise JsonError("Invalid value.", pos)
            return value, pos
    return _rj_number(data, pos)


def _rj_hex4(data: bytes, pos: int, escape: int) -> tuple[int, int]:
    code = 0
    for _ in range(4):
        char = _rj_peek(data, pos)
        if not (0x30 <= char <= 0x39 or 0x41 <= char <= 0x46 or 0x61 <= char <= 0x66):
            raise JsonError("Incorrect hex digit after \\u escape in string.", escape)
        code = code * 16 + int(chr(char), 16)
        pos += 1
    return code, pos


def _rj_string(data: bytes, pos: int) -> tuple[str, int]:
    """ParseString/ParseStringToStream (no kParseValidateEncodingFlag: bytes are copied)."""
    out = bytearray()
    pos += 1  # the opening quote
    while True:
        char = _rj_peek(data, pos)
        if char == 0x5C:  # backslash
            escape = pos
            pos += 1
            kind = _rj_peek(data, pos)
            if kind in _RJ_ESCAPES:
                out.append(_RJ_ESCAPES[kind])
                pos += 1
            elif kind == 0x75:  # \u
                code, pos = _rj_hex4(data, pos + 1, escape)
                if 0xD800 <= code <= 0xDBFF:
                    ok, pos = _rj_consume(data, pos, b"\\u")
                    if not ok:
                        raise JsonError("The surrogate pair in string is invalid.", escape)
                    low, pos = _rj_hex4(data, pos, escape)
                    if not 0xDC00 <= low <= 0xDFFF:
                        raise JsonError("The surrogate pair in string is invalid.", escape)
                    code = (((code - 0xD800) << 10) | (low - 0xDC00)) + 0x10000
                out += chr(code).encode("utf-8", "surrogatepass")  # a lone low one: 3 bytes
            else:
                raise JsonError("Invalid escape character in string.", escape)
        elif char == 0x22:
            return out.decode("utf-8", "surrogateescape"), pos + 1
        elif char < 0x20:
            if char == 0:
                raise JsonError("Missing a closing quotation mark in string.", pos)
            raise JsonError("Invalid escape character in string.", pos)
        else:
            out.append(char)
            pos += 1


def _rj_digit(data: bytes, pos: int) -> int:
    char = _rj_peek(data, pos)
    return char - 0x30 if 0x30 <= char <= 0x39 else -1


def _rj_number(data: bytes, pos: int) -> tuple[Any, int]:
    """Reader::ParseNumber of rapidjson 1.1.0, normal precision (no kParseFullPrecisionFlag).

    Integers that fit int64/uint64 stay integers (Int/Uint/Int64/Uint64); anything else is a
    double computed exactly as rapidjson does (StrtodNormalPrecision, which can differ from a
    correctly rounded parse in the last bit). An exponent beyond 308 (allowing for the digits
    after the point) or a huge integer is "Number too big to be stored in double." (reader.h
    :1235, :1318); a product that overflows without that, such as 2e308, is +/-Infinity:
    1.1.0 has no check after StrtodNormalPrecision (reader.h:1364-1366; later versions add one).
    """
    start = pos
    minus = _rj_peek(data, pos) == 0x2D
    if minus:
        pos += 1
    small = 0  # `unsigned i`
    big = 0  # `uint64_t i64`
    use64 = False
    digits = 0  # significandDigit
    number = 0.0
    nan_or_inf = False
    first = _rj_peek(data, pos)
    if first == 0x30:
        pos += 1
    elif 0x31 <= first <= 0x39:
        small = first - 0x30
        pos += 1
        limit, last = (214748364, 8) if minus else (429496729, 5)
        while (digit := _rj_digit(data, pos)) >= 0:
            if small >= limit and (small != limit or digit > last):
                big, use64 = small, True
                break
            small = small * 10 + digit
            pos += 1
            digits += 1
    elif first in (0x49, 0x4E):  # "I", "N" (kParseNanAndInfFlag)
        nan_or_inf = True
        ok, pos = _rj_consume(data, pos, b"NaN")
        if ok:
            number = math.nan
        else:
            ok, pos = _rj_consume(data, pos, b"Inf")
            if not ok:
                raise JsonError("Invalid value.", pos)
            number = -math.inf if minus else math.inf
            if _rj_peek(data, pos) == 0x69:  # "i": must be "Infinity"
                ok, pos = _rj_consume(data, pos, b"inity")
                if not ok:
                    raise JsonError("Invalid value.", pos)
    else:
        raise JsonError("Invalid value.", pos)

    use_double = False
    if use64:
        limit, last = (0x0CCCCCCCCCCCCCCC, 8) if minus else (0x1999999999999999, 5)
        while (digit := _rj_digit(data, pos)) >= 0:
            if big >= limit and (big != limit or digit > last):
                number, use_double = float(big), True
                break
            big = big * 10 + digit
            pos += 1
            digits += 1
    if use_double:  # an integer beyond 64 bits: accumulate it as a double
        while (digit := _rj_digit(data, pos)) >= 0:
            if number >= 1.7976931348623157e307:
                raise JsonError("Number too big to be stored in double.", start)
            number = number * 10 + digit
            pos += 1

    exp_frac = 0
    if _rj_peek(data, pos) == 0x2E:  # "."
        pos += 1
        if _rj_digit(data, pos) < 0:
            raise JsonError("Miss fraction part in number.", pos)
        if not use_double:
            if not use64:
                big = small
            while (digit := _rj_digit(data, pos)) >= 0:
                if big > 0x1FFFFFFFFFFFFF:  # 2^53 - 1, the fast path's limit
                    break
                big = big * 10 + digit
                pos += 1
                exp_frac -= 1
                if big != 0:
                    digits += 1
            number, use_double = float(big), True
        while (digit := _rj_digit(data, pos)) >= 0:
            if digits < 17:
                number = number * 10.0 + digit
                exp_frac -= 1
                if number > 0.0:
                    digits += 1
            pos += 1

    exp = 0
    if _rj_peek(data, pos) in (0x65, 0x45):  # "e", "E"
        pos += 1
        if not use_double:
            number, use_double = float(big if use64 else small), True
        exp_minus = False
        if _rj_peek(data, pos) == 0x2B:
            pos += 1
        elif _rj_peek(data, pos) == 0x2D:
            exp_minus = True
            pos += 1
        if _rj_digit(data, pos) < 0:
            raise JsonError("Miss exponent in number.", pos)
        exp = _rj_digit(data, pos)
        pos += 1
        if exp_minus:
            while (digit := _rj_digit(data, pos)) >= 0:
                exp = exp * 10 + digit
                pos += 1
                if exp >= 214748364:  # consume the rest of a huge exponent
                    while _rj_digit(data, pos) >= 0:
                        pos += 1
            exp = -exp
        else:
            max_exp = 308 - exp_frac
            while (digit := _rj_digit(data, pos)) >= 0:
                exp = exp * 10 + digit
                pos += 1
                if exp > max_exp:
                    raise JsonError("Number too big to be stored in double.", start)

    if use_double:
        number = _rj_strtod(number, exp + exp_frac)
        return (-number if minus else number), pos
    if nan_or_inf:
        return number, pos
    value = big if use64 else small
    return (-value if minus else value), pos


def _rj_fast_path(significand: float, exp: int) -> float:
    if exp < -308:
        return 0.0
    if exp >= 0:
        return significand * _POW10[exp]
    return significand / _POW10[-exp]


def _rj_strtod(number: float, exp: int) -> float:
    """internal::StrtodNormalPrecision (strtod.h)."""
    if exp < -308:
        return _rj_fast_path(_rj_fast_path(number, -308), exp + 308)
    return _rj_fast_path(number, exp)


_DEBUG_LIMIT = 256  # util/json_tensor.cc:225 kMaxJsonDebugStringBytes
_RJ_SHORT_ESCAPES = {0x08: b"\\b", 0x09: b"\\t", 0x0A: b"\\n", 0x0C: b"\\f", 0x0D: b"\\r"}


def debug_string(value: Any) -> str:
    """JsonValueToDebugString (util/json_tensor.cc:229): rapidjson's PrettyWriter (4-space
    indent, kFormatSingleLineArray).

    Like TF Serving it stops before the first write that finds 256 bytes already written (so
    long values are cut, even mid-JSON), and at a NaN or infinite number (Writer::WriteDouble
    refuses them without kWriteNanAndInfFlag). Walks iteratively: nesting depth is no limit.
    """
    out = bytearray()
    levels: list[list[Any]] = []  # [in array, values written] per open container
    work: list[tuple[str, Any]] = [("value", value)]

    def prefix() -> None:  # PrettyWriter::PrettyPrefix
        if not levels:
            return
        level = levels[-1]
        if level[0]:
            if level[1] > 0:
                out.extend(b", ")
        else:
            if level[1] > 0:
                out.extend(b",\n" if level[1] % 2 == 0 else b": ")
            else:
                out.extend(b"\n")
            if level[1] % 2 == 0:
                out.extend(b" " * (4 * len(levels)))
        level[1] += 1

    while work and len(out) < _DEBUG_LIMIT:
        kind, item = work.pop()
        if kind == "end":
            in_array, count = levels.pop()
            if count and not in_array:
                out.extend(b"\n" + b" " * (4 * len(levels)))
            out.extend(b"]" if in_array else b"}")
            continue
        prefix()
        if kind == "key":
            out.extend(_rj_write_string(item))
        elif isinstance(item, list):
            levels.append([True, 0])
            out.extend(b"[")
            work.append(("end", None))
            work.extend(("value", v) for v in reversed(item))
        elif isinstance(item, dict):
            levels.append([False, 0])
            out.extend(b"{")
            work.append(("end", None))
            for key, member in reversed(item.items()):
                work.extend((("value", member), ("key", key)))
        elif item is None:
            out.extend(b"null")
        elif isinstance(item, bool):
            out.extend(b"true" if item else b"false")
        elif isinstance(item, int):
            out.extend(str(item).encode())
        elif isinstance(item, float):
            if not math.isfinite(item):
                break
            out.extend(_rj_double(item).encode())
        else:
            out.extend(_rj_write_string(item))
    return out.decode("utf-8", "surrogateescape")


def _rj_write_string(text: str) -> bytes:
    """Writer::WriteString: quote, backslash and control bytes escaped; the rest as is."""
    out = bytearray(b'"')
    for byte in text.encode("utf-8", "surrogateescape"):
        if byte in (0x22, 0x5C):
            out.extend(b"\\" + bytes([byte]))
        elif byte < 0x20:
            out.extend(_RJ_SHORT_ESCAPES.get(byte, b"\\u00%02X" % byte))
        else:
            out.append(byte)
    out.extend(b'"')
    return bytes(out)


def _rj_double(value: float) -> str:
    """internal::dtoa + Prettify, with Python's shortest digits standing in for Grisu2's."""
    if value == 0:
        return "-0.0" if math.copysign(1.0, value) < 0 else "0.0"
    exact = decimal.Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, exact.digits))
    k = int(exact.exponent)
    kk = len(digits) + k  # 10^(kk-1) <= value < 10^kk
    if k >= 0 and kk <= 21:
        text = digits + "0" * k + ".0"
    elif 0 < kk <= 21:
        text = digits[:kk] + "." + digits[kk:]
    elif -6 < kk <= 0:
        text = "0." + "0" * -kk + digits
    elif len(digits) == 1:
        text = f"{digits}e{kk - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return ("-" if value < 0 else "") + text
