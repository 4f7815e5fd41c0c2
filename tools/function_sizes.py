#!/usr/bin/env python3
"""The longest functions in ringmaster's C++ sources (issue 24 measures them: <= 80 lines in
worker/, <= 120 anywhere).

A function is a definition whose body opens with `{` after a parameter list `)` (optionally
followed by const, override, noexcept, -> type or an initializer list) and that is not a control
statement, a lambda inside another function, or a class/namespace/enum body. Lines are counted from
the signature's first line to the closing brace. Comments and strings are blanked first, so braces
inside them do not count. An approximation, good for ranking.

Usage: function_sizes.py [--top N] [--under DIR]... SOURCE_ROOT
"""
import argparse
import os
import re

MODULES = ["common", "jobs", "collectives", "worker", "ps", "launcher", "k8s", "sweep", "cli", "bench"]
CONTROL = re.compile(r"\b(if|for|while|switch|catch|return|else|do)\b\s*\(?[^;{}]*$")


def blank(text):
    """Comments, string and char literals replaced by spaces (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i)); i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(]*)\(', text[i:])
            end = text.find(")" + (m.group(1) if m else "") + '"', i)
            j = n if end < 0 else end + len(m.group(1) if m else "") + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j])); i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i)); i = j + 1
        else:
            out.append(c); i += 1
    return "".join(out)


def functions(path):
    with open(path, encoding="utf-8") as f:
        text = blank(f.read())
    results, stack = [], []  # stack of (kind, start_line, name)
    line = 1
    last_stmt_start = 0  # index after the last ; { or }
    for i, c in enumerate(text):
        if c == "\n":
            line += 1
        elif c == "{":
            head = text[last_stmt_start:i].strip()
            inside_function = any(k == "function" for k, _, _ in stack)
            m = re.search(r"([~\w:<>]+)\s*\((?:[^()]|\([^()]*\))*\)\s*(const)?\s*(noexcept)?\s*(override|final)?\s*"
                          r"(->\s*[\w:<>, *&]+)?\s*(:[^{]*)?$", head, re.S)
            is_function = (m is not None and not inside_function and not CONTROL.search(head.split("\n")[-1])
                           and not re.search(r"\b(class|struct|namespace|enum|union)\b[^(]*$", head)
                           and "=" not in head.split("(")[0])
            if is_function:
                start = line - head.count("\n")
                stack.append(("function", start, m.group(1)))
            else:
                stack.append(("block", line, ""))
            last_stmt_start = i + 1
        elif c == "}":
            if stack:
                kind, start, name = stack.pop()
                if kind == "function":
                    results.append((line - start + 1, name, start))
            last_stmt_start = i + 1
        elif c == ";":
            last_stmt_start = i + 1
    return results


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--under", action="append", default=[])
    a = p.parse_args()
    rows = []
    for module in a.under or MODULES:
        for folder, _, files in os.walk(os.path.join(a.root, module)):
            for name in files:
                if name.endswith((".cc", ".h", ".cu")):
                    path = os.path.join(folder, name)
                    for lines, fn, start in functions(path):
                        rows.append((lines, f"{os.path.relpath(path, a.root)}:{start}", fn))
    rows.sort(reverse=True)
    for lines, where, fn in rows[: a.top]:
        print(f"{lines:5d}  {fn:40s} {where}")


if __name__ == "__main__":
    main()
