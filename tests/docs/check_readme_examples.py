#!/usr/bin/env python3
"""Checks that the README's HTTP examples answer exactly as shown.

Starts rnnserve on a free loopback port with the shipped models, runs every
`$ curl ... localhost:8080...` line of README.md against it (port
substituted), and compares the reply with the lines printed under it in the
README (up to the next `$ ` line or the end of the code block: a streamed
reply takes several): byte for byte, except that a number may differ by one
unit in its 7th significant digit (builds by another compiler round it
differently).  Prints one line per example and a summary; exits 1
if any differs (or the daemon does not start), so a change of model, number
format or API that is not reflected in the README fails the tests.

  check_readme_examples.py RNNSERVE README.md MODELS_DIR
"""
import json
import re
import shlex
import subprocess
import sys
import time


def start_daemon(binary, models):
    proc = subprocess.Popen(
        [binary, "--models", models, "--port", "0", "--host", "127.0.0.1", "--threads", "2"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    deadline = time.time() + 30
    while time.time() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "listening":
            return proc, int(event["port"])
    proc.kill()
    sys.exit("rnnserve did not print its listening line")


def wait_ready(port):
    deadline = time.time() + 30
    while time.time() < deadline:
        out = subprocess.run(["curl", "-s", f"http://127.0.0.1:{port}/readyz"],
                             capture_output=True, text=True).stdout
        if '"ready"' in out:
            return
        time.sleep(0.1)
    sys.exit("rnnserve did not become ready")


def numbers_close(a, b):
    """Equal, or floats within one unit of the 7th significant digit: a
    build by another compiler (the clang sanitizer builds) may round the
    last printed digit differently."""
    if isinstance(a, bool) or isinstance(b, bool) or type(a) != type(b):
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
            return abs(a - b) <= 2e-6 * max(abs(a), abs(b))
        return a == b
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(numbers_close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(numbers_close(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        return abs(a - b) <= 2e-6 * max(abs(a), abs(b))
    return a == b


def same_up_to_last_digit(got, expected):
    """Line by line, each line's JSON (after a `data: ` prefix) alike up to
    the last digit of its numbers; text and structure exactly."""
    g, e = got.splitlines(), expected.splitlines()
    if len(g) != len(e):
        return False
    for x, y in zip(g, e):
        if x == y:
            continue
        px = x[6:] if x.startswith("data: ") else x
        py = y[6:] if y.startswith("data: ") else y
        try:
            if not numbers_close(json.loads(px), json.loads(py)):
                return False
        except ValueError:
            return False
    return True


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    binary, readme, models = sys.argv[1:]
    lines = open(readme, encoding="utf-8").read().splitlines()
    proc, port = start_daemon(binary, models)
    failed = checked = 0
    try:
        wait_ready(port)
        for i, line in enumerate(lines):
            if not line.startswith("$ curl") or "localhost:8080" not in line:
                continue
            # the command, without a trailing shell comment
            words = shlex.split(line[2:], comments=True)
            words = [w.replace("localhost:8080", f"127.0.0.1:{port}") for w in words]
            block = []
            for following in lines[i + 1:]:
                if following.startswith("$ ") or following.startswith("```"):
                    break
                block.append(following)
            expected = "\n".join(block).strip()
            got = subprocess.run(words, capture_output=True, text=True).stdout.strip()
            checked += 1
            if got == expected or same_up_to_last_digit(got, expected):
                print(f"ok   README line {i + 1}: {line[2:60]}")
            else:
                failed += 1
                print(f"FAIL README line {i + 1}: {line[2:]}\n     README: {expected}\n     daemon: {got}")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(f"README examples: {checked - failed} of {checked} answer as shown")
    if checked == 0 or failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
