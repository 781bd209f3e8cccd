"""CEL conditions: parsed by cel-python, evaluated by closures over plain JSON values.

cel-python's parser (lark) checks the syntax; expressions in the common
subset — member access, indexing, comparisons, arithmetic, logic, the
``exists``/``all``/``exists_one``/``map``/``filter`` macros, ``has()``,
``size()``, ``startsWith``/``endsWith``/``contains``/``matches`` and literals —
are compiled here into Python closures (no per-evaluation tree walk or
value conversion). Anything else falls back to cel-python's interpreter, so
the language accepted is cel-python's; a differential test keeps both in
agreement on the subset. One deliberate difference: numbers of different
types compare by value (``2 == 2.0`` is true, ``3 > 0.5`` too), as the CEL specification's
heterogeneous equality says; cel-python raises there.
"""

from __future__ import annotations

import ast as pyast
import re
from collections.abc import Callable
from typing import Any

Fn = Callable[[dict[str, Any]], Any]


class CelError(Exception):
    """An evaluation error (no such key, type mismatch, ...)."""


class Unsupported(Exception):
    """The expression uses something outside the compiled subset."""


MACROS = ("exists", "all", "exists_one", "map", "filter")


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _eq(a: Any, b: Any) -> bool:
    if _num(a) and _num(b):
        return bool(a == b)
    if type(a) is not type(b) and not (a is None or b is None):
        return False
    return bool(a == b)


def _order(a: Any, b: Any) -> tuple[Any, Any]:
    if (
        (_num(a) and _num(b))
        or (isinstance(a, str) and isinstance(b, str))
        or (isinstance(a, bool) and isinstance(b, bool))
    ):
        return a, b
    raise CelError(f"no such overload: ordering {type(a).__name__} and {type(b).__name__}")


_REL: dict[str, Callable[[Any, Any], bool]] = {
    "relation_eq": _eq,
    "relation_ne": lambda a, b: not _eq(a, b),
    "relation_lt": lambda a, b: (lambda x, y: x < y)(*_order(a, b)),
    "relation_le": lambda a, b: (lambda x, y: x <= y)(*_order(a, b)),
    "relation_gt": lambda a, b: (lambda x, y: x > y)(*_order(a, b)),
    "relation_ge": lambda a, b: (lambda x, y: x >= y)(*_order(a, b)),
}


def _in(a: Any, b: Any) -> bool:
    if isinstance(b, list):
        return any(_eq(a, x) for x in b)
    if isinstance(b, dict):
        return a in b
    raise CelError(f"no such overload: in {type(b).__name__}")


def _arith(op: str, a: Any, b: Any) -> Any:
    if op == "+" and isinstance(a, str) and isinstance(b, str):
        return a + b
    if op == "+" and isinstance(a, list) and isinstance(b, list):
        return a + b
    if not (_num(a) and _num(b)) or type(a) is not type(b):
        raise CelError(
            f"no such overload: {type(a).__name__} {op} {type(b).__name__}"
        )  # no mixed int/double arithmetic
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0 and isinstance(b, int):
        raise CelError("division by zero")
    if isinstance(a, int) and isinstance(b, int):
        q = abs(a) // abs(b) * (1 if (a >= 0) == (b >= 0) else -1)  # CEL truncates toward zero
        return q if op == "/" else a - b * q
    if op == "/":
        return a / b
    raise CelError("no such overload: double % double")


def _truth(v: Any) -> bool:
    if not isinstance(v, bool):
        raise CelError(f"expected a bool, found {type(v).__name__}")
    return v


def _logic(op: str, left: Fn, right: Fn) -> Fn:
    decisive = op == "||"  # true decides ||, false decides &&

    def run(env: dict[str, Any]) -> Any:
        try:
            lv = _truth(left(env))
        except CelError as exc:
            rv = _truth(right(env))
            if rv is decisive:
                return rv
            raise exc from None
        if lv is decisive:
            return lv
        return _truth(right(env))

    return run


