#!/usr/bin/python3
"""The playground page (GET /, src/serve/ui/) in a real browser.

Starts the real rnnserve on a free loopback port with the shipped models
and the toy translator of the parity golden files (copied into a temporary
folder as toy-translator.safetensors, so that the translate tab is always
tested; a translator shipped in models/ is tested too when there is one,
and reported as skipped otherwise), drives headless Chromium through
Debian's chromedriver with selenium, and checks what a user sees against
what the API answers for the same request:

  - the page and its assets: status, Content-Type, Content-Security-Policy,
    Cache-Control, HEAD; nothing loaded from another origin; no console
    error (a CSP violation is one);
  - the models table lists GET /v1/models;
  - classify "Nakamura": the top label and its percentage, bars; a batch
    as a table;
  - generate with a seed (streamed, with streaming broken on purpose, and
    as one reply) gives the API's texts, on an item generator and a textlm;
  - a bad field shows the API's message next to that field (temperature 9;
    a name the model cannot read; a bad line of the batch);
  - score: one coloured span per scored token, as many as the API counts;
  - translate: the heat map has a row per output token and a column per
    source token, as the API's attention; "Replace unknown words" gives
    the API's replace_unknown translation;
  - tabs by keyboard (arrows, Home, End) with their ARIA roles; every
    control has a label; focus is outlined; every piece of text on each
    tab, results included, contrasts 4.5:1 or more with its background;
  - at 375 px wide no tab overflows horizontally;
  - --no-ui and RNNSERVE_NO_UI: / is a 404 and the API still answers.

Screenshots of each tab go to SHOT_DIR (default: a temporary folder,
removed when every check passed); `--screenshots docs --small` writes the
ones committed (docs/playground-*.png) as palette PNGs.
Prints "ok NAME" or "FAIL NAME: why" per check and last
"browser: N passed, M failed"; exits 1 if any failed.

  test_page.py RNNSERVE MODELS_DIR GOLDEN_DIR [--screenshots SHOT_DIR] [--small]
"""
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.request
import zlib

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
WAIT = 20  # seconds for any one thing the page does

passed = 0
failed = 0


def report(name, ok, why=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}", flush=True)
    else:
        failed += 1
        print(f"FAIL {name}: {why}", flush=True)


def finish(code=None):
    print(f"browser: {passed} passed, {failed} failed", flush=True)
    sys.exit(code if code is not None else (1 if failed else 0))


class CheckFailed(Exception):
    pass


def expect(cond, why):
    if not cond:
        raise CheckFailed(why)


# ---- the daemon ------------------------------------------------------------

class Daemon:
    def __init__(self, binary, models, flags=(), env=None):
        self.log = tempfile.NamedTemporaryFile(prefix="rnnserve-browser-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            [binary, "--models", models, "--port", "0", "--host", "127.0.0.1", "--threads", "2", *flags],
            stdout=subprocess.DEVNULL, stderr=self.log, env=dict(os.environ, **(env or {})))
        self.port = None
        deadline = time.time() + 30
        while time.time() < deadline and self.port is None:
            if self.proc.poll() is not None:
                break
            with open(self.log.name) as f:
                for line in f:
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev.get("event") == "listening":
                        self.port = int(ev["port"])
            time.sleep(0.05)
        if self.port is None:
            self.stop()
            raise RuntimeError(f"rnnserve did not start; its log: {open(self.log.name).read()[-2000:]}")
        self.base = f"http://127.0.0.1:{self.port}"
        deadline = time.time() + 60
        while time.time() < deadline:
            status, _, _ = self.request("GET", "/readyz")
            if status == 200:
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("rnnserve did not become ready")

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def api(self, path, body=None):
        status, _, raw = self.request("POST" if body is not None else "GET", path, body)
        return status, json.loads(raw)

    def stop(self):
        """SIGTERM; the exit status (a sanitizer build exits non-zero on a
        leak or an error, its report then in why_failed)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with open(self.log.name, errors="replace") as f:
            log = f.read()
        self.why_failed = "\n".join(l for l in log.splitlines() if not l.startswith("{"))[-3000:]
        os.unlink(self.log.name)
        return self.proc.returncode


# ---- the browser -----------------------------------------------------------

def start_browser(profile_dir):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--window-size=860,900", "--force-device-scale-factor=1", "--lang=en-US",
              "--no-first-run", "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--disable-extensions", "--hide-scrollbars",
              f"--user-data-dir={profile_dir}"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


def wait_for(driver, js, what, timeout=WAIT):
    """Polls a JavaScript expression until it is truthy; returns its value."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = driver.execute_script("return " + js)
        if v:
            return v
        time.sleep(0.05)
    raise CheckFailed(f"timed out waiting for {what}")


