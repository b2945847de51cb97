#!/usr/bin/env python3
"""cellfit's NMODL translator: turns .mod files into the catalogue's mechanism headers.

A short pipeline whose stages can be tested alone:
  parse    NEURON's own NMODL front end (the `neuron` wheel's neuron.nmodl: parser, symbol
           table, inliner); a syntax error becomes `file:line: message`,
  check    refuses the constructs cellfit does not support, naming file and line,
  analyse  the NEURON block (SUFFIX, USEION, NONSPECIFIC_CURRENT, RANGE, GLOBAL), UNITS
           constants, PARAMETER / ASSIGNED / STATE, and the INITIAL, BREAKPOINT and
           DERIVATIVE blocks with every PROCEDURE and FUNCTION inlined,
  emit     one header per mechanism in the form of kernels/mechanism.hpp: value-type
           templated (the adjoint runs it on dual numbers), branch-free (IF/ELSE become
           selects of both branches), device-callable; plus catalogue.hpp, which lists them
           in NEURON's mechanism order.

Semantics follow NEURON 9 (nocmodl) with usetable = 0: TABLE statements are ignored and
rates are evaluated exactly; cnexp updates a state linear in itself as
x = x + (1 - exp(dt A)) (-B/A... ) in nocmodl's form x + (1 - exp(dt a)) (-b/a - x) for
x' = a x + b; the conductance is d(current)/dv, symbolically when the current is linear in v
and otherwise NEURON's (I(v + 0.001) - I(v)) / 0.001.

Usage: cellfit_nmodl.py --out DIR FILE.mod ...   (writes DIR/cellfit_generated/*.hpp)
"""

from __future__ import annotations

import argparse
import ast as pyast
import contextlib
import io
import keyword
import math
import os
import re
import sys
from dataclasses import dataclass, field

# NEURON 9's unit constants (nrnunits.lib, 2018 CODATA), as nocmodl substitutes them.
UNIT_FACTORS = {
    ("faraday", "coulombs"): 96485.33212331001,
    ("faraday", "coulomb"): 96485.33212331001,
    ("faraday", "kilocoulombs"): 96.48533212331002,
    ("k-mole", "joule/degc"): 8.31446261815324,
    ("k-mole", "joule/kelvin"): 8.31446261815324,
    ("pi", "1"): math.pi,
}
KNOWN_SPECIES = {"na": 1, "k": 1, "ca": 2}
# The kernels mark a cell failed once |v| exceeds v_bound (at most 400 mV), so exp(a v + b)
# with |a| 400 + |b| <= 80 cannot overflow in FP32 (e^88) for any cell still running: such
# exponentials take the unclamped kmath::exp_bounded and may share one evaluation.
V_BOUND_MV = 400.0
EXP_SAFE_ARG = 80.0
FUNCTIONS = {"exp": "kmath::exp", "log": "kmath::log", "fabs": "kmath::abs",
             "sqrt": "kmath::sqrt", "pow": None}
ARITY = {"exp": 1, "log": 1, "fabs": 1, "sqrt": 1, "pow": 2}
# C++17's keywords and alternative tokens, and macros of <cmath> and the C library: names no
# variable and no mechanism (a struct) can take in C++.
CXX_KEYWORDS = {
    "alignas", "alignof", "and", "and_eq", "asm", "auto", "bitand", "bitor", "bool", "break",
    "case", "catch", "char", "char16_t", "char32_t", "class", "compl", "const", "constexpr",
    "const_cast", "continue", "decltype", "default", "delete", "do", "double", "dynamic_cast",
    "else", "enum", "explicit", "export", "extern", "false", "float", "for", "friend", "goto",
    "if", "inline", "int", "long", "mutable", "namespace", "new", "noexcept", "not", "not_eq",
    "nullptr", "operator", "or", "or_eq", "private", "protected", "public", "register",
    "reinterpret_cast", "return", "short", "signed", "sizeof", "static", "static_assert",
    "static_cast", "struct", "switch", "template", "this", "thread_local", "throw", "true",
    "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void",
    "volatile", "wchar_t", "while", "xor", "xor_eq",
    "NULL", "EOF", "errno", "assert", "INFINITY", "NAN", "HUGE_VAL", "HUGE_VALF", "HUGE_VALL",
    "EDOM", "ERANGE", "EILSEQ", "FP_NAN", "FP_INFINITE", "FP_ZERO", "FP_SUBNORMAL",
    "FP_NORMAL", "FP_ILOGB0", "FP_ILOGBNAN", "MATH_ERRNO", "MATH_ERREXCEPT",
    "math_errhandling", "M_E", "M_PI", "M_PI_2", "M_PI_4", "M_1_PI", "M_2_PI", "M_2_SQRTPI",
    "M_LN2", "M_LN10", "M_LOG2E", "M_LOG10E", "M_SQRT2", "M_SQRT1_2", "stdin", "stdout",
    "stderr"}
# Names the generated code uses unqualified: no mechanism (a struct) can take them.
CXX_SCOPE = {"T", "C", "kmath", "std", "ion_use", "Kokkos", "cellfit"}
# Names an NMODL variable cannot keep in C++: those and the generated functions' own.
CXX_RESERVED = CXX_KEYWORDS | {
    "v", "p", "c", "s", "ion", "dt", "i_ion", "g", "T", "C", "i", "kmath", "select", "std",
    "Kokkos", "cellfit", "hi", "lo", "i_hi", "uses", "a_", "b_", "globals", "out", "celsius"}
# Names the generated code makes itself (cond3, d_state0, x_then2, a LOCAL's x_4).
_GENERATED_NAME = re.compile(r"^(?:cond\d+|d_state\d+)$|_(?:then|else|else_if)?\d+$")
# Python keywords (and None, True, False) are ordinary NMODL names; renamed while an
# expression goes through Python's parser.
_PY_KEYWORD = re.compile(r"\b(" + "|".join(keyword.kwlist) + r")\b")
_PY_KEYWORD_PREFIX = "nmodl_name__"


def _py_tree(text: str):
    """An NMODL expression as a Python expression tree (^ as **, && || ! as and or not),
    names as in NMODL (Python keywords among them)."""
    t = _PY_KEYWORD.sub(lambda m: _PY_KEYWORD_PREFIX + m.group(1), text)
    t = t.replace("^", "**").replace("&&", " and ").replace("||", " or ")
    t = re.sub(r"!(?!=)", " not ", t)
    tree = pyast.parse(t.strip(), mode="eval")
    for node in pyast.walk(tree):
        if isinstance(node, pyast.Name) and node.id.startswith(_PY_KEYWORD_PREFIX):
            node.id = node.id[len(_PY_KEYWORD_PREFIX):]
    return tree


class TranslationError(Exception):
    """A refusal or error, formatted `file:line: message`."""


@dataclass
class IonUse:
    species: str
    valence: int
    reads: set = field(default_factory=set)   # subset of {"e", "ci", "co", "i"}
    write_i: bool = False
    write_ci_state: int = -1
    write_co_state: int = -1

    def names(self):
        n = self.species
        return {"e": "e" + n, "ci": n + "i", "co": n + "o", "i": "i" + n}


@dataclass
class Mechanism:
    name: str
    path: str
    params: list = field(default_factory=list)    # (name, default, unit) RANGE
    globals: list = field(default_factory=list)   # (name, default, unit)
    states: list = field(default_factory=list)
    assigned: list = field(default_factory=list)
    ions: list = field(default_factory=list)      # IonUse
    nonspecific: list = field(default_factory=list)
    constants: dict = field(default_factory=dict)  # name -> value (UNITS, CONSTANT)
    initial: object = None
    breakpoint: list = field(default_factory=list)  # statements after SOLVE
    derivative: object = None
    method: str = ""
    writes_conc: bool = False


def _nmodl():
    # Importing neuron prints a banner on some systems and, without a display, a warning on
    # stderr from C; -nogui silences the latter, the redirect the former.
    os.environ.setdefault("NEURON_MODULE_OPTIONS", "-nogui")
    with contextlib.redirect_stdout(io.StringIO()):
        from neuron import nmodl  # noqa: F401
        from neuron.nmodl import NmodlDriver, ast, symtab, to_nmodl, visitor
    return NmodlDriver, ast, symtab, to_nmodl, visitor


@contextlib.contextmanager
def _quiet_front_end():
    """File descriptors 1 and 2 to /dev/null while NEURON's C++ front end runs: its lexer
    prints some errors (an unterminated string, VERBATIM or unit) with printf/std::cout
    besides raising, and the translator's only output is its one-line message."""
    import ctypes
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        os.dup2(null, 2)
        yield
    finally:
        libc.fflush(None)  # what C stdio still buffers goes to /dev/null too
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved + [null]:
            os.close(fd)


def _strip_comments(text: str) -> str:
    """The text with `: ...` comments and COMMENT blocks blanked, line breaks kept."""
    out = re.sub(r"COMMENT.*?ENDCOMMENT", lambda m: "\n" * m.group(0).count("\n"), text,
                 flags=re.S)
    return re.sub(r":[^\n]*", "", out)


def _short(src: str, limit: int = 100) -> str:
    """NMODL code quoted in a message: one line, at most `limit` characters."""
    one = " ".join(src.split())
    return one if len(one) <= limit else one[:limit - 3] + "..."


def _line_of(text: str, pattern: str, last: bool = False, default: int = 1) -> int:
    """Line (1-based) of the first (or last) match of `pattern` outside comments, else
    `default`."""
    stripped = _strip_comments(text)
    matches = list(re.finditer(pattern, stripped, re.MULTILINE))
    if not matches:
        return default
    m = matches[-1] if last else matches[0]
    return stripped.count("\n", 0, m.start()) + 1


