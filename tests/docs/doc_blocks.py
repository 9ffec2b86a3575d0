#!/usr/bin/env python3
"""Compiles and runs the C++ and Python code blocks of the documentation (docs/TESTING.md).

    doc_blocks.py list FILE...            one line per tested block: NAME|LANG|EXPECT
    doc_blocks.py run NAME [options] FILE...

Every ```cpp / ```c++ / ```python fenced block of the given Markdown files is a test, named
`<file stem>.<n>` (n counts that file's tested blocks from 1). An HTML comment right before a
block (blank lines between are fine) adjusts it:

    <!-- doc-test setup:
    code the block assumes (inputs it names); prepended, not shown in the rendered page -->
    <!-- doc-test: declarations -->   C++ declarations: compiled in namespace rotary, not run
    <!-- doc-test: fails-until REASON --> expected to fail for now (CTest WILL_FAIL)
    <!-- doc-test: skip REASON -->    not tested (say why)

A C++ block becomes a program: its #include lines and the setup's go first, after
<rotary/rotary.h>; the rest is the body of a function run by main() with `using namespace
rotary;`. A Python block runs as a script (setup first) from the repository root with the
given interpreter; when that interpreter cannot import rotary the test is skipped (exit 77).
"""
import argparse
import os
import re
import subprocess
import sys

FENCE = re.compile(r"^(\s*)```(\S*)\s*$")
MARK = re.compile(r"<!--\s*doc-test(?P<kind>:|\s+setup:)(?P<body>.*?)-->", re.S)
LANGS = {"cpp": "cpp", "c++": "cpp", "python": "python"}
SKIP = 77


def blocks(path):
    """Yields (name, lang, code, setup, expect, line) for each tested block of a file."""
    stem = os.path.splitext(os.path.basename(path))[0]
    text = open(path, encoding="utf-8").read()
    lines = text.split("\n")
    n, i, pending = 0, 0, []  # pending: markers seen since the last block
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            # Markers may span lines: gather a whole comment when one starts here.
            if "<!--" in lines[i] and "doc-test" in lines[i]:
                j = i
                while "-->" not in lines[j]:
                    j += 1
                pending.extend(MARK.finditer("\n".join(lines[i:j + 1])))
                i = j
            elif lines[i].strip():
                pending = []  # a marker applies only to the block right after it
            i += 1
            continue
        indent, lang = m.group(1), m.group(2).lower()
        j = i + 1
        while j < len(lines) and not FENCE.match(lines[j]):
            j += 1
        code = "\n".join(l[len(indent):] if l.startswith(indent) else l for l in lines[i + 1:j])
        if lang in LANGS:
            setup, expect = "", "run"
            for mk in pending:
                if mk.group("kind").strip() == "setup:":
                    setup += mk.group("body").strip("\n") + "\n"
                else:
                    word = mk.group("body").split()[0]
                    if word not in ("declarations", "fails-until", "skip"):
                        sys.exit(f"{path}:{i + 1}: unknown doc-test marker '{word}'")
                    expect = word
            n += 1
            yield f"{stem}.{n}", LANGS[lang], code, setup, expect, i + 1
        pending = []
        i = j + 1


def find(name, files):
    for path in files:
        for b in blocks(path):
            if b[0] == name:
                return path, b
    sys.exit(f"no tested code block named {name} in {' '.join(files)} (the docs changed: re-run cmake)")


def cpp_program(code, setup, expect):
    includes, body = [], []
    for line in (setup + "\n" + code).split("\n"):
        (includes if line.lstrip().startswith("#include") else body).append(line)
    head = "#include <rotary/rotary.h>\n#include <cstdio>\n#include <exception>\n" + "\n".join(includes)
    if expect == "declarations":
        return f"{head}\nnamespace rotary {{\n{chr(10).join(body)}\n}}\nint main() {{ return 0; }}\n"
    return (f"{head}\nusing namespace rotary;\nstatic void doc_block() {{\n{chr(10).join(body)}\n}}\n"
            "int main() {\n  try {\n    doc_block();\n  } catch (const std::exception& e) {\n"
            '    std::fprintf(stderr, "doc block threw: %s\\n", e.what());\n    return 1;\n  }\n'
            "  return 0;\n}\n")


def run_cpp(args, name, code, setup, expect):
    os.makedirs(args.work, exist_ok=True)
    src = os.path.join(args.work, name + ".cpp")
    exe = os.path.join(args.work, name)
    open(src, "w").write(cpp_program(code, setup, expect))
    lib = args.library
    cmd = [args.cxx, "-std=c++20", "-Wall", "-Werror=return-type", f"-I{args.include}", src, "-o", exe,
           lib, f"-Wl,-rpath,{os.path.dirname(lib)}", "-pthread"]
    cmd += [f"-D{d}" for d in args.defines.split(";") if d]
    print(" ".join(cmd), flush=True)
    if subprocess.call(cmd) != 0:
        print(f"{name}: the block does not compile as written ({src})")
        return 1
    if expect == "declarations":
        return 0
    rc = subprocess.call([exe], cwd=args.root)
    if rc != 0:
        print(f"{name}: the program exited with {rc}")
    return rc


def run_python(args, name, code, setup):
    py = args.python or (os.path.join(args.root, "venv", "bin", "python")
                         if os.path.exists(os.path.join(args.root, "venv", "bin", "python")) else "python3")
    if subprocess.call([py, "-c", "import rotary"], cwd=args.root, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL) != 0:
        print(f"{name}: skipped: {py} cannot import rotary (install the Python package first)")
        return SKIP
    print(f"{py} <{name}>", flush=True)
    rc = subprocess.call([py, "-c", setup + "\n" + code], cwd=args.root)
    if rc != 0:
        print(f"{name}: the block failed (exit {rc})")
    return rc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["list", "run"])
    p.add_argument("name", nargs="?")
    p.add_argument("files", nargs="*")
    p.add_argument("--root", default=".")
    p.add_argument("--work", default="doc-blocks")
    p.add_argument("--cxx", default="c++")
    p.add_argument("--include", default="include")
    p.add_argument("--library", default="")
    p.add_argument("--defines", default="")
    p.add_argument("--python", default="")
    args = p.parse_args()
    if args.command == "list":
        for path in ([args.name] if args.name else []) + args.files:
            for name, lang, _, _, expect, _ in blocks(path):
                print(f"{name}|{lang}|{expect}")
        return 0
    path, (name, lang, code, setup, expect, line) = find(args.name, args.files)
    print(f"{name}: {path}:{line} ({lang}, {expect})", flush=True)
    if expect == "skip":
        return SKIP
    return run_cpp(args, name, code, setup, expect) if lang == "cpp" else run_python(args, name, code, setup)


if __name__ == "__main__":
    sys.exit(main())