def open_page(driver, base, tab=None):
    # a fresh page each time (a URL that differs only by its #fragment would
    # not be loaded again, and the last check's state would stay)
    driver.get("about:blank")
    driver.get(base + "/" + (f"#{tab}" if tab else ""))
    wait_for(driver, "document.body.dataset.ready === 'true'", "the models to load")
    if tab:
        click_tab(driver, tab)


def click_tab(driver, tab):
    driver.find_element("id", f"tab-{tab}").click()
    wait_for(driver, f"!document.getElementById('panel-{tab}').hidden", f"the {tab} panel")


def set_value(driver, element_id, value):
    """Types value into an input, textarea or select (by option value)."""
    from selenium.webdriver.support.ui import Select

    e = driver.find_element("id", element_id)
    if e.tag_name == "select":
        Select(e).select_by_value(value)
        return
    e.clear()
    # send_keys handles any text (a newline in a textarea included)
    if value != "":
        e.send_keys(value)


def submit(driver, form_id, output_id):
    driver.execute_script(f"document.getElementById('{output_id}').dataset.state = 'idle'")
    driver.find_element("css selector", f"#{form_id} button[type=submit]").click()
    return wait_for(
        driver,
        f"['done','error','stopped'].includes(document.getElementById('{output_id}').dataset.state)"
        f" && document.getElementById('{output_id}').dataset.state",
        f"{form_id} to finish")


def text_of(driver, css):
    return [driver.execute_script("return arguments[0].textContent", e)
            for e in driver.find_elements("css selector", css)]


def console_errors(driver):
    try:
        return [e for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
    except Exception:  # a driver without the log endpoint
        return []


# WCAG 2 contrast of every visible piece of text against the background it
# is drawn on (the nearest ancestor with an opaque one); disabled controls
# are exempt, as WCAG says.  The offenders, [text, ratio], for < 4.5:1.
LOW_CONTRAST_JS = """
const lum = (rgb) => {
  const [r, g, b] = rgb.slice(0, 3).map((v) => {
    v /= 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
};
const parse = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
const background = (e) => {
  for (; e; e = e.parentElement) {
    const c = parse(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c;
  }
  return [255, 255, 255];
};
const bad = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
for (let n = walker.nextNode(); n; n = walker.nextNode()) {
  const e = n.parentElement;
  if (!n.textContent.trim() || !e || !e.getClientRects().length) continue;
  if (e.closest('[hidden], .visually-hidden, :disabled, option')) continue;
  const fg = parse(getComputedStyle(e).color), bg = background(e);
  const a = lum(fg), b = lum(bg);
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) bad.push([n.textContent.trim().slice(0, 30), Math.round(ratio * 100) / 100]);
}
return bad;
"""


def low_contrast(driver):
    return driver.execute_script(LOW_CONTRAST_JS)


def expect_contrast(driver, where):
    bad = low_contrast(driver)
    expect(not bad, f"{where}: text under 4.5:1 contrast: {bad[:10]}")


def percent(p):
    """The page's rendering of a probability (app.js percent())."""
    return f"{100 * p:.{1 if p >= 0.1 else 2}f}%"


def js_round(x, digits):
    """Number.prototype.toFixed as the page calls it (close enough for
    values not on a rounding edge)."""
    return f"{x:.{digits}f}"


# ---- screenshots -------------------------------------------------------------

def png_shrink(data):
    """An 8-bit RGB(A) PNG as a palette PNG of at most 256 colours (the
    most frequent ones; every other colour becomes the nearest of them),
    for pictures committed to docs/: a page's flat colours and the grey
    ramps of its text lose next to nothing, and the file is a few times
    smaller than Chromium's.  Anything else is returned unchanged."""
    from collections import Counter

    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return data
    pos, chunks = 8, []
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append((kind, data[pos + 8:pos + 8 + n]))
        pos += 12 + n
    w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 8 or ctype not in (2, 6) or interlace:
        return data
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(c for k, c in chunks if k == b"IDAT"))
    stride = w * bpp
    rows, prev, at = [], bytearray(stride), 0
    for _ in range(h):  # undo the filters (PNG spec, section 9)
        f, line = raw[at], bytearray(raw[at + 1:at + 1 + stride])
        at += 1 + stride
        if f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif f == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 255
        elif f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    pixels = [[bytes(r[i:i + 3]) for i in range(0, stride, bpp)] for r in rows]
    counts = Counter(p for row in pixels for p in row)
    palette = [c for c, _ in counts.most_common(256)]
    index = {c: i for i, c in enumerate(palette)}
    for c in counts:
        if c not in index:
            index[c] = min(range(len(palette)), key=lambda i: sum(
                (x - y) * (x - y) for x, y in zip(c, palette[i])))
    out = bytearray()
    for row in pixels:
        out.append(0)
        out += bytes(index[p] for p in row)

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 3, 0, 0, 0))
            + chunk(b"PLTE", b"".join(palette)) + chunk(b"IDAT", zlib.compress(bytes(out), 9))
            + chunk(b"IEND", b""))