def _line_of_source(text: str, src: str, default: int = 1) -> int:
    """Line of the first place where NMODL code `src` (as the front end prints it back:
    other spacing, upper-case keywords) starts in the file, else `default`."""
    lines = src.strip().splitlines()
    toks = re.findall(r"\w+|[^\w\s]", lines[0])[:12] if lines else []
    if not toks:
        return default
    pattern = r"\s*".join(r"\b" + re.escape(t) + r"\b" if re.match(r"\w", t) else re.escape(t)
                          for t in toks)
    return _line_of(text, "(?i)" + pattern, default=default)


# ---------------------------------------------------------------------------- parse, check

def parse(path: str, text: str | None = None):
    """The nmodl AST of a .mod file (PROCEDUREs and FUNCTIONs not yet inlined)."""
    NmodlDriver, _, _, _, _ = _nmodl()
    if text is None:
        try:
            with open(path, "rb") as f:
                raw = f.read()
        except OSError as e:
            raise TranslationError(f"{path}:1: cannot read: {e.strerror or e}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = len(re.findall(rb"\r\n|\r|\n", raw[:e.start])) + 1
            raise TranslationError(f"{path}:{line}: not UTF-8 text (byte "
                                   f"0x{raw[e.start]:02x})") from None
        text = text.replace("\r\n", "\n").replace("\r", "\n")  # as open() in text mode
    # TABLE statements are ignored (exact evaluation, NEURON with usetable = 0); removed
    # before parsing, line breaks kept, so the inliner sees plain PROCEDUREs.
    source = re.sub(r"\bTABLE\b[\s\S]*?\bWITH\s+[^\s}]+",
                    lambda m: "\n" * m.group(0).count("\n"), _strip_comments(text))
    try:
        with _quiet_front_end():
            program = NmodlDriver().parse_string(source)
    except RuntimeError as e:
        msg = str(e)
        m = re.search(r"Location\s*:\s*(\d+)", msg)
        line = m.group(1) if m else "1"
        tok = re.search(r"no token matched for (\S+)", msg)  # the lexer gives no location
        if not m and tok:
            line = str(_line_of(text, re.escape(tok.group(1))))
        first = msg.splitlines()[0].replace("NMODL Parser Error : ", "") if msg else "syntax error"
        raise TranslationError(f"{path}:{line}: {first}") from None
    except (IndexError, ValueError) as e:  # std::out_of_range / invalid_argument of a number
        bad = _bad_numbers(text)
        if bad:
            raise TranslationError(bad[0][1].replace("FILE", path, 1)) from None
        raise TranslationError(f"{path}:1: {e}") from None
    return program, text


_NUMBER = re.compile(r"(?<![\w.])(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")


def _bad_numbers(text: str):
    """(line, `FILE:line: message`) of each number literal NEURON's front end cannot hold:
    a real that is not a normal double (std::stod throws on overflow and underflow: 1e999,
    1e-400, 4.9e-324), an integer beyond 32 bits (silently wrapped: 99999999999 becomes
    1215752191)."""
    stripped = _strip_comments(text)
    out = []
    for m in _NUMBER.finditer(stripped):
        lit = m.group(0)
        x = float(lit)
        mantissa = re.split(r"[eE]", lit)[0]
        line = stripped.count("\n", 0, m.start()) + 1
        if math.isinf(x) or (x == 0.0 and re.search(r"[1-9]", mantissa)) or \
                0.0 < x < sys.float_info.min:
            out.append((line, f"FILE:{line}: number {lit} is out of the range of a double"))
        elif re.fullmatch(r"\d+", lit) and int(lit) > 2**31 - 1:
            out.append((line, f"FILE:{line}: integer {lit} is out of the range of a 32-bit int "
                        f"(NEURON's front end would wrap it; write {lit}.0)"))
    return out


UNSUPPORTED = [
    (r"^[ \t]*KINETIC\b", "KINETIC"), (r"^[ \t]*NET_RECEIVE\b", "NET_RECEIVE"),
    (r"^[ \t]*VERBATIM\b", "VERBATIM"), (r"\bPOINT_PROCESS\b", "POINT_PROCESS"),
    (r"\bARTIFICIAL_CELL\b", "ARTIFICIAL_CELL"), (r"^[ \t]*LINEAR\b", "LINEAR"),
    (r"^[ \t]*NONLINEAR\b", "NONLINEAR"), (r"^[ \t]*DISCRETE\b", "DISCRETE"),
    (r"^[ \t]*PARTIAL\b", "PARTIAL"), (r"\bPOINTER\b", "POINTER"),
    (r"\bBBCOREPOINTER\b", "BBCOREPOINTER"), (r"\bELECTRODE_CURRENT\b", "ELECTRODE_CURRENT"),
    (r"^[ \t]*FUNCTION_TABLE\b", "FUNCTION_TABLE"), (r"^[ \t]*NET_RECEIVE\b", "NET_RECEIVE"),
    (r"^[ \t]*(BEFORE|AFTER)\b", "BEFORE/AFTER"), (r"^[ \t]*CONSTRUCTOR\b", "CONSTRUCTOR"),
    (r"^[ \t]*DESTRUCTOR\b", "DESTRUCTOR"), (r"\bWATCH\b", "WATCH"),
    (r"\bFROM\s+\w+\s*=", "FROM loop"),
    (r"^[ \t]*WHILE\b", "WHILE"), (r"\bEXTERNAL\b", "EXTERNAL"), (r"\bRANDOM\b", "RANDOM"),
]


def check(path: str, text: str):
    """Refuses constructs cellfit does not support (first one found, by line)."""
    # Comments and VERBATIM/COMMENT bodies must not trigger the search except VERBATIM itself.
    stripped = re.sub(r":[^\n]*", "", text)
    stripped = re.sub(r"COMMENT.*?ENDCOMMENT", lambda m: "\n" * m.group(0).count("\n"),
                      stripped, flags=re.S)
    found = []
    for pattern, what in UNSUPPORTED:
        m = re.search(pattern, stripped, re.MULTILINE)
        if m:
            line = stripped.count("\n", 0, m.start()) + 1
            found.append((line, f"{path}:{line}: {what}: construct not supported"))
    found += [(line, msg.replace("FILE", path, 1)) for line, msg in _bad_numbers(text)]
    if found:
        raise TranslationError(min(found)[1])


# ---------------------------------------------------------------------------- analyse

_DECLARING_BLOCKS = ("PARAMETER", "ASSIGNED", "STATE", "CONSTANT", "UNITS", "INDEPENDENT")
_NAMED_BLOCKS = ("DERIVATIVE", "PROCEDURE", "FUNCTION", "KINETIC", "LINEAR", "NONLINEAR",
                 "DISCRETE", "PARTIAL", "FUNCTION_TABLE")


def _declaration_lines(text: str, name: str) -> list:
    """Lines (1-based) declaring `name`: an entry of a PARAMETER, ASSIGNED, STATE, CONSTANT,
    UNITS or INDEPENDENT block, `USEION name`, or a block `DERIVATIVE name {` and the like."""
    stripped = _strip_comments(text)
    word = re.compile(r"(?<![\w'])" + re.escape(name) + r"(?![\w'])")
    header = re.compile(r"^[ \t]*(?:" + "|".join(_NAMED_BLOCKS) + r")[ \t]+" +
                        re.escape(name) + r"\b")
    lines, depth, block = [], 0, None
    for k, ln in enumerate(stripped.split("\n"), start=1):
        if depth == 0:
            m = re.match(r"[ \t]*([A-Z_]+)", ln)
            block = m.group(1) if m else None
            if header.match(ln):
                lines.append(k)
            body = ln.split("{", 1)[1] if "{" in ln else ""
        else:
            body = ln
        if block in _DECLARING_BLOCKS and word.search(body) or \
                re.search(r"\bUSEION[ \t]+" + re.escape(name) + r"\b", ln):
            if k not in lines:
                lines.append(k)
        depth = max(0, depth + ln.count("{") - ln.count("}"))
    return lines


def _front_end_error(path: str, text: str, e: Exception) -> str:
    """NEURON's symbol table and inliner raise without a position: the message with the
    line of the name or block it is about."""
    msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    m = re.match(r"Re-declaration of (\S+) \[", msg)
    if m:
        name = m.group(1)
        lines = _declaration_lines(text, name)
        line = lines[1] if len(lines) > 1 else (lines[0] if lines else
                                                 _line_of(text, r"\b" + re.escape(name) + r"\b",
                                                          last=True))
        return f"{path}:{line}: {name} is declared a second time"
    m = re.match(r"Trying to re-insert SymbolTable (\w+)", msg)
    if m and not m.group(1).endswith("Block"):  # a FUNCTION or PROCEDURE defined twice
        name = m.group(1)
        at = _declaration_lines(text, name)
        line = at[1] if len(at) > 1 else (at[0] if at else 1)
        return f"{path}:{line}: {name} is declared a second time"
    if m:
        kw = m.group(1)[:-len("Block")].upper()
        stripped = _strip_comments(text)
        at = [stripped.count("\n", 0, x.start()) + 1
              for x in re.finditer(r"^[ \t]*" + kw + r"\b", stripped, re.MULTILINE)]
        line = at[1] if len(at) > 1 else (at[0] if at else 1)
        return f"{path}:{line}: a second {kw} block"
    m = re.match(r"symbol table doesn't have ast node for (\S+)", msg)
    if m:
        name = m.group(1)
        line = _line_of(text, r"\b" + re.escape(name) + r"\s*\(")
        return f"{path}:{line}: {name}() is called but is not a FUNCTION or PROCEDURE"
    bad = _bad_numbers(text)
    if bad:
        return bad[0][1].replace("FILE", path, 1)
    return f"{path}:1: {msg}"


def _refuse_recursion(path: str, program, text: str):
    """NEURON's inliner recurses without end (and crashes) on a FUNCTION or PROCEDURE that
    calls itself, directly or through others: refused before inlining."""
    _, ast, _, to_nmodl, visitor = _nmodl()
    L = visitor.AstLookupVisitor()
    calls = {}
    for t in (ast.AstNodeType.FUNCTION_BLOCK, ast.AstNodeType.PROCEDURE_BLOCK):
        for blk in L.lookup(program, t):
            name = to_nmodl(blk.name)
            calls.setdefault(name, set()).update(
                to_nmodl(c.name) for c in L.lookup(blk, ast.AstNodeType.FUNCTION_CALL))
    state = {}  # name -> 1 on the current path, 2 done

    def cycle_from(n, path_):
        state[n] = 1
        for c in sorted(calls.get(n, ())):
            if c not in calls:
                continue
            if state.get(c) == 1:
                return path_ + [c]
            if c not in state:
                found = cycle_from(c, path_ + [c])
                if found:
                    return found
        state[n] = 2
        return None

    for n in calls:  # in the file's order
        if n not in state:
            cyc = cycle_from(n, [n])
            if cyc:
                start = cyc.index(cyc[-1])
                cyc = cyc[start:]
                line = _line_of(text, r"^[ \t]*(?:FUNCTION|PROCEDURE)[ \t]+" +
                                re.escape(cyc[0]) + r"\b")
                raise TranslationError(f"{path}:{line}: {' -> '.join(cyc)}: recursion: "
                                       "construct not supported")

def _unit(node, to_nmodl) -> str:
    if node is None:
        return ""
    u = to_nmodl(node).strip()
    return u[1:-1].strip() if u.startswith("(") else u


def _number(node, to_nmodl, path: str = "", text: str = "") -> float:
    src = to_nmodl(node).strip()
    try:
        return float(src)
    except ValueError:
        line = _line_of_source(text, src)
        raise TranslationError(f"{path}:{line}: '{_short(src)}' is not a number") from None


def analyse(path: str, program, text: str) -> Mechanism:
    _, ast, symtab, to_nmodl, visitor = _nmodl()
    L = visitor.AstLookupVisitor()
    name = None
    ranges, globals_, nonspec = set(), set(), []
    uses = []
    nb = L.lookup(program, ast.AstNodeType.NEURON_BLOCK)
    if not nb:
        raise TranslationError(f"{path}:1: no NEURON block")
    for st in nb[0].statement_block.statements:
        kind = st.get_node_type_name()
        src = to_nmodl(st)
        if kind == "Suffix":
            name = to_nmodl(st.name)
        elif kind == "Useion":
            sp = to_nmodl(st.name)
            val = KNOWN_SPECIES.get(sp)
            if st.valence is not None:
                val = int(round(_number(st.valence.value, to_nmodl, path, text)))
            if val is None:
                line = _line_of(text, r"USEION\s+" + sp)
                raise TranslationError(f"{path}:{line}: ion '{sp}' needs a VALENCE")
            u = IonUse(sp, val)
            u._reads = [to_nmodl(r) for r in st.readlist]
            u._writes = [to_nmodl(w) for w in st.writelist]
            uses.append(u)
        elif kind == "Nonspecific":
            nonspec += [to_nmodl(v) for v in st.currents] if hasattr(st, "currents") else \
                re.findall(r"\w+", src.replace("NONSPECIFIC_CURRENT", ""))
        elif kind == "Range":
            ranges |= {to_nmodl(v) for v in st.variables}
        elif kind == "Global":
            globals_ |= {to_nmodl(v) for v in st.variables}
    if not name:
        line = _line_of(text, r"^[ \t]*NEURON\b")
        raise TranslationError(f"{path}:{line}: NEURON block without SUFFIX")
    mech = Mechanism(name=name, path=path)
    mech.nonspecific = nonspec

    # UNITS constants and CONSTANT blocks.
    for fd in L.lookup(program, ast.AstNodeType.FACTOR_DEF):
        fname = to_nmodl(fd.name)
        if fd.value is not None:
            mech.constants[fname] = _number(fd.value, to_nmodl, path, text)
            continue
        key = (_unit(fd.unit1, to_nmodl).lower(), _unit(fd.unit2, to_nmodl).lower())
        if key not in UNIT_FACTORS:
            line = _line_of(text, r"\b" + fname + r"\s*=")
            raise TranslationError(f"{path}:{line}: unit constant {fname} = ({key[0]}) "
                                   f"({key[1]}) not supported")
        mech.constants[fname] = UNIT_FACTORS[key]
    for cs in L.lookup(program, ast.AstNodeType.CONSTANT_VAR):
        mech.constants[to_nmodl(cs.name)] = _number(cs.value, to_nmodl, path, text)

    states = [to_nmodl(d.name) for b in L.lookup(program, ast.AstNodeType.STATE_BLOCK)
              for d in b.definitions]
    assigned = [to_nmodl(d.name) for b in L.lookup(program, ast.AstNodeType.ASSIGNED_BLOCK)
                for d in b.definitions]
    ion_names = set()
    for u in uses:
        ion_names |= set(u.names().values())
    special = {"v", "celsius", "dt", "t", "area", "diam"}
    for pa in L.lookup(program, ast.AstNodeType.PARAM_ASSIGN):
        pname = to_nmodl(pa.name)
        if pname in special or pname in ion_names:
            continue
        default = _number(pa.value, to_nmodl, path, text) if pa.value is not None else 0.0
        entry = (pname, default, _unit(pa.unit, to_nmodl))
        if pname in ranges and pname not in globals_:
            mech.params.append(entry)
        else:
            mech.globals.append(entry)
    mech.states = states

    for u in uses:
        n = u.names()
        for r in u._reads:
            slot = [k for k, v in n.items() if v == r]
            if not slot:
                line = _line_of(text, r"USEION\s+" + re.escape(u.species) + r"\b[^\n]*\b" +
                                re.escape(r) + r"\b")
                raise TranslationError(f"{path}:{line}: cannot READ {r}")
            if slot[0] in ("ci", "co") and r in states:
                continue  # the mechanism's own concentration state
            u.reads.add(slot[0])
        for w in u._writes:
            slot = [k for k, v in n.items() if v == w]
            if not slot:
                line = _line_of(text, r"USEION\s+" + re.escape(u.species) + r"\b[^\n]*\b" +
                                re.escape(w) + r"\b")
                raise TranslationError(f"{path}:{line}: cannot WRITE {w}")
            if slot[0] == "i":
                u.write_i = True
            elif slot[0] in ("ci", "co"):
                if w not in states:
                    line = _line_of(text, r"USEION[^\n]*WRITE[^\n]*\b" + re.escape(w))
                    raise TranslationError(
                        f"{path}:{line}: WRITE {w}: a written "
                        "concentration must be a STATE of the mechanism")
                idx = states.index(w)
                if slot[0] == "ci":
                    u.write_ci_state = idx
                else:
                    u.write_co_state = idx
                mech.writes_conc = True
            else:
                line = _line_of(text, r"USEION[^\n]*WRITE[^\n]*\b" + re.escape(w) + r"\b")
                raise TranslationError(f"{path}:{line}: WRITE {w}: writing "
                                       "a reversal potential: construct not supported")
    mech.ions = uses
    reserved_ion_names = ion_names | {"v", "celsius", "dt"}
    mech.assigned = [a for a in assigned if a not in reserved_ion_names and a not in states]
    if any(a == "t" for a in assigned):
        pass

    # Inline PROCEDUREs and FUNCTIONs into the blocks.
    try:
        symtab.SymtabVisitor().visit_program(program)
    except (RuntimeError, IndexError, ValueError) as e:
        raise TranslationError(_front_end_error(path, text, e)) from None
    _refuse_recursion(path, program, text)
    try:
        visitor.InlineVisitor().visit_program(program)
    except (RuntimeError, IndexError, ValueError) as e:
        raise TranslationError(_front_end_error(path, text, e)) from None

    ib = L.lookup(program, ast.AstNodeType.INITIAL_BLOCK)
    mech.initial = ib[0].statement_block if ib else None
    bb = L.lookup(program, ast.AstNodeType.BREAKPOINT_BLOCK)
    if not bb:
        raise TranslationError(f"{path}:1: no BREAKPOINT block")
    solve_name = None
    for st in bb[0].statement_block.statements:
        kind = st.get_node_type_name()
        if kind == "ExpressionStatement" and st.expression.get_node_type_name() == "SolveBlock":
            st = st.expression
            kind = "SolveBlock"
        if kind == "SolveBlock":
            solve_name = to_nmodl(st.block_name)
            mech.method = to_nmodl(st.method) if st.method is not None else "cnexp"
            if mech.method not in ("cnexp", "derivimplicit", "euler"):
                line = _line_of(text, r"METHOD\s+" + mech.method)
                raise TranslationError(f"{path}:{line}: METHOD {mech.method}: construct not "
                                       "supported")
        else:
            mech.breakpoint.append(st)
    if solve_name:
        for db in L.lookup(program, ast.AstNodeType.DERIVATIVE_BLOCK):
            if to_nmodl(db.name) == solve_name:
                mech.derivative = db.statement_block
        if mech.derivative is None:
            line = _line_of(text, r"\bSOLVE\s+" + re.escape(solve_name) + r"\b")
            raise TranslationError(f"{path}:{line}: SOLVE {solve_name}: no "
                                   "DERIVATIVE block of that name (KINETIC is not supported)")
    return mech


# ---------------------------------------------------------------------------- emit

class Emitter:
    """C++ for one mechanism's blocks. `env` maps NMODL names to C++ expressions."""

    def __init__(self, mech: Mechanism):
        _, self.ast, _, self.to_nmodl, _ = _nmodl()
        self.m = mech
        self.counter = 0
        self.base = {"v": "v", "dt": "dt"}
        # GLOBAL parameters follow the RANGE ones in the parameter array: one value per cell
        # (the same at every instance), so that a fit can move them and the adjoint
        # differentiates them like any parameter.
        self.base["celsius"] = "T(c[0])"
        for k, (n, _, _) in enumerate(mech.params + mech.globals):
            self.base[n] = f"p[{k}]"
        for k, n in enumerate(mech.states):
            self.base[n] = f"s[{k}]"
        for k, u in enumerate(mech.ions):
            names = u.names()
            slot = {"e": 0, "ci": 1, "co": 2, "i": 3}
            for key, nm in names.items():
                if key in u.reads:
                    self.base[nm] = f"ion[{4 * k + slot[key]}]"

        # Values derived from celsius and constants alone (hh's q10): computed once
        # per run on the host into the constants array (C++ host expressions, in order).
        self.derived = []
        self.host = False
        self.in_branch = 0
        self.assign_counts = {}
        self.written = set()  # ASSIGNED names set so far in the function being emitted
        self.stmt = None      # the statement being translated (for the line of an error)
        self.start_function(optimise=False)

    # -- what is known of the values of the straight-line code being emitted (IF/ELSE is
    # two computed branches and a select, so every statement runs): the facts let the
    # emitter multiply by reciprocals of constants, integrate cnexp from a rate rather than
    # a time constant, and share and bound the exponentials of affine functions of v.
    def start_function(self, optimise=True):
        self.optimise = optimise
        self.known = {}      # C++ name -> its constant value
        self.affine = {}     # C++ name -> (version of v, a, b): the value is a v + b
        self.recip = {}      # C++ name -> C++ name of the variable holding its reciprocal
        self.v_version = 0   # bumped where the block assigns v (NEURON's v == c guards)
        self.exp_uses = []   # (version, a, b) of each exp(a v + b) left as a placeholder
        self.prologue = []   # declarations at the top of the function

    def forget(self, cxx, out=None, pad=""):
        """A C++ variable is assigned: what was known of it no longer holds."""
        for facts in (self.known, self.affine, self.recip):
            facts.pop(cxx, None)
        for k in [k for k, r in self.recip.items() if r == cxx]:
            del self.recip[k]
        if cxx == "v" and out is not None:
            self.v_version += 1
            out.append(f"{pad}@@VDEF{self.v_version}@@")

    def learn(self, cxx, rhs_text, env, out, pad):
        """Assignment `cxx = rhs`: forget the old facts, then record the new ones (from the
        facts that held before the assignment)."""
        try:
            node = _py_tree(rhs_text).body
        except (SyntaxError, RecursionError, MemoryError):
            node = None
        c = self._const(node, env) if node is not None else None
        aff = self._affine(node, env) if node is not None else None
        self.forget(cxx, out, pad)
        if cxx == "v":
            return
        if c is not None:
            self.known[cxx] = c
        elif aff is not None:
            self.affine[cxx] = aff

    def copy_facts(self, src, dst):
        for facts in (self.known, self.affine, self.recip):
            if src in facts:
                facts[dst] = facts[src]

    def finish_function(self, lines):
        """The function's lines with the exponentials of affine functions of v resolved. Per
        version of v, exp(a v + b) of one slope a is evaluated once (as exp(a (v - v0)), times
        the constant exp(b - a v0) for each use), and a slope 2-8 times a smaller one is that
        one's power; each is computed where its version of v is set (for the argument v: at
        the top of the function)."""
        entries = {}  # version -> [slope, b0, name, (entry it is a power of, k) or None]
        for ver in sorted({u[0] for u in self.exp_uses}):
            mine = []
            for a in sorted({u[1] for u in self.exp_uses if u[0] == ver}, key=abs):
                b0 = next(u[2] for u in self.exp_uses if u[0] == ver and u[1] == a)
                power = None
                for e in sorted(mine, key=lambda e: -abs(e[0])):
                    k = a / e[0]
                    kr = round(k)
                    if 2 <= kr <= 8 and abs(k - kr) <= 1e-12 * kr:
                        power = (e, kr)
                        b0 = kr * e[1]
                        break
                mine.append([a, b0, f"ev{ver}_{len(mine)}_", power])
            entries[ver] = mine

        def pw(x, k):
            if k == 1:
                return x
            half = pw(x, k // 2)
            sq = f"({half} * {half})"
            return sq if k % 2 == 0 else f"({sq} * {x})"

        def definition(e):
            a, b0, name, power = e
            if power is None:  # a (v - v0) is exact where the argument is 0
                return f"{name} = kmath::exp_bounded(T({a!r}) * (v + T({b0 / a!r})));"
            return f"{name} = {pw(power[0][2], power[1])};"

        use = []
        for (ver, a, b) in self.exp_uses:
            e = next(e for e in entries[ver] if e[0] == a)
            if abs(b - e[1]) > EXP_SAFE_ARG / 2:  # a factor beyond e^40: its own exp
                use.append(f"kmath::exp_bounded(T({a!r}) * (v + T({b / a!r})))")
                continue
            factor = math.exp(b - e[1])
            use.append(f"({e[2]})" if factor == 1.0 else f"({e[2]} * T({factor!r}))")

        head = list(self.prologue)
        for ver, es in entries.items():
            head.extend(f"    T {e[2]} = T(0);" for e in es)
        head.extend(f"    {definition(e)}" for e in entries.get(0, []))
        out = []
        for ln in head + lines:
            m = re.fullmatch(r"(\s*)@@VDEF(\d+)@@", ln)
            if m:
                out.extend(f"{m.group(1)}{definition(e)}" for e in entries.get(int(m.group(2)), []))
                continue
            out.append(re.sub(r"@@EXP(\d+)@@", lambda mm: use[int(mm.group(1))], ln))
        return out

    def _affine(self, node, env):
        """(version of v, a, b) if the node's value is a v + b with constant a and b (version
        None: a constant), else None."""
        if not self.optimise or node is None:
            return None
        c = self._const(node, env)
        if c is not None:
            return (None, 0.0, c)
        if isinstance(node, pyast.Name):
            cx = env.get(node.id) or self.base.get(node.id)
            if cx == "v":
                return (self.v_version, 1.0, 0.0)
            return self.affine.get(cx)
        if isinstance(node, pyast.UnaryOp) and isinstance(node.op, (pyast.USub, pyast.UAdd)):
            x = self._affine(node.operand, env)
            if x is None or isinstance(node.op, pyast.UAdd):
                return x
            return (x[0], -x[1], -x[2])
        if isinstance(node, pyast.BinOp):
            x, y = self._affine(node.left, env), self._affine(node.right, env)
            if x is None or y is None:
                return None
            if isinstance(node.op, (pyast.Add, pyast.Sub)):
                if x[0] is not None and y[0] is not None and x[0] != y[0]:
                    return None
                sign = 1.0 if isinstance(node.op, pyast.Add) else -1.0
                return (x[0] if x[0] is not None else y[0], x[1] + sign * y[1],
                        x[2] + sign * y[2])
            if isinstance(node.op, pyast.Mult):
                if x[0] is None:
                    x, y = y, x
                if y[0] is None:
                    return (x[0], x[1] * y[2], x[2] * y[2])
                return None
            if isinstance(node.op, pyast.Div) and y[0] is None and y[2] != 0:
                return (x[0], x[1] / y[2], x[2] / y[2])
        return None

    def reciprocal(self, rhs_text, env):
        """NMODL text of 1/rhs when rhs is a quotient whose reciprocal has no division
        (`tau = 1/(a + b)/q`: the rate q (a + b)), else None."""
        if not self.optimise:
            return None
        try:
            # only a written quotient: sympy would also call c exp(-x) the quotient c/exp(x)
            root = _py_tree(rhs_text).body
            if not (isinstance(root, pyast.BinOp) and isinstance(root.op, pyast.Div)):
                return None
            import sympy as sp
            e = _to_sympy(rhs_text)
            if not isinstance(e, sp.Expr) or e.is_number:
                return None
            num, den = sp.fraction(e)
            if den == 1 or not num.is_number:
                return None
            inv = 1 / e
            for t in sp.preorder_traversal(inv):
                if isinstance(t, sp.Pow) and t.exp.is_number and t.exp < 0:
                    return None
            if inv.has(sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I):
                return None
            return _from_sympy(inv)
        except Exception:  # noqa: BLE001 - anything sympy cannot say: the plain division
            return None

    def count_assignments(self, block):
        """How often each name is assigned in a function body (hoisting needs exactly once)."""
        counts = {}

        def walk(b):
            for st in b.statements:
                kind = st.get_node_type_name()
                if kind == "ExpressionStatement" and \
                        st.expression.get_node_type_name() == "StatementBlock":
                    walk(st.expression)
                elif kind == "StatementBlock":
                    walk(st)
                elif kind == "ExpressionStatement":
                    e = st.expression
                    if e.get_node_type_name() == "BinaryExpression" and e.op.eval() == "=":
                        n = self.to_nmodl(e.lhs)
                        counts[n] = counts.get(n, 0) + 1
                elif kind == "IfStatement":
                    walk(st.statement_block)
                    for ei in st.elseifs:
                        walk(ei.statement_block)
                    if st.elses is not None:
                        walk(st.elses.statement_block)
        walk(block)
        return counts

    def hoistable(self, rhs_text, env) -> bool:
        """Whether an expression depends on celsius and constants only (and on celsius or a
        value derived from it: plain constants are folded anyway)."""
        try:
            tree = _py_tree(rhs_text)
        except (SyntaxError, RecursionError, MemoryError):
            return False
        runtime = False
        for node in pyast.walk(tree):
            if isinstance(node, pyast.Call):
                if not isinstance(node.func, pyast.Name) or node.func.id not in FUNCTIONS:
                    return False
            elif isinstance(node, pyast.Name):
                n = node.id
                if n in FUNCTIONS:
                    continue
                if n in self.m.constants and n not in env:
                    continue
                cur = env.get(n) or self.base.get(n)
                if cur is None or not re.fullmatch(r"T\(c\[\d+\]\)", cur):
                    return False
                runtime = True
            elif isinstance(node, (pyast.Compare, pyast.BoolOp)):
                return False
        return runtime

    def line(self, default: int = 1) -> int:
        """Line of the statement being translated (its first appearance), else `default`."""
        if self.stmt is None:
            return default
        return _line_of_source(getattr(self, "text", ""), self.to_nmodl(self.stmt), default)

    def name_line(self, n: str) -> int:
        """Line where name n is used: the statement being translated if it shows n, else
        the first assignment that reads n, else its first appearance."""
        text = getattr(self, "text", "")
        word = r"\b" + re.escape(n) + r"\b"
        line = self.line() if self.stmt is not None else 0
        lines = _strip_comments(text).split("\n")
        if line and re.search(word, lines[line - 1]):
            return line
        return _line_of(text, r"=[^\n]*" + word, default=0) or _line_of(text, word)

    def local_name(self, n: str) -> str:
        """The C++ name of an NMODL variable: its own unless that is reserved, made by the
        generated code, or ends in _ (x_ becomes x__, so that v_ and v never meet)."""
        if n in CXX_RESERVED or n.endswith("_") or _GENERATED_NAME.search(n):
            return n + "_"
        return n

    # -- expressions
    def expr(self, node_or_text, env) -> str:
        text = node_or_text if isinstance(node_or_text, str) else self.to_nmodl(node_or_text)
        try:
            return self._e(_py_tree(text).body, env)
        except (SyntaxError, RecursionError, MemoryError):
            raise TranslationError(f"{self.m.path}:{self.line()}: cannot translate expression "
                                   f"'{_short(text)}'") from None

    def _const(self, node, env):
        """The value of a node without variables (folded at translation time), or None."""
        if isinstance(node, pyast.Constant):
            if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
                try:
                    x = float(node.value)
                except OverflowError:
                    return None
                return x if math.isfinite(x) else None
            return None
        if isinstance(node, pyast.Name) and node.id in self.m.constants and node.id not in env:
            return self.m.constants[node.id]
        if isinstance(node, pyast.Name) and not self.host:
            cx = env.get(node.id) or self.base.get(node.id)
            if cx in self.known:
                return self.known[cx]
        if isinstance(node, pyast.UnaryOp) and isinstance(node.op, pyast.USub):
            x = self._const(node.operand, env)
            return None if x is None else -x
        if isinstance(node, pyast.BinOp):
            a, b = self._const(node.left, env), self._const(node.right, env)
            if a is None or b is None:
                return None
            x = None
            try:
                if isinstance(node.op, pyast.Add): x = a + b
                if isinstance(node.op, pyast.Sub): x = a - b
                if isinstance(node.op, pyast.Mult): x = a * b
                if isinstance(node.op, pyast.Div): x = a / b
                if isinstance(node.op, pyast.Pow): x = math.pow(a, b)
            except (ZeroDivisionError, ValueError, OverflowError):
                return None
            # inf or nan stay expressions: a literal would not compile
            return x if x is not None and math.isfinite(x) else None
        if isinstance(node, pyast.Call) and isinstance(node.func, pyast.Name):
            args = [self._const(a, env) for a in node.args]
            if any(a is None for a in args):
                return None
            f = {"exp": math.exp, "log": math.log, "fabs": math.fabs, "sqrt": math.sqrt,
                 "pow": math.pow}.get(node.func.id)
            if f is None or len(args) != ARITY[node.func.id] or node.keywords:
                return None
            try:
                x = f(*args)
            except (ValueError, OverflowError, ZeroDivisionError):
                return None
            return x if math.isfinite(x) else None
        return None

    def _e(self, node, env) -> str:
        c = self._const(node, env)
        if c is not None and not isinstance(node, pyast.Name) or (
                isinstance(node, pyast.Name) and node.id in self.m.constants and node.id not in env):
            return repr(c) if self.host else f"T({c!r})"
        if isinstance(node, pyast.Name):
            n = node.id
            found = env.get(n) or self.base.get(n)
            if found is None:
                # NEURON's inliner renames what it inlines (rates -> rates_in_1)
                shown = n
                if not re.search(r"\b" + re.escape(n) + r"\b", getattr(self, "text", "")):
                    shown = re.sub(r"_in_\d+$", "", n)
                raise TranslationError(f"{self.m.path}:{self.name_line(shown)}: unknown name "
                                       f"'{shown}'")
            if self.host:  # constants are out[k] in the host function that computes them
                return re.sub(r"T\(c\[(\d+)\]\)", r"out[\1]", found)
            if n in self.m.assigned and found == self.local_name(n) and n not in self.written:
                raise TranslationError(
                    f"{self.m.path}:{self.name_line(n)}: ASSIGNED {n} is read before this "
                    "block sets it "
                    "(cellfit keeps no ASSIGNED values from one block to the next): "
                    "construct not supported")
            return found
        if isinstance(node, pyast.BinOp):
            a = self._e(node.left, env)
            if isinstance(node.op, pyast.Pow):
                ex = self._const(node.right, env)
                if ex is not None and float(ex).is_integer() and 1 <= ex <= 8:
                    return "(" + " * ".join([a] * int(ex)) + ")"
                if self.host:
                    return f"std::pow({a}, {self._e(node.right, env)})"
                return f"kmath::pow({a}, {self._e(node.right, env)})"
            if isinstance(node.op, pyast.Div) and self.optimise:
                cb = self._const(node.right, env)
                if cb is not None and cb != 0 and math.isfinite(1.0 / cb):
                    r = 1.0 / cb
                    return f"({a} * {repr(r) if self.host else f'T({r!r})'})"
            b = self._e(node.right, env)
            op = {pyast.Add: "+", pyast.Sub: "-", pyast.Mult: "*", pyast.Div: "/"}.get(type(node.op))
            if op is None:
                raise TranslationError(f"{self.m.path}:{self.line()}: operator not supported")
            return f"({a} {op} {b})"
        if isinstance(node, pyast.UnaryOp):
            if isinstance(node.op, pyast.USub):
                return f"(-{self._e(node.operand, env)})"
            if isinstance(node.op, pyast.UAdd):
                return self._e(node.operand, env)
            if isinstance(node.op, pyast.Not):
                return f"(!{self._e(node.operand, env)})"
        if isinstance(node, pyast.Compare):
            ops = {pyast.Eq: "==", pyast.NotEq: "!=", pyast.Lt: "<", pyast.Gt: ">",
                   pyast.LtE: "<=", pyast.GtE: ">="}
            parts = []
            left = node.left
            for op, right in zip(node.ops, node.comparators):
                parts.append(f"({self._e(left, env)} {ops[type(op)]} {self._e(right, env)})")
                left = right
            return "(" + " && ".join(parts) + ")"
        if isinstance(node, pyast.BoolOp):
            op = " && " if isinstance(node.op, pyast.And) else " || "
            return "(" + op.join(self._e(v, env) for v in node.values) + ")"
        if isinstance(node, pyast.Call) and isinstance(node.func, pyast.Name):
            f = node.func.id
            if f not in FUNCTIONS:
                line = _line_of(getattr(self, "m_text", ""), r"\b" + f + r"\s*\(")
                raise TranslationError(f"{self.m.path}:{line}: function {f}() not supported")
            if len(node.args) != ARITY[f] or node.keywords:
                line = _line_of(getattr(self, "m_text", ""), r"\b" + f + r"\s*\(")
                raise TranslationError(f"{self.m.path}:{line}: {f}() takes {ARITY[f]} "
                                       f"argument{'s' if ARITY[f] > 1 else ''}, not "
                                       f"{len(node.args)}")
            if f == "exp" and self.optimise and not self.host:
                aff = self._affine(node.args[0], env)
                if aff is not None and aff[0] is not None and aff[1] != 0 and \
                        abs(aff[1]) * V_BOUND_MV + abs(aff[2]) <= EXP_SAFE_ARG:
                    self.exp_uses.append(aff)
                    return f"@@EXP{len(self.exp_uses) - 1}@@"
            args = [self._e(a, env) for a in node.args]
            if f == "pow":
                return self._e(pyast.BinOp(node.args[0], pyast.Pow(), node.args[1]), env)
            if self.host:
                return f"std::{'fabs' if f == 'fabs' else f}({', '.join(args)})"
            return f"{FUNCTIONS[f]}({', '.join(args)})"
        raise TranslationError(f"{self.m.path}:{self.line()}: expression not supported: "
                               f"{pyast.dump(node)}")

    # -- statements
    def assigned_in(self, block) -> list:
        """Names assigned anywhere inside a statement block (for IF/ELSE selects)."""
        out = []
        for st in block.statements:
            kind = st.get_node_type_name()
            if kind == "ExpressionStatement" and \
                    st.expression.get_node_type_name() == "StatementBlock":
                st, kind = st.expression, "StatementBlock"
            if kind == "ExpressionStatement":
                e = st.expression
                if e.get_node_type_name() == "BinaryExpression" and e.op.eval() == "=":
                    n = self.to_nmodl(e.lhs)
                    if n not in out:
                        out.append(n)
            elif kind == "IfStatement":
                for n in self.if_assigned(st):
                    if n not in out:
                        out.append(n)
            elif kind == "StatementBlock":
                for n in self.assigned_in(st):
                    if n not in out:
                        out.append(n)
        return out

    def if_assigned(self, st):
        names = self.assigned_in(st.statement_block)
        for ei in st.elseifs:
            names += [n for n in self.assigned_in(ei.statement_block) if n not in names]
        if st.elses is not None:
            names += [n for n in self.assigned_in(st.elses.statement_block) if n not in names]
        return names

    def block(self, block, env, out, indent, diff_handler=None, locals_declared=None):
        pad = "  " * indent
        env = dict(env)
        for st in block.statements:
            kind = st.get_node_type_name()
            if kind == "ExpressionStatement" and \
                    st.expression.get_node_type_name() == "StatementBlock":
                st, kind = st.expression, "StatementBlock"  # an inlined PROCEDURE body
            if kind != "StatementBlock":
                self.stmt = st
            if kind == "LocalListStatement":
                for var in st.variables:
                    n = self.to_nmodl(var)
                    cn = self.local_name(n) + f"_{self.counter}"
                    self.counter += 1
                    env[n] = cn
                    out.append(f"{pad}T {cn} = T(0);")
                    out.append(f"{pad}(void){cn};")
            elif kind == "ExpressionStatement":
                e = st.expression
                ek = e.get_node_type_name()
                if ek == "DiffEqExpression":
                    if diff_handler is None:
                        raise TranslationError(f"{self.m.path}:{self.line()}: a differential "
                                               "equation outside a DERIVATIVE block")
                    diff_handler(e.expression, env, out, pad)
                elif ek == "BinaryExpression" and e.op.eval() == "=":
                    n = self.to_nmodl(e.lhs)
                    target = env.get(n) or self.base.get(n)
                    if target is None:
                        raise TranslationError(f"{self.m.path}:{self.line()}: assignment to "
                                               f"unknown '{n}'")
                    if target.startswith("T(c[") or target.startswith("p[") or target.startswith("ion["):
                        line = self.line(default=0) or \
                            _line_of(self.text, r"^[ \t]*" + re.escape(n) + r"\s*=", last=True)
                        raise TranslationError(f"{self.m.path}:{line}: assignment to parameter "
                                               f"or ion value '{n}': construct not supported")
                    rhs_text = self.to_nmodl(e.rhs)
                    if (not self.in_branch and self.assign_counts.get(n, 0) == 1 and
                            not target.startswith("s[") and self.hoistable(rhs_text, env)):
                        self.host = True
                        try:
                            host = self.expr(rhs_text, env)
                        finally:
                            self.host = False
                        if host not in self.derived:
                            self.derived.append(host)
                        slot = 1 + self.derived.index(host)
                        env[n] = f"T(c[{slot}])"
                        out.append(f"{pad}// {n} = {rhs_text}: constants[{slot}], once per run")
                        continue
                    inv = self.reciprocal(rhs_text, env) if not target.startswith("s[") else None
                    if inv is not None:
                        rate = f"rate{self.counter}_"
                        self.counter += 1
                        self.prologue.append(f"    T {rate} = T(0);")
                        out.append(f"{pad}{rate} = {self.expr(inv, env)};  // 1/{n}")
                        out.append(f"{pad}{target} = T(1) / {rate};")
                    else:
                        out.append(f"{pad}{target} = {self.expr(rhs_text, env)};")
                    self.learn(target, rhs_text, env, out, pad)
                    if inv is not None:
                        self.recip[target] = rate
                    self.written.add(n)
                elif ek == "FunctionCall":
                    raise TranslationError(f"{self.m.path}:{self.line()}: call of "
                                           f"{_short(self.to_nmodl(e))} not inlined: construct "
                                           "not supported")
                else:
                    raise TranslationError(f"{self.m.path}:{self.line()}: statement not supported: "
                                           f"{_short(self.to_nmodl(st))}")
            elif kind == "IfStatement":
                self.if_statement(st, env, out, indent, diff_handler)
            elif kind == "StatementBlock":
                out.append(f"{pad}{{")
                self.block(st, env, out, indent + 1, diff_handler)
                out.append(f"{pad}}}")
            elif kind in ("TableStatement", "UnitState", "LineComment", "BlockComment",
                          "ProtectStatement", "MutexLock", "MutexUnlock", "Verbatim"):
                if kind == "Verbatim":
                    raise TranslationError(f"{self.m.path}:{self.line()}: VERBATIM: construct "
                                           "not supported")
                continue  # TABLE: exact evaluation (NEURON with usetable = 0)
            elif kind == "SolveBlock":
                raise TranslationError(f"{self.m.path}:{self.line()}: SOLVE outside BREAKPOINT")
            else:
                raise TranslationError(f"{self.m.path}:{self.line()}: {kind}: construct not "
                                       "supported")

    def if_statement(self, st, env, out, indent, diff_handler):
        """IF/ELSE IF/ELSE as both branches computed and the results selected."""
        pad = "  " * indent
        names = self.if_assigned(st)
        k = self.counter
        self.counter += 1
        cond = self.expr(st.condition, env)
        out.append(f"{pad}{{  // IF {self.to_nmodl(st.condition)}")
        out.append(f"{pad}  const bool cond{k} = {cond};")
        branches = [(st.statement_block, "then")]
        rest = list(st.elseifs)
        if rest:
            # ELSE IF chains: the else branch is a nested IF.
            class _Nested:
                pass
            nested = _Nested()
            first = rest[0]
            nested.condition = first.condition
            nested.statement_block = first.statement_block
            nested.elseifs = rest[1:]
            nested.elses = st.elses
            branches.append((nested, "else_if"))
        elif st.elses is not None:
            branches.append((st.elses.statement_block, "else"))
        else:
            branches.append((None, "else"))
        results = []
        for b, tag in branches:
            benv = dict(env)
            copies = []
            for n in names:
                cur = env.get(n) or self.base.get(n)
                if cur is None:
                    continue
                cn = f"{self.local_name(n)}_{tag}{k}"
                copies.append((n, cn))
                out.append(f"{pad}  T {cn} = {cur};")
                self.copy_facts(cur, cn)
                benv[n] = cn
            self.in_branch += 1
            if tag == "else_if":
                out.append(f"{pad}  {{")
                self.if_statement(b, benv, out, indent + 2, diff_handler)
                out.append(f"{pad}  }}")
            elif b is not None:
                out.append(f"{pad}  {{")
                self.block(b, benv, out, indent + 2, diff_handler)
                out.append(f"{pad}  }}")
            self.in_branch -= 1
            results.append(dict(copies))
        for n in names:
            cur = env.get(n) or self.base.get(n)
            if cur is None:
                continue
            t, e = results[0].get(n, cur), results[1].get(n, cur)
            out.append(f"{pad}  {cur} = kmath::select(cond{k}, {t}, {e});")
            self.forget(cur, out, pad + "  ")
        out.append(f"{pad}}}")


_SYMPY_FUNCS = ("exp", "log", "fabs", "sqrt", "pow")


def _to_sympy(text: str, known=None):
    """An NMODL expression as sympy, every name a symbol prefixed s__ (so that names such
    as gamma, E or S are not sympy's), `known` substituting earlier assignments."""
    import sympy as sp
    t = text.replace("^", "**")
    t = re.sub(r"\b([A-Za-z_]\w*)\b(?!\s*\()", r"s__\1", t)
    names = set(re.findall(r"\bs__\w+", t))
    loc = {n: (known or {}).get(n[3:], sp.Symbol(n)) for n in names}
    funcs = {"exp": sp.exp, "log": sp.log, "fabs": sp.Abs, "sqrt": sp.sqrt, "pow": sp.Pow}
    for f in re.findall(r"\b([A-Za-z_]\w*)\s*\(", t):
        if f not in funcs:
            raise ValueError(f"function {f}")
    return sp.sympify(t, locals={**loc, **funcs})


def _from_sympy(expr) -> str:
    """Back to NMODL syntax (fabs, not Abs; e and pi as numbers; names unprefixed)."""
    from sympy.printing.str import StrPrinter

    class _Printer(StrPrinter):
        def _print_Exp1(self, e):
            return repr(math.e)

        def _print_Pi(self, e):
            return repr(math.pi)

        def _print_Abs(self, e):
            return f"fabs({self._print(e.args[0])})"

        def _print_Symbol(self, e):
            return e.name[3:] if e.name.startswith("s__") else e.name
    return _Printer().doprint(expr)


def _cnexp_rate(a_text: str, b_text: str):
    """For x' = a x + b: (rate -a, steady state -b/a) as NMODL text, sympy simplifying the
    quotient ((inf/tau)/(1/tau) is inf), or (None, None) if sympy cannot say."""
    try:
        import sympy as sp
        a, b = _to_sympy(a_text), _to_sympy(b_text)
        rate, inf = -a, -b / a
        for t in (rate, inf):
            if t.has(sp.zoo, sp.oo, -sp.oo, sp.nan, sp.I):
                return None, None
        return _from_sympy(rate), _from_sympy(inf)
    except Exception:  # noqa: BLE001 - nocmodl's own form instead
        return None, None


def _sympy_linear(expr_text: str, var: str):
    """(a, b) with expr = a var + b, as NMODL-syntax strings, or None if not linear."""
    import sympy as sp
    e = _to_sympy(expr_text)
    if not isinstance(e, sp.Expr):  # a comparison (x' = a == b) is a sympy boolean
        raise ValueError("a comparison")
    x = sp.Symbol("s__" + var)
    a = sp.diff(e, x)
    if sp.simplify(sp.diff(a, x)) != 0:
        return None
    b = e.subs(x, 0)
    # what sympy makes of 1/0, sqrt(-1) or d|x|/dx has no NMODL (nor C++) spelling here
    for t in (e, a, b):
        if t.has(sp.zoo, sp.oo, -sp.oo, sp.nan):
            raise ValueError("a division by zero")
        if t.has(sp.I):
            raise ValueError("an imaginary number (a root or log of a negative one)")
        other = {type(f).__name__ for f in t.atoms(sp.Function)} - {"exp", "log", "Abs"}
        if other or t.has(sp.Derivative):
            raise ValueError(f"sympy's {', '.join(sorted(other)) or 'Derivative'}")
    return _from_sympy(a), _from_sympy(b)


def emit(mech: Mechanism, text: str) -> str:
    em = Emitter(mech)
    em.text = text
    em.m_text = text
    m = mech
    n_params, n_globals, n_states = len(m.params), len(m.globals), len(m.states)

    def declare_assigned(out, skip=()):
        env = {}
        for a in m.assigned:
            if a in skip:
                continue
            cn = em.local_name(a)
            env[a] = cn
            # Values a block computes but does not use (a time constant in INITIAL) are
            # dead code the compiler removes; (void) keeps -Wunused-but-set quiet.
            out.append(f"    T {cn} = T(0);")
            out.append(f"    (void){cn};")
        return env

    # INITIAL
    init = []
    env = declare_assigned(init)
    if m.initial is not None:
        em.assign_counts = em.count_assignments(m.initial)
        em.written = set()
        em.start_function()
        em.block(m.initial, env, init, 2)
        init = em.finish_function(init)

    # DERIVATIVE with the integration method.
    adv = []
    env = declare_assigned(adv)

    with_equation = set(re.findall(r"(\w+)'\s*=", em.to_nmodl(m.derivative))) \
        if m.derivative is not None else set()
    pending = []  # euler: every derivative from the old states, then every update

    def diff(node, env, out, pad):
        # node: `x' = f`
        lhs = em.to_nmodl(node.lhs)
        x = lhs.rstrip("'")
        f_text = em.to_nmodl(node.rhs)
        line = _line_of(text, r"^[ \t]*" + re.escape(x) + r"'\s*=")
        if x not in m.states:
            raise TranslationError(f"{m.path}:{line}: {lhs}: not a STATE")
        xs = em.base[x]
        if m.method == "euler":
            # NEURON's euler: x(n+1) = x(n) + dt f(x(n)) for all equations at once.
            k = m.states.index(x)
            out.append(f"{pad}d_state{k} = {em.expr(f_text, env)};")
            pending.append(f"    {xs} = {xs} + dt * d_state{k};")
            return
        others = (set(re.findall(r"[A-Za-z_]\w*", f_text)) & with_equation) - {x}
        if m.method == "derivimplicit" and others:
            raise TranslationError(f"{m.path}:{line}: {lhs} = {_short(f_text)}: coupled to "
                                   f"{', '.join(sorted(others))} under derivimplicit (NEURON "
                                   "solves the system together): construct not supported")
        try:
            lin = _sympy_linear(f_text, x)
        except ValueError as e:
            raise TranslationError(f"{m.path}:{line}: {lhs} = {_short(f_text)}: {e} not "
                                   "supported") from None
        except (TypeError, ArithmeticError, RecursionError) as e:  # sympy on odd input
            raise TranslationError(f"{m.path}:{line}: {lhs} = {_short(f_text)}: cannot "
                                   f"analyse ({type(e).__name__})") from None
        if lin is None:
            raise TranslationError(f"{m.path}:{line}: {lhs} = "
                                   f"{_short(f_text)}: not linear in {x} ({m.method} needs a "
                                   "linear equation): construct not supported")
        a, b = lin
        if a == "0":
            # No x on the right: nocmodl emits forward Euler.
            out.append(f"{pad}{xs} = {xs} + dt * ({em.expr(b, env)});")
        elif m.method == "cnexp":
            # nocmodl's x = x + (1 - exp(dt a)) (-b/a - x), written with the rate r = -a and
            # the steady state -b/a as sympy simplifies them: x' = (inf - x)/tau gives
            # x + (1 - exp(-dt r)) (inf - x), with r the variable 1/tau was computed into
            # where tau was assigned a quotient (tau = 1/(alpha + beta)).
            rate, inf = _cnexp_rate(a, b)
            if rate is None:
                out.append(f"{pad}{{")
                out.append(f"{pad}  const T a_ = {em.expr(a, env)};")
                out.append(f"{pad}  const T b_ = {em.expr(b, env)};")
                out.append(f"{pad}  {xs} = {xs} + (T(1) - kmath::exp(dt * a_)) * "
                           f"(-b_ / a_ - {xs});")
                out.append(f"{pad}}}")
            else:
                tau = re.fullmatch(r"1/([A-Za-z_]\w*)", rate)
                cx = (env.get(tau.group(1)) or em.base.get(tau.group(1))) if tau else None
                rate_cxx = em.recip.get(cx) if cx else None
                out.append(f"{pad}{{")
                out.append(f"{pad}  const T r_ = {rate_cxx or em.expr(rate, env)};")
                out.append(f"{pad}  const T inf_ = {em.expr(inf, env)};")
                out.append(f"{pad}  {xs} = {xs} + (T(1) - kmath::exp(-dt * r_)) * "
                           f"(inf_ - {xs});")
                out.append(f"{pad}}}")
        else:  # derivimplicit on a linear equation: its exact backward-Euler step
            out.append(f"{pad}{xs} = ({xs} + dt * ({em.expr(b, env)})) / "
                       f"(T(1) - dt * ({em.expr(a, env)}));")

    if m.derivative is not None:
        if m.method == "euler":
            for k in range(len(m.states)):
                adv.append(f"    T d_state{k} = T(0);")
        em.assign_counts = em.count_assignments(m.derivative)
        em.written = set()
        em.start_function()
        em.block(m.derivative, env, adv, 2, diff_handler=diff)
        adv.extend(pending)
        adv = em.finish_function(adv)

    # BREAKPOINT (after SOLVE): currents.
    currents = []
    for k, u in enumerate(m.ions):
        if u.write_i:
            currents.append((u.names()["i"], k))
    for n in m.nonspecific:
        currents.append((n, -1))
    bp = []
    env = declare_assigned(bp, skip=[c for c, _ in currents])
    for c, _ in currents:
        cn = em.local_name(c)
        env[c] = cn
        bp.append(f"    T {cn} = T(0);")

    class _Block:
        def __init__(self, statements):
            self.statements = statements
    em.assign_counts = em.count_assignments(_Block(m.breakpoint))
    em.written = set()
    em.start_function()
    em.block(_Block(m.breakpoint), env, bp, 2)
    bp = em.finish_function(bp)
    em.start_function(optimise=False)
    total = " + ".join(em.local_name(c) for c, _ in currents) or "T(0)"
    for c, k in currents:
        if k >= 0:
            bp.append(f"    i_ion[{k}] = {em.local_name(c)};")
    bp.append(f"    return {total};")

    # Linear in v (straight-line BREAKPOINT, current = g (v - ...)): g analytically.
    analytic = None
    try:
        import sympy as sp
        subs = {}
        ok = True
        for st in m.breakpoint:
            if st.get_node_type_name() != "ExpressionStatement":
                ok = False
                break
            e = st.expression
            if e.get_node_type_name() != "BinaryExpression" or e.op.eval() != "=":
                ok = False
                break
            subs[em.to_nmodl(e.lhs)] = _to_sympy(em.to_nmodl(e.rhs), subs)
        if ok and currents:
            tot = sum(subs.get(c, 0) for c, _ in currents)
            vsym = sp.Symbol("s__v")
            gexpr = sp.diff(tot, vsym)
            if vsym not in gexpr.free_symbols and sp.simplify(sp.diff(gexpr, vsym)) == 0:
                analytic = em.expr(_from_sympy(gexpr), {})
    except Exception:  # noqa: BLE001 - anything unusual: NEURON's finite difference
        analytic = None

    init, bp, adv = _drop_unused(init), _drop_unused(bp), _drop_unused(adv)
    ni = max(1, len(m.ions))
    lines = []
    w = lines.append
    guard = re.sub(r"\W", "_", m.name)
    w("#pragma once")
    w(f"// Generated by cellfit's NMODL translator from {os.path.basename(m.path)}: do not edit.")
    w(f"// Source: {m.path}")
    w("#include <cmath>")
    w("")
    w("#include <Kokkos_Core.hpp>")
    w("")
    w('#include "kernels/dual.hpp"')
    w('#include "kernels/mechanism.hpp"')
    w("")
    w("namespace cellfit::mechanisms {")
    w("")
    w(f"struct {guard} {{")
    w(f'  static constexpr const char* name = "{m.name}";')
    w(f'  static constexpr const char* source = "{m.path}";')

    def arr(typ, nm, vals, quote=True):
        if not vals:
            vals_s = '""' if quote else "0.0"
        else:
            vals_s = ", ".join((f'"{v}"' if quote else repr(float(v))) for v in vals)
        w(f"  static constexpr {typ} {nm}[{max(1, len(vals))}] = {{{vals_s}}};")
    all_params = m.params + m.globals
    w(f"  static constexpr int n_params = {n_params + n_globals};"
      "  // the RANGE parameters, then the GLOBAL ones")
    arr("const char*", "param_names", [p[0] for p in all_params])
    arr("const char*", "param_units", [p[2] for p in all_params])
    arr("double", "param_defaults", [p[1] for p in all_params], quote=False)
    w(f"  static constexpr int n_globals = {n_globals};")
    w(f"  static constexpr int n_constants = {1 + len(em.derived)};"
      "  // celsius, then values derived from it")
    w(f"  static constexpr int n_states = {n_states};")
    arr("const char*", "state_names", m.states)
    w(f"  static constexpr int n_ions = {len(m.ions)};")
    ion_inits = []
    for u in m.ions:
        ion_inits.append("{" + f"CELLFIT_ION_{u.species.upper()}, {str('e' in u.reads).lower()}, "
                         f"{str('ci' in u.reads).lower()}, {str('co' in u.reads).lower()}, "
                         f"{str('i' in u.reads).lower()}, {str(u.write_i).lower()}, "
                         f"{u.write_ci_state}, {u.write_co_state}" + "}")
    if not ion_inits:
        ion_inits = ["{-1, false, false, false, false, false, -1, -1}"]
    w("  KOKKOS_INLINE_FUNCTION static constexpr ion_use ion(int k) {")
    w(f"    constexpr ion_use uses[{ni}] = {{{', '.join(ion_inits)}}};")
    w("    return uses[k];")
    w("  }")
    param_names = {p[0] for p in m.params}

    def reads_params(block_lines):
        return any(re.search(r"\bp\[\d+\]", ln) for ln in block_lines)
    w(f"  static constexpr bool gates_read_params = {str(reads_params(adv)).lower()};")
    w(f"  static constexpr bool init_reads_params = {str(reads_params(init)).lower()};")
    w("")
    w("  static void constants(double celsius, double* out) {")
    w("    out[0] = celsius;")
    for k, host in enumerate(em.derived):
        w(f"    out[{1 + k}] = {host};")
    w("  }")
    w("")
    w("  // INITIAL")
    w("  template <class T, class C>")
    w("  KOKKOS_FORCEINLINE_FUNCTION static void init(T v, const T* p, const C* c, T* s,")
    w("                                               const T* ion) {")
    w("    (void)v; (void)p; (void)c; (void)s; (void)ion;")
    lines.extend(init)
    w("  }")
    w("")
    w("  // BREAKPOINT, after SOLVE: the current density at v; i_ion[k] the part of ion k.")
    w("  template <class T, class C>")
    w("  KOKKOS_FORCEINLINE_FUNCTION static T breakpoint(T v, const T* p, const C* c, const T* s,")
    w("                                                  const T* ion, T* i_ion) {")
    w("    (void)v; (void)p; (void)c; (void)s; (void)ion; (void)i_ion;")
    lines.extend(bp)
    w("  }")
    w("")
    w("  template <class T, class C>")
    w("  KOKKOS_FORCEINLINE_FUNCTION static T current(T v, const T* p, const C* c, const T* s,")
    w("                                               const T* ion, T* i_ion, T& g) {")
    if analytic is not None:
        w("    // The current is linear in v: g is its slope, d(current)/dv.")
        w(f"    g = {analytic};")
        w("    return breakpoint(v, p, c, s, ion, i_ion);")
    else:
        w("    // NEURON's conductance: (I(v + 0.001) - I(v)) / 0.001.")
        w(f"    T i_hi[{ni}];")
        w("    const T hi = breakpoint(v + T(0.001), p, c, s, ion, i_hi);")
        w("    const T lo = breakpoint(v, p, c, s, ion, i_ion);")
        w("    g = (hi - lo) / T(0.001);")
        w("    return lo;")
    w("  }")
    w("")
    w(f"  // DERIVATIVE, integrated over dt by {m.method or 'nothing (no SOLVE)'}.")
    w("  template <class T, class C>")
    w("  KOKKOS_FORCEINLINE_FUNCTION static void advance(T v, T dt, const T* p, const C* c, T* s,")
    w("                                                  const T* ion) {")
    w("    (void)v; (void)dt; (void)p; (void)c; (void)s; (void)ion;")
    lines.extend(adv)
    w("  }")
    w("};")
    w("")
    w("}  // namespace cellfit::mechanisms")
    return "\n".join(lines) + "\n"


def cxx_name(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _drop_unused(lines):
    """Removes `T x = T(0);` declarations of names the other lines never mention."""
    out = []
    for k, ln in enumerate(lines):
        m = re.match(r"\s*(?:T (\w+) = T\(0\)|\(void\)(\w+));$", ln)
        if m:
            name = m.group(1) or m.group(2)
            rest = [r for r in lines if not re.match(
                r"\s*(?:T " + name + r" = T\(0\)|\(void\)" + name + r");$", r)]
            if not any(re.search(r"\b" + name + r"\b", r) for r in rest):
                continue
        out.append(ln)
    return out


def registration_order(mechs):
    """NEURON's mechanism order: concentration writers in reverse registration order, then
    the others in registration order (nrnivmodl registers the files sorted by name)."""
    by_file = sorted(mechs, key=lambda m: os.path.basename(m.path))
    writers = [m for m in by_file if m.writes_conc]
    others = [m for m in by_file if not m.writes_conc]
    return list(reversed(writers)) + others


def emit_catalogue(mechs) -> str:
    species = list(KNOWN_SPECIES)
    valences = dict(KNOWN_SPECIES)
    for m in mechs:
        for u in m.ions:
            if u.species not in species:
                species.append(u.species)
                valences[u.species] = u.valence
    lines = ["#pragma once",
             "// Generated by cellfit's NMODL translator: the mechanisms compiled from .mod files,",
             "// in NEURON's mechanism order. Do not edit."]
    for k, s in enumerate(species):
        lines.append(f"#define CELLFIT_ION_{s.upper()} {k}")
    for m in mechs:
        lines.append('#include "cellfit_generated/' + cxx_name(m.name) + '.hpp"')
    names = "".join(", ::cellfit::mechanisms::" + cxx_name(m.name) for m in mechs)
    lines.append(f"#define CELLFIT_GENERATED_MECHANISMS {names}")
    extra = "".join(f', {{"{s}", {valences[s]}, 1.0, 1.0, 0.0}}' for s in species[3:])
    lines.append(f"#define CELLFIT_GENERATED_ION_SPECIES {extra}")
    return "\n".join(lines) + "\n"


def translate(path: str) -> tuple[Mechanism, str]:
    program, text = parse(path)
    check(path, text)
    mech = analyse(path, program, text)
    return mech, text


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="output folder (cellfit_generated/ goes in it)")
    ap.add_argument("mod", nargs="*", help=".mod files")
    args = ap.parse_args(argv)
    outdir = os.path.join(args.out, "cellfit_generated")
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        print(f"cellfit::nmodl: cannot create {outdir}: {e.strerror or e}", file=sys.stderr)
        return 2
    mechs, texts, seen = [], {}, {}
    try:
        for path in args.mod:
            mech, text = translate(path)
            if mech.name in seen:
                raise TranslationError(f"{path}:{_line_of(text, r'SUFFIX')}: SUFFIX {mech.name} "
                                       f"is already defined by {seen[mech.name]}")
            if mech.name in CXX_KEYWORDS | CXX_SCOPE or mech.name == "catalogue" or \
                    len(mech.name) > 200:
                why = ("names the catalogue's own header" if mech.name == "catalogue" else
                       "is too long for a file name" if len(mech.name) > 200 else
                       "is a C++ keyword or macro" if mech.name in CXX_KEYWORDS else
                       "is a name the generated code uses")
                raise TranslationError(f"{path}:{_line_of(text, r'SUFFIX')}: SUFFIX "
                                       f"{_short(mech.name, 40)} {why}; choose another suffix")
            if mech.name in ("hh", "pas", "jk"):
                raise TranslationError(f"{path}:{_line_of(text, r'SUFFIX')}: SUFFIX {mech.name} "
                                       "is a hand-written mechanism of cellfit; choose another "
                                       "suffix")
            seen[mech.name] = path
            mechs.append(mech)
            texts[mech.name] = text
        ordered = registration_order(mechs)
        files = {}
        for m in ordered:
            files[re.sub(r"\W", "_", m.name) + ".hpp"] = emit(m, texts[m.name])
        files["catalogue.hpp"] = emit_catalogue(ordered)
    except TranslationError as e:
        # one line whatever the message quotes
        print("cellfit::nmodl: " + " ".join(str(e).split()), file=sys.stderr)
        return 2
    # The mechanisms' headers first, catalogue.hpp (the build's stamp) last: a build killed
    # midway leaves the catalogue older than the .mod files and translates again.
    for name, content in files.items():
        path = os.path.join(outdir, name)
        try:
            _write_if_changed(path, content)
        except OSError as e:
            print(f"cellfit::nmodl: cannot write {path}: {e.strerror or e}", file=sys.stderr)
            return 2
    return 0


def _write_if_changed(path: str, content: str):
    """Writes `content` to `path` unless the file holds it already (no needless rebuilds),
    through a temporary file in the same folder renamed over it: whoever reads the header,
    and whatever stops the translator, sees the old file or the new one, never a part."""
    try:
        with open(path, encoding="utf-8") as f:
            if f.read() == content:
                return
    except (OSError, UnicodeDecodeError):
        pass
    folder, base = os.path.split(path)
    tmp = os.path.join(folder, f".{base}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(content)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


if __name__ == "__main__":
    sys.exit(main())