class Compiler:
    def __init__(self) -> None:
        self.bound: list[str] = []

    def c(self, t: Any) -> Fn:
        name = getattr(t, "data", None)
        if name is None:
            raise Unsupported(str(t))
        method = getattr(self, "_" + str(name), None)
        if method is None:
            raise Unsupported(str(name))
        fn: Fn = method(t)
        return fn

    def _kids(self, t: Any) -> list[Any]:
        return [k for k in t.children if k is not None]

    def _expr(self, t: Any) -> Fn:
        kids = self._kids(t)
        if len(kids) == 1:
            return self.c(kids[0])
        cond, a, b = (self.c(k) for k in kids)
        return lambda env: a(env) if _truth(cond(env)) else b(env)

    def _conditionalor(self, t: Any) -> Fn:
        kids = self._kids(t)
        if len(kids) == 1:
            return self.c(kids[0])
        return _logic("||", self.c(kids[0]), self.c(kids[1]))

    def _conditionaland(self, t: Any) -> Fn:
        kids = self._kids(t)
        if len(kids) == 1:
            return self.c(kids[0])
        return _logic("&&", self.c(kids[0]), self.c(kids[1]))

    def _relation(self, t: Any) -> Fn:
        kids = self._kids(t)
        if len(kids) == 1:
            return self.c(kids[0])
        op_tree, right_tree = kids
        left = self.c(op_tree.children[0])
        right = self.c(right_tree)
        if op_tree.data == "relation_in":
            return lambda env: _in(left(env), right(env))
        rel = _REL[str(op_tree.data)]
        return lambda env: rel(left(env), right(env))

    def _binary(self, t: Any, ops: dict[str, str]) -> Fn:
        kids = self._kids(t)
        if len(kids) == 1:
            return self.c(kids[0])
        op_tree, right_tree = kids
        op = ops[str(op_tree.data)]
        left, right = self.c(op_tree.children[0]), self.c(right_tree)
        return lambda env: _arith(op, left(env), right(env))

    def _addition(self, t: Any) -> Fn:
        return self._binary(t, {"addition_add": "+", "addition_sub": "-"})

    def _multiplication(self, t: Any) -> Fn:
        return self._binary(t, {"multiplication_mul": "*", "multiplication_div": "/", "multiplication_mod": "%"})

    def _unary(self, t: Any) -> Fn:
        kids = self._kids(t)
        if len(kids) == 1:
            return self.c(kids[0])
        op, operand = kids[0].data, self.c(kids[1])
        if op == "unary_not":
            return lambda env: not _truth(operand(env))

        def neg(env: dict[str, Any]) -> Any:
            v = operand(env)
            if not _num(v):
                raise CelError(f"no such overload: -{type(v).__name__}")
            return -v

        return neg

    def _member(self, t: Any) -> Fn:
        return self.c(self._kids(t)[0])

    def _primary(self, t: Any) -> Fn:
        return self.c(self._kids(t)[0])

    def _paren_expr(self, t: Any) -> Fn:
        return self.c(self._kids(t)[0])

    def _member_dot(self, t: Any) -> Fn:
        obj, field_name = self.c(t.children[0]), str(t.children[1])

        def get(env: dict[str, Any]) -> Any:
            o = obj(env)
            if not isinstance(o, dict):
                raise CelError(f"no such field {field_name!r} on {type(o).__name__}")
            if field_name not in o:
                raise CelError(f"no such key: {field_name}")
            return o[field_name]

        return get

    def _member_index(self, t: Any) -> Fn:
        obj, idx = self.c(t.children[0]), self.c(t.children[1])

        def get(env: dict[str, Any]) -> Any:
            o, i = obj(env), idx(env)
            if isinstance(o, list):
                if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < len(o):
                    raise CelError(f"index {i!r} out of range")
                return o[i]
            if isinstance(o, dict):
                if i not in o:
                    raise CelError(f"no such key: {i}")
                return o[i]
            raise CelError(f"cannot index {type(o).__name__}")

        return get

    def _args(self, t: Any) -> list[Any]:
        lst = t.children[-1] if t.children and getattr(t.children[-1], "data", None) == "exprlist" else None
        return [k for k in lst.children] if lst is not None else []

    def _member_dot_arg(self, t: Any) -> Fn:
        target_tree, method = t.children[0], str(t.children[1])
        args = self._args(t)
        target = self.c(target_tree)
        if method in MACROS:
            if len(args) != 2:
                raise Unsupported(method)
            var = self._ident_name(args[0])
            self.bound.append(var)
            body = self.c(args[1])
            self.bound.pop()
            return self._macro(method, target, var, body)
        fns = [self.c(a) for a in args]
        if method == "size" and not fns:
            return lambda env: _size(target(env))
        if method in ("startsWith", "endsWith", "contains", "matches") and len(fns) == 1:
            return self._string_method(method, target, fns[0])
        raise Unsupported(method)

    def _ident_name(self, t: Any) -> str:
        for sub in t.iter_subtrees_topdown():
            if sub.data == "ident":
                return str(sub.children[0])
        raise Unsupported("macro variable")

    def _macro(self, method: str, target: Fn, var: str, body: Fn) -> Fn:
        def items(env: dict[str, Any]) -> list[Any]:
            col = target(env)
            if isinstance(col, dict):
                return list(col)
            if isinstance(col, list):
                return col
            raise CelError(f"{method}() needs a list or map, found {type(col).__name__}")

        def run(env: dict[str, Any]) -> Any:
            seq = items(env)
            inner = dict(env)
            if method in ("exists", "all"):
                want = method == "exists"
                error: CelError | None = None
                for x in seq:
                    inner[var] = x
                    try:
                        if _truth(body(inner)) is want:
                            return want
                    except CelError as exc:
                        error = error or exc
                if error is not None:
                    raise error
                return not want
            if method == "exists_one":
                count = 0
                for x in seq:
                    inner[var] = x
                    count += _truth(body(inner))
                return count == 1
            out = []
            for x in seq:
                inner[var] = x
                v = body(inner)
                if method == "map":
                    out.append(v)
                elif _truth(v):
                    out.append(x)
            return out

        return run

    def _string_method(self, method: str, target: Fn, arg: Fn) -> Fn:
        def run(env: dict[str, Any]) -> Any:
            s, a = target(env), arg(env)
            if not isinstance(s, str) or not isinstance(a, str):
                raise CelError(f"no such overload: {method} on {type(s).__name__}")
            if method == "startsWith":
                return s.startswith(a)
            if method == "endsWith":
                return s.endswith(a)
            if method == "contains":
                return a in s
            try:
                return re.search(a, s) is not None
            except re.error as exc:
                raise CelError(f"bad regular expression: {exc}") from None

        return run

    def _ident_arg(self, t: Any) -> Fn:
        name = str(t.children[0])
        args = self._args(t)
        if name == "has" and len(args) == 1:
            member = args[0]
            node = member
            while getattr(node, "data", None) in ("expr", "conditionalor", "conditionaland", "relation", "addition",
                                                    "multiplication", "unary", "member") and len(self._kids(node)) == 1:  # fmt: skip
                node = self._kids(node)[0]
            if getattr(node, "data", None) != "member_dot":
                raise Unsupported("has() needs a field selection")
            obj, field_name = self.c(node.children[0]), str(node.children[1])

            def has(env: dict[str, Any]) -> Any:
                o = obj(env)
                if not isinstance(o, dict):
                    raise CelError(f"has() on {type(o).__name__}")
                return field_name in o

            return has
        fns = [self.c(a) for a in args]
        if name == "size" and len(fns) == 1:
            return lambda env: _size(fns[0](env))
        raise Unsupported(name)

    def _ident(self, t: Any) -> Fn:
        name = str(t.children[0])

        def get(env: dict[str, Any]) -> Any:
            if name not in env:
                raise CelError(f"undeclared reference to {name!r}")
            return env[name]

        return get

    def _list_lit(self, t: Any) -> Fn:
        fns = [self.c(a) for a in self._args(t)]
        return lambda env: [f(env) for f in fns]

    def _literal(self, t: Any) -> Fn:
        tok = t.children[0]
        kind, text = tok.type, str(tok)
        value: Any
        if kind == "INT_LIT":
            try:
                value = int(text, 0)
            except ValueError:
                raise Unsupported("integer literal") from None  # e.g. a leading zero: cel-python decides
            if not -(2**63) <= value < 2**63:
                raise Unsupported("integer literal beyond int64")
        elif kind == "FLOAT_LIT":
            value = float(text)
        elif kind == "BOOL_LIT":
            value = text == "true"
        elif kind == "NULL_LIT":
            value = None
        elif kind == "STRING_LIT" and text[0] not in "rR":
            try:
                value = pyast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise Unsupported("string literal") from None
            if not isinstance(value, str):
                raise Unsupported("string literal")
        else:
            raise Unsupported(kind)
        return lambda env: value


