"""Radon's cyclomatic complexity of every HumanEval solution (prompt + canonical solution) and every MBPP
solution, and of edge cases, for slm's `--metric complexity` test (crates/slm-eval/tests/radon.rs).

    python3 -m venv /tmp/radon && /tmp/radon/bin/pip install radon==6.0.1
    /tmp/radon/bin/python testdata/complexity/make_fixture.py

The value is radon's total for the module, `ComplexityVisitor.from_code(code).total_complexity`.
"""

import gzip
import json
import pathlib

import radon
from radon.visitors import ComplexityVisitor

here = pathlib.Path(__file__).parent
root = here.parent.parent

EDGE = {
    "for_else": "def f(xs):\n    for x in xs:\n        pass\n    else:\n        pass\n",
    "while_else": "def f(x):\n    while x:\n        x -= 1\n    else:\n        pass\n",
    "async_for_else": "async def f(xs):\n    async for x in xs:\n        pass\n    else:\n        pass\n",
    "try_else_finally": "def f():\n    try:\n        pass\n    except A:\n        pass\n    except (B, C):\n        pass\n    else:\n        pass\n    finally:\n        pass\n",
    "try_star": "def f():\n    try:\n        pass\n    except* ValueError:\n        pass\n",
    "match_wildcard": "def f(x):\n    match x:\n        case 1:\n            return 1\n        case [a, b]:\n            return 2\n        case _:\n            return 0\n",
    "match_capture": "def f(x):\n    match x:\n        case 1:\n            return 1\n        case y:\n            return y\n",
    "match_only_wildcard": "def f(x):\n    match x:\n        case _:\n            return 0\n",
    "match_no_wildcard": "def f(x):\n    match x:\n        case 1 | 2:\n            return 1\n        case {'k': v} if v:\n            return v\n",
    "with": "def f():\n    with open('x') as a, open('y') as b:\n        pass\n",
    "assert": "def f(x):\n    assert x, 'no'\n",
    "boolops": "def f(a, b, c, d):\n    return (a and b and c) or (not d and a)\n",
    "ternaries": "def f(x):\n    return 1 if x else 2 if x > 1 else 3\n",
    "comprehensions": "def f(xs):\n    return {y: z for y in xs if y for z in y if z if z > 1}, (v for v in xs)\n",
    "lambda": "f = lambda x: 1 if x and x > 2 else 0\n",
    "nested_function": "def f(x):\n    def g(y):\n        if y:\n            return 1\n        return 2\n    return g(x) if x else 0\n",
    "nested_class_in_function": "def f(x):\n    class C:\n        def m(self):\n            if x:\n                return 1\n    return C\n",
    "class_methods": "class A:\n    z = [i for i in range(3) if i]\n    def m(self, x):\n        if x:\n            return 1\n        return 2\n    def n(self):\n        return [i for i in range(3) if i]\n    class B:\n        def k(self):\n            while True:\n                break\n",
    "module_level": "import sys\nif len(sys.argv) > 1:\n    for a in sys.argv:\n        print(a)\nelif True:\n    pass\nelse:\n    pass\n",
    "function_in_if": "if True:\n    def f(x):\n        return x or 1\n",
    "decorated_defaults": "@deco(1 if a else 2)\ndef f(x=lambda y: y if y else 0):\n    return x\n",
    "empty": "",
}


def total(code):
    return ComplexityVisitor.from_code(code).total_complexity


def main():
    humaneval = []
    with gzip.open(root / "datasets/humaneval/HumanEval.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            p = json.loads(line)
            humaneval.append({"task_id": p["task_id"], "radon": total(p["prompt"] + p["canonical_solution"])})
    mbpp = []
    for line in (root / "datasets/mbpp/mbpp.jsonl").read_text(encoding="utf-8").splitlines():
        p = json.loads(line)
        mbpp.append({"task_id": p["task_id"], "radon": total(p["code"])})
    edge = [{"name": k, "code": v, "radon": total(v)} for k, v in EDGE.items()]
    out = {"radon": radon.__version__, "humaneval": humaneval, "mbpp": mbpp, "edge": edge}
    (here / "expected.json").write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    print(f"{len(humaneval)} HumanEval, {len(mbpp)} MBPP, {len(edge)} edge cases")


if __name__ == "__main__":
    main()