def screenshot(driver, shot_dir, name, css="#tasks", small=False):
    """The element css (the tabs and the open panel) as SHOT_DIR/name.png."""
    import base64

    # the whole element, also where it runs past the window's height
    r = driver.execute_script(
        "const r = arguments[0].getBoundingClientRect();"
        "return [r.left + scrollX, r.top + scrollY, r.width, r.height]",
        driver.find_element("css selector", css))
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": r[0], "y": r[1], "width": r[2], "height": r[3], "scale": 1}})
    data = base64.b64decode(shot["data"])
    if small:
        data = png_shrink(data)
    path = os.path.join(shot_dir, name + ".png")
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---- the checks ----------------------------------------------------------------

def check_serving(d):
    status, headers, body = d.request("GET", "/")
    h = {k.lower(): v for k, v in headers.items()}
    expect(status == 200, f"GET / gave {status}")
    expect(h.get("content-type") == "text/html; charset=utf-8", f"Content-Type {h.get('content-type')}")
    csp = h.get("content-security-policy", "")
    expect("default-src 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp,
           f"Content-Security-Policy {csp!r}")
    expect(h.get("cache-control") == "no-cache", f"Cache-Control {h.get('cache-control')}")
    expect(b"<!doctype html>" in body[:100].lower(), "the body is not the page")
    expect(b"http://" not in body and b"https://" not in body, "the page names another origin")
    status, headers, head_body = d.request("HEAD", "/")
    expect(status == 200 and head_body == b"", f"HEAD / gave {status} with {len(head_body)} bytes")
    for path, kind in [("/ui/app.js", "text/javascript; charset=utf-8"),
                       ("/ui/app.css", "text/css; charset=utf-8")]:
        status, headers, body = d.request("GET", path)
        h = {k.lower(): v for k, v in headers.items()}
        expect(status == 200 and h.get("content-type") == kind and body,
               f"GET {path}: {status} {h.get('content-type')}")
        expect(b"http://" not in body and b"https://" not in body, f"{path} names another origin")
    status, _, _ = d.request("POST", "/")
    expect(status == 405, f"POST / gave {status}")


def check_lists_models(driver, d):
    open_page(driver, d.base)
    _, data = d.api("/v1/models")
    want = [m["name"] for m in data["models"]]
    got = text_of(driver, "#models tbody th")
    expect(got == want, f"the table lists {got}, the API {want}")
    status = driver.find_element("id", "models-status").text
    expect(f"{len(want)} models loaded" in status, f"status line {status!r}")
    # everything the page loaded came from the daemon
    urls = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
        ".concat([location.href])")
    foreign = [u for u in urls if not u.startswith(d.base)]
    expect(not foreign, f"loaded from elsewhere: {foreign}")
    errors = console_errors(driver)
    expect(not errors, f"console errors: {errors}")


def check_classify(driver, d, shot_dir, small):
    open_page(driver, d.base, "classify")
    set_value(driver, "cls-name", "Nakamura")
    set_value(driver, "cls-top_k", "5")
    expect(submit(driver, "form-classify", "cls-output") == "done", "classify did not finish")
    _, api = d.api("/classify", {"name": "Nakamura", "top_k": 5})
    labels = text_of(driver, "#cls-bars .bar-label")
    values = text_of(driver, "#cls-bars .bar-value")
    want = [p["label"] for p in api["predictions"]]
    expect(labels == want, f"page labels {labels}, API {want}")
    expect(labels[0] == "Japanese", f"top label {labels[0]}")
    expect(values[0] == percent(api["predictions"][0]["probability"]),
           f"top probability {values[0]} vs API {api['predictions'][0]['probability']}")
    widths = driver.execute_script(
        "return [...document.querySelectorAll('#cls-bars .bar-fill')].map(e => e.style.width)")
    expect(len(widths) == 5 and all(w.endswith("%") for w in widths), f"bar widths {widths}")
    # the batch box: one row per name, the API's top label in each
    expect(submit(driver, "form-batch", "batch-output") == "done", "the batch did not finish")
    names = [n for n in driver.find_element("id", "batch-names").get_attribute("value").split("\n") if n.strip()]
    _, api = d.api("/classify", {"names": names, "top_k": 3})
    rows = driver.find_elements("css selector", "#batch-table tbody tr")
    expect(len(rows) == len(names), f"{len(rows)} rows for {len(names)} names")
    got = [r.find_elements("css selector", "td")[0].text for r in rows]
    want = [x["predictions"][0]["label"] for x in api["results"]]
    expect(got == want, f"batch labels {got}, API {want}")
    expect_contrast(driver, "classify")
    screenshot(driver, shot_dir, "playground-classify", small=small)


