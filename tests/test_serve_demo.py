"""The demo page at / in headless Chromium: type a review, get the label, its probability bar
and the review's tokens shaded by attribution (checked in the DOM and in a screenshot)."""

from __future__ import annotations

import io
import subprocess

import numpy as np
import pytest
from serve_process import ROOT, start_server

REVIEW = "a wonderful film with great acting, not boring at all"


def browser_paths() -> dict[str, str]:
    """Chromium and chromedriver, installed by scripts/chromium_local.sh if need be."""
    proc = subprocess.run(
        [str(ROOT / "scripts" / "chromium_local.sh"), "install"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        reason = (proc.stderr.strip().splitlines() or ["no reason given"])[-1]
        pytest.skip(f"no headless Chromium here: {reason}")
    return dict(line.split("=", 1) for line in proc.stdout.splitlines() if "=" in line)


@pytest.fixture
def browser():
    pytest.importorskip("selenium", reason="the demo test drives Chromium with selenium")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    paths = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = paths["chromium"]
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1000,900"):
        options.add_argument(argument)
    options.add_argument("--force-device-scale-factor=1")  # screenshot pixels = CSS pixels
    driver = webdriver.Chrome(options=options, service=Service(paths["chromedriver"]))
    yield driver
    driver.quit()


def shaded_pixels(png: bytes, box: dict[str, float]) -> tuple[int, int]:
    """(green-tinted, red-tinted) pixels inside `box` of the screenshot."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    left, top = int(box["x"]), int(box["y"])
    crop = image.crop((left, top, left + int(box["width"]), top + int(box["height"])))
    r, g, b = np.asarray(crop, dtype=np.int16).transpose(2, 0, 1)
    green = (g > r + 25) & (g > b + 25)
    red = (r > g + 25) & (r > b + 25)
    return int(green.sum()), int(red.sum())


@pytest.mark.slow
def test_demo_page_shows_the_label_and_shades_the_tokens(browser, served_lstm_checkpoint, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    server = start_server(served_lstm_checkpoint, tmp_path / "run")
    try:
        browser.get(f"http://127.0.0.1:{server.port}/")
        browser.find_element(By.ID, "text").send_keys(REVIEW)
        browser.find_element(By.ID, "go").click()
        WebDriverWait(browser, 30).until(lambda d: d.find_element(By.ID, "label").text)
        label = browser.find_element(By.ID, "label").text
        expected = server.post("/predict", {"text": REVIEW})[1]["label"]
        assert label == expected
        bars = browser.find_elements(By.CSS_SELECTOR, "#bars .fill")
        assert len(bars) == 2 and all(bar.size["width"] > 0 for bar in bars)
        tokens = browser.find_elements(By.CSS_SELECTOR, "#tokens .token")
        assert "".join(t.text for t in tokens).replace(" ", "") in REVIEW.replace(" ", "")
        assert len(tokens) >= 8
        shades = [t.value_of_css_property("background-color") for t in tokens]
        assert any(not shade.endswith(", 0)") for shade in shades), shades

        png = browser.get_screenshot_as_png()
        (tmp_path / "demo.png").write_bytes(png)
        area = browser.find_element(By.ID, "tokens").rect
        green, red = shaded_pixels(png, area)
        assert green + red > 200, (green, red)  # shading is visible, not only in the DOM
        assert browser.find_element(By.ID, "error").text == ""
    finally:
        server.stop()