def _size(v: Any) -> int:
    if isinstance(v, str | list | dict):
        return len(v)
    raise CelError(f"size() of {type(v).__name__}")


def compile_fast(tree: Any) -> Fn | None:
    """A closure evaluating the parsed expression, or None when it leaves the subset."""
    try:
        return Compiler().c(tree)
    except Unsupported:
        return None


class Condition:
    """A compiled condition: the fast closure when possible, else cel-python's program."""

    def __init__(self, source: str, tree: Any, program: Any) -> None:
        self.source = source
        self.fast = compile_fast(tree)
        self.program = program

    def evaluate(self, variables: dict[str, Any]) -> Any:
        """True/False, or raises CelError."""
        try:
            return self._evaluate(variables)
        except RecursionError:
            raise CelError("expression nests too deeply to evaluate") from None

    def _evaluate(self, variables: dict[str, Any]) -> Any:
        if self.fast is not None:
            return self.fast(variables)
        from celpy import celtypes
        from celpy.adapter import json_to_cel
        from celpy.evaluation import CELEvalError

        try:
            out = self.program.evaluate({k: json_to_cel(v) for k, v in variables.items()})
        except CELEvalError as exc:
            raise CelError(str(exc.args[0] if exc.args else exc)) from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError, ArithmeticError) as exc:
            # cel-python's interpreter lets Python errors through for some ill-typed programs
            raise CelError(f"{type(exc).__name__}: {exc}") from None
        if isinstance(out, CELEvalError):
            raise CelError(str(out.args[0] if out.args else out))
        return bool(out) if isinstance(out, celtypes.BoolType) else out