def fill_generate(driver, model, fields, stream=True):
    set_value(driver, "gen-model", model)
    for k, v in fields.items():
        set_value(driver, f"gen-{k}", str(v))
    box = driver.find_element("id", "gen-stream")
    if box.is_selected() != stream:
        box.click()


def page_samples(driver):
    return text_of(driver, "#gen-samples .sample-text")


def check_generate(driver, d, shot_dir, small):
    open_page(driver, d.base, "generate")
    fields = {"prefix": "Ak", "category": "Japanese", "temperature": 0.8, "top_p": 1, "n": 3,
              "seed": 7, "max_length": 24}
    fill_generate(driver, "names-generator", fields)
    expect(submit(driver, "form-generate", "gen-output") == "done", "generate did not finish")
    _, api = d.api("/generate", dict(fields, model="names-generator"))
    want = [s["text"] for s in api["samples"]]
    got = page_samples(driver)
    expect(got == want, f"streamed texts {got}, API {want}")
    # token by token: each streamed event is its own text node
    nodes = driver.execute_script(
        "return [...document.querySelectorAll('#gen-samples .sample-text')].map(e => e.childNodes.length)")
    expect(all(n >= 2 for n in nodes), f"text nodes per sample {nodes}: not streamed")
    note = driver.find_element("id", "gen-note").text
    expect("seed 7" in note, f"note {note!r}")
    expect_contrast(driver, "generate")
    screenshot(driver, shot_dir, "playground-generate", small=small)

    # as one reply (the checkbox off)
    fill_generate(driver, "names-generator", {}, stream=False)
    expect(submit(driver, "form-generate", "gen-output") == "done", "generate (one reply) did not finish")
    expect(page_samples(driver) == want, f"one-reply texts {page_samples(driver)}, API {want}")

    # streaming broken on purpose: the page falls back to one reply
    driver.execute_script("""
        const real = window.fetch;
        window.fetch = (url, init) => (init && init.body && JSON.parse(init.body).stream)
            ? Promise.reject(new TypeError('streaming off for the test')) : real(url, init);""")
    fill_generate(driver, "names-generator", {}, stream=True)
    expect(submit(driver, "form-generate", "gen-output") == "done", "generate (fallback) did not finish")
    expect(page_samples(driver) == want, f"fallback texts {page_samples(driver)}, API {want}")
    note = driver.find_element("id", "gen-note").text
    expect("Streaming failed" in note, f"the fallback is not said: {note!r}")


def check_generate_textlm(driver, d):
    _, models = d.api("/v1/models")
    if not any(m["name"] == "shakespeare" for m in models["models"]):
        raise CheckFailed("no shakespeare model among the shipped ones")
    open_page(driver, d.base, "generate")
    set_value(driver, "gen-model", "shakespeare")
    visible = driver.execute_script(
        "return ['prefix','prompt','max_length','max_tokens','category'].map("
        "f => !document.querySelector(`#form-generate .field[data-field=\"${f}\"]`).hidden)")
    expect(visible == [False, True, False, True, False], f"fields shown for a textlm: {visible}")
    fields = {"prompt": "ROMEO:", "temperature": 0.8, "top_p": 0.95, "n": 1, "seed": 3,
              "max_tokens": 60}
    fill_generate(driver, "shakespeare", fields)
    expect(submit(driver, "form-generate", "gen-output") == "done", "generate did not finish")
    _, api = d.api("/generate", dict(fields, model="shakespeare"))
    want = [s["text"] for s in api["samples"]]
    expect(page_samples(driver) == want, f"texts {page_samples(driver)!r}, API {want!r}")


def field_error(driver, form, field):
    return driver.execute_script(
        f"const b = document.querySelector('#{form} .field[data-field=\"{field}\"]');"
        "const p = b && b.querySelector('.error'); const i = b && b.querySelector('input,select,textarea');"
        "return p && !p.hidden ? [p.textContent, i.getAttribute('aria-invalid'),"
        " i.getAttribute('aria-describedby') === p.id] : null")


def check_errors(driver, d, shot_dir, small):
    open_page(driver, d.base, "generate")
    fill_generate(driver, "names-generator", {"prefix": "", "temperature": 9, "n": 1, "seed": 1})
    expect(submit(driver, "form-generate", "gen-output") == "error", "no error state")
    status, api = d.api("/generate", {"model": "names-generator", "temperature": 9, "n": 1, "seed": 1,
                                      "top_p": 1, "max_length": 24})
    expect(status == 400 and api["error"]["field"] == "temperature", f"API: {status} {api}")
    got = field_error(driver, "form-generate", "temperature")
    expect(got == [api["error"]["message"], "true", True],
           f"next to temperature: {got}; the API says {api['error']['message']!r}")
    expect_contrast(driver, "an error")
    screenshot(driver, shot_dir, "playground-error", small=small)
    # a correct request clears it
    fill_generate(driver, "names-generator", {"temperature": 0.5})
    expect(submit(driver, "form-generate", "gen-output") == "done", "generate did not finish")
    expect(field_error(driver, "form-generate", "temperature") is None, "the error stayed")

    # 422: characters the classifier cannot read, next to the name
    click_tab(driver, "classify")
    set_value(driver, "cls-name", "王")
    expect(submit(driver, "form-classify", "cls-output") == "error", "no error state")
    status, api = d.api("/classify", {"name": "王", "top_k": 5})
    got = field_error(driver, "form-classify", "name")
    expect(status == 422 and got and got[0] == api["error"]["message"],
           f"next to name: {got}; the API ({status}) says {api['error']['message']!r}")

    # a bad line of the batch names its line
    set_value(driver, "batch-names", "Nakamura\n\nSmith\n王")
    expect(submit(driver, "form-batch", "batch-output") == "error", "no error state")
    status, api = d.api("/classify", {"names": ["Nakamura", "Smith", "王"], "top_k": 3})
    got = field_error(driver, "form-batch", "names")
    expect(api["error"]["field"] == "names[2]", f"API field {api['error']['field']}")
    expect(got and got[0] == "Line 4: " + api["error"]["message"],
           f"next to the batch: {got}; the API says {api['error']['message']!r}")


def score_spans(driver):
    return driver.execute_script(
        "return [...document.querySelectorAll('#score-tokens .tok')].map(e => "
        "[e.textContent, getComputedStyle(e).backgroundColor, Number(e.dataset.surprise)])")


def check_score(driver, d, shot_dir, small):
    open_page(driver, d.base, "score")
    set_value(driver, "score-model", "names-generator")
    set_value(driver, "score-text", "Akiyama")
    set_value(driver, "score-category", "Japanese")
    expect(submit(driver, "form-score", "score-output") == "done", "score did not finish")
    _, api = d.api("/score", {"model": "names-generator", "text": "Akiyama", "category": "Japanese",
                              "per_token": True})
    spans = score_spans(driver)
    expect(len(spans) == api["tokens"] == 8, f"{len(spans)} spans, the API counts {api['tokens']}")
    expect([s[0] for s in spans] == list("Akiyama") + ["end"], f"span texts {[s[0] for s in spans]}")
    colours = [s[1] for s in spans]
    expect(all(c.startswith("rgb") and c != "rgba(0, 0, 0, 0)" for c in colours), f"colours {colours}")
    surprise = [s[2] for s in spans]
    want = [-x for x in api["token_log_probs"]]
    expect(len(surprise) == len(want) and all(abs(a - b) < 1e-9 for a, b in zip(surprise, want)),
           f"surprise {surprise}, API {want}")
    expect(len(set(colours)) > 1, "every token has the same colour")
    expect_contrast(driver, "score")

    # a textlm: every character after the first, the first shown as context
    text = "To be, or not to be, that is the question."
    set_value(driver, "score-model", "shakespeare")
    set_value(driver, "score-text", text)
    expect(submit(driver, "form-score", "score-output") == "done", "score did not finish")
    _, api = d.api("/score", {"model": "shakespeare", "text": text, "per_token": True})
    spans = score_spans(driver)
    expect(len(spans) == api["tokens"] == len(text) - 1,
           f"{len(spans)} spans, the API counts {api['tokens']}")
    expect("".join(s[0] for s in spans) == text[1:], f"span texts {[s[0] for s in spans]}")
    surprise = [s[2] for s in spans]
    want = [-x for x in api["token_log_probs"]]
    expect(len(surprise) == len(want) and all(abs(a - b) < 1e-9 for a, b in zip(surprise, want)),
           f"surprise {surprise}, API {want}")
    # colour by surprise: the most surprising token is the darkest, the
    # least the lightest
    def lightness(rgb):
        r, g, b = (int(x) for x in re.findall(r"\d+", rgb)[:3])
        return r + g + b

    light = [lightness(s[1]) for s in spans]
    expect(light.index(min(light)) == surprise.index(max(surprise))
           and light.index(max(light)) == surprise.index(min(surprise)),
           f"colours do not follow the surprise: {list(zip(surprise, light))}")
    ctx = text_of(driver, "#score-tokens .ctx")
    expect(ctx == ["T"], f"context {ctx}")
    expect_contrast(driver, "score (textlm)")
    screenshot(driver, shot_dir, "playground-score", small=small)


def check_translate(driver, d, name, shot_dir, small, shot):
    open_page(driver, d.base, "translate")
    expect(driver.find_element("id", "tab-translate").is_displayed(), "no translate tab")
    set_value(driver, "tr-model", name)
    sentence = "i am cold ."
    set_value(driver, "tr-text", sentence)
    set_value(driver, "tr-beam_size", "4")
    expect(submit(driver, "form-translate", "tr-output") == "done", "translate did not finish")
    status, api = d.api("/translate", {"model": name, "text": sentence, "beam_size": 4, "attention": True})
    expect(status == 200, f"API {status} {api}")
    best = api["translations"][0]
    result = driver.find_element("id", "tr-result").text
    expect(result == best["text"].strip(), f"translation {result!r}, API {best['text']!r}")
    cols = text_of(driver, "#tr-heatmap thead th")
    rows = text_of(driver, "#tr-heatmap tbody th")
    cells = driver.find_elements("css selector", "#tr-heatmap tbody td")
    want_rows = best["tokens"] + (["<eos>"] if best["finished"] else [])
    expect(cols == api["source_tokens"], f"columns {cols}, source tokens {api['source_tokens']}")
    expect(len(rows) == len(best["attention"]) and rows == want_rows,
           f"rows {rows}, API {len(best['attention'])} rows for {want_rows}")
    expect(len(cells) == len(rows) * len(cols), f"{len(cells)} cells for {len(rows)}x{len(cols)}")
    values = [float(c.text) for c in cells]
    flat = [round(w, 2) for r in best["attention"] for w in r]
    expect(all(abs(a - b) <= 0.006 for a, b in zip(values, flat)), f"cells {values}, API {flat}")
    expect_contrast(driver, "translate")
    if shot:
        screenshot(driver, shot_dir, "playground-translate", small=small)
    # "Replace unknown words" sends replace_unknown: the page's translation
    # of a sentence with an unknown word is the API's with and without it
    # (and for a shipped translator the two differ: <unk>, then the word)
    unknown = "I love Zanzibar."
    set_value(driver, "tr-text", unknown)
    texts = []
    for replace in (False, True):
        box = driver.find_element("id", "tr-replace_unknown")
        if box.is_selected() != replace:
            box.click()
        expect(submit(driver, "form-translate", "tr-output") == "done", "translate did not finish")
        status, api = d.api("/translate", {"model": name, "text": unknown, "beam_size": 4,
                                           "attention": True, "replace_unknown": replace})
        expect(status == 200, f"API {status} {api}")
        want = api["translations"][0]["text"].strip()
        result = driver.find_element("id", "tr-result").text
        expect(result == want, f"replace_unknown {replace}: translation {result!r}, API {want!r}")
        texts.append(want)
    if name != "toy-translator":
        expect(texts[0] != texts[1] and "zanzibar" in texts[1],
               f"replace_unknown changed nothing: {texts}")


def check_keyboard_and_labels(driver, d):
    from selenium.webdriver.common.keys import Keys

    open_page(driver, d.base, "generate")
    tabs = driver.find_elements("css selector", "[role=tablist] [role=tab]")
    visible = [t for t in tabs if t.is_displayed()]
    for t in tabs:
        panel = driver.find_element("id", t.get_attribute("aria-controls"))
        expect(panel.get_attribute("role") == "tabpanel"
               and panel.get_attribute("aria-labelledby") == t.get_attribute("id"),
               f"tab {t.get_attribute('id')} and its panel")

    def state():
        return driver.execute_script(
            "return [document.activeElement.id, [...document.querySelectorAll('[role=tab]')]"
            ".filter(t => t.getAttribute('aria-selected') === 'true').map(t => t.id),"
            "[...document.querySelectorAll('[role=tabpanel]')].filter(p => !p.hidden).map(p => p.id)]")

    visible[0].click()
    ids = [t.get_attribute("id") for t in visible]
    driver.switch_to.active_element.send_keys(Keys.ARROW_RIGHT)
    got = state()
    expect(got == [ids[1], [ids[1]], [ids[1].replace("tab-", "panel-")]], f"after ArrowRight: {got}")
    driver.switch_to.active_element.send_keys(Keys.END)
    expect(state()[0] == ids[-1], f"after End: {state()}")
    driver.switch_to.active_element.send_keys(Keys.HOME)
    expect(state()[0] == ids[0], f"after Home: {state()}")
    driver.switch_to.active_element.send_keys(Keys.ARROW_LEFT)
    expect(state()[0] == ids[-1], f"ArrowLeft from the first: {state()}")
    # only the selected tab is in the Tab order
    tabindex = [t.get_attribute("tabindex") for t in visible]
    expect(tabindex.count("0") == 1, f"tabindex of the tabs {tabindex}")
    # Tab from the selected tab goes into its panel
    driver.switch_to.active_element.send_keys(Keys.TAB)
    active = driver.execute_script("return document.activeElement.closest('[role=tabpanel]')?.id")
    expect(active == ids[-1].replace("tab-", "panel-"), f"Tab went to {active}")
    # every control has a label
    unlabelled = driver.execute_script(
        "return [...document.querySelectorAll('input, select, textarea')].filter(e => "
        "!(e.labels && e.labels.length) && !e.getAttribute('aria-label')).map(e => e.id || e.name)")
    expect(not unlabelled, f"controls without a label: {unlabelled}")
    # focus is visible: an outline on the focused tab
    outline = driver.execute_script(
        "const t = document.activeElement; return getComputedStyle(t).outlineStyle")
    expect(outline not in ("none", ""), f"focused control outline {outline}")


def check_phone(driver, d, shot_dir, small, translator):
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": 375, "height": 800, "deviceScaleFactor": 1, "mobile": True})
    try:
        over = []
        open_page(driver, d.base, "generate")
        fill_generate(driver, "names-generator", {"prefix": "Ak", "category": "Japanese",
                                                  "temperature": 0.8, "n": 3, "seed": 7})
        submit(driver, "form-generate", "gen-output")
        width = "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        w = driver.execute_script("return " + width)
        expect(w[1] == 375, f"the viewport is {w[1]} px wide, not 375")
        if w[0] > w[1]:
            over.append(("generate", w))
        screenshot(driver, shot_dir, "playground-phone", css="body", small=small)
        click_tab(driver, "classify")
        submit(driver, "form-classify", "cls-output")
        submit(driver, "form-batch", "batch-output")
        w = driver.execute_script("return " + width)
        if w[0] > w[1]:
            over.append(("classify", w))
        click_tab(driver, "score")
        set_value(driver, "score-model", "shakespeare")
        set_value(driver, "score-text", "To be, or not to be, that is the question.")
        submit(driver, "form-score", "score-output")
        w = driver.execute_script("return " + width)
        if w[0] > w[1]:
            over.append(("score", w))
        if translator:
            click_tab(driver, "translate")
            set_value(driver, "tr-model", translator)
            submit(driver, "form-translate", "tr-output")
            w = driver.execute_script("return " + width)
            if w[0] > w[1]:
                over.append(("translate", w))
        expect(not over, f"horizontal overflow at 375 px (scrollWidth, clientWidth): {over}")
    finally:
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def check_no_ui(binary, models):
    for flags, env in [(["--no-ui"], None), ([], {"RNNSERVE_NO_UI": "1"})]:
        d = Daemon(binary, models, flags, env)
        try:
            for path in ["/", "/ui/app.js", "/ui/app.css"]:
                status, _, body = d.request("GET", path)
                expect(status == 404, f"{flags or env}: GET {path} gave {status}")
                err = json.loads(body)["error"]
                expect(err["code"] == "not_found" and "playground" not in err["message"],
                       f"{flags or env}: {err}")
            status, _ = d.api("/v1/models")
            expect(status == 200, f"/v1/models gave {status}")
            # a request is counted when its connection completes, which can
            # come after the client has its answer: ask again for up to 2 s
            for _ in range(20):
                _, _, metrics = d.request("GET", "/metrics")
                if b'route="other",status="404"} 3' in metrics:
                    break
                time.sleep(0.1)
            expect(b'route="other",status="404"} 3' in metrics, "the 404s are not counted as other")
            expect(b'route="/",status="200"' not in metrics, "a page route was counted")
        finally:
            code = d.stop()
        expect(code == 0, f"the --no-ui daemon exited {code}: {d.why_failed}")


# ---- the run ---------------------------------------------------------------

def main(argv):
    args = argv[1:]
    shot_dir = None
    if "--screenshots" in args:
        i = args.index("--screenshots")
        shot_dir = args[i + 1]
        del args[i:i + 2]
    small = "--small" in args  # pictures for docs/: palette PNGs
    if small:
        args.remove("--small")
    if len(args) != 3:
        sys.exit(__doc__)
    binary, shipped, golden = args
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("python3-selenium")
    if missing:
        report("prerequisites", False,
               f"missing {', '.join(missing)} (Debian: chromium chromium-driver python3-selenium;"
               " scripts/install-deps.sh --test installs them)")
        finish()
    tmp = tempfile.mkdtemp(prefix="rnnserve-browser-")
    shot_dir = shot_dir or os.path.join(tmp, "screenshots")
    os.makedirs(shot_dir, exist_ok=True)
    models = os.path.join(tmp, "models")
    os.makedirs(models)
    for f in sorted(os.listdir(shipped)):
        if f.endswith(".safetensors"):
            os.symlink(os.path.abspath(os.path.join(shipped, f)), os.path.join(models, f))
    shutil.copy(os.path.join(golden, "translator_gru_bi2.model.safetensors"),
                os.path.join(models, "toy-translator.safetensors"))
    only_toy = os.path.join(tmp, "toy")
    os.makedirs(only_toy)
    shutil.copy(os.path.join(golden, "translator_gru_bi2.model.safetensors"),
                os.path.join(only_toy, "toy-translator.safetensors"))

    d = driver = None
    try:
        d = Daemon(binary, models)
        driver = start_browser(os.path.join(tmp, "profile"))
        _, listed = d.api("/v1/models")
        translators = [m["name"] for m in listed["models"] if m["task"] == "translator"]
        shipped_translators = [t for t in translators if t != "toy-translator"]
        checks = [
            ("page and assets served with their headers", lambda: check_serving(d)),
            ("the page lists the models of /v1/models", lambda: check_lists_models(driver, d)),
            ("classify Nakamura: the API's top label, bars, a batch table",
             lambda: check_classify(driver, d, shot_dir, small)),
            ("generate with a seed: streamed, one reply and fallback equal the API",
             lambda: check_generate(driver, d, shot_dir, small)),
            ("generate on a textlm: prompt and max_tokens, the API's text",
             lambda: check_generate_textlm(driver, d)),
            ("errors: the API's message next to the field it names",
             lambda: check_errors(driver, d, shot_dir, small)),
            ("score: one coloured span per token", lambda: check_score(driver, d, shot_dir, small)),
            ("translate (toy translator): heat map rows and columns",
             lambda: check_translate(driver, d, "toy-translator", shot_dir, small,
                                     shot=not shipped_translators)),
        ]
        for t in shipped_translators:
            checks.append((f"translate ({t}): heat map rows and columns",
                           lambda t=t: check_translate(driver, d, t, shot_dir, small, shot=True)))
        checks += [
            ("tabs by keyboard, ARIA roles, labels, visible focus; contrast on every tab",
             lambda: check_keyboard_and_labels(driver, d)),
            ("375 px wide: no horizontal overflow",
             lambda: check_phone(driver, d, shot_dir, small, "toy-translator")),
            ("--no-ui and RNNSERVE_NO_UI: / is a 404", lambda: check_no_ui(binary, only_toy)),
        ]
        for name, fn in checks:
            try:
                fn()
                report(name, True)
            except CheckFailed as e:
                report(name, False, str(e))
            except Exception as e:  # a selenium error is a failure of that check
                report(name, False, f"{type(e).__name__}: {e}\n{traceback.format_exc(limit=3)}")
        if not shipped_translators:
            print("skip translate with a shipped translator: models/ has none "
                  "(the toy translator of tests/parity/golden was tested)", flush=True)
        print(f"screenshots in {shot_dir}", flush=True)
    except Exception as e:
        report("setup", False, f"{type(e).__name__}: {e}")
    finally:
        if driver:
            driver.quit()
        if d:
            code = d.stop()
            report("the daemon exits 0 on SIGTERM after the page's requests", code == 0,
                   f"exit status {code}: {d.why_failed}")
        if shot_dir.startswith(tmp):
            # keep the pictures of a failed run for a look
            if failed == 0:
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print(f"kept {tmp}", flush=True)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main(sys.argv)
