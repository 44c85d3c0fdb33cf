#!/usr/bin/env python3
"""The console in a real headless Chromium (Debian's chromium and chromium-driver) driven by Selenium.

Signs in with the admin key, finds the saga given on the list, opens its timeline and checks that every
step the API reports is drawn, opens the order it touched, then opens the catalog and checks that the
product given shows its name as text with no script run (no alert, no <img> made from the name).
Screenshots go to --screenshots. Exit status 0 only when every check holds; each failure is printed.

With --failed-saga, also opens that FAILED saga, is refused a retry without a reason, retries it with one,
and sees it complete with the operator's note on its timeline.

usage: console_check.py --gateway URL --key ADMIN_KEY --saga ID --sku SKU --name NAME --screenshots DIR
                        [--failed-saga ID]
"""
import argparse
import json
import pathlib
import sys
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

parser = argparse.ArgumentParser()
for option in ("gateway", "key", "saga", "sku", "name", "screenshots"):
    parser.add_argument("--" + option, required=True)
parser.add_argument("--failed-saga")
args = parser.parse_args()
shots = pathlib.Path(args.screenshots)
shots.mkdir(parents=True, exist_ok=True)
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)
        print("FAIL:", message)


def api(path):
    request = urllib.request.Request(args.gateway + path, headers={"Authorization": "Bearer " + args.key})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def no_alert(driver, where):
    try:
        alert = driver.switch_to.alert
        check(False, f"{where}: an alert opened ({alert.text!r}): a value ran as script")
        alert.dismiss()
    except NoAlertPresentException:
        pass


options = webdriver.ChromeOptions()
for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1400,1000"):
    options.add_argument(flag)
options.binary_location = "/usr/bin/chromium"
options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
wait = WebDriverWait(driver, 30)
try:
    # Sign in: a wrong key is refused, the admin key lands on the sagas.
    driver.get(args.gateway + "/console")
    wait.until(EC.presence_of_element_located((By.ID, "admin-key"))).send_keys("not-a-key")
    driver.find_element(By.ID, "sign-in-button").click()
    wait.until(EC.text_to_be_present_in_element((By.ID, "sign-in-error"), "not valid"))
    box = wait.until(EC.presence_of_element_located((By.ID, "admin-key")))
    box.clear()
    box.send_keys(args.key)
    driver.find_element(By.ID, "sign-in-button").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#saga-rows tr[data-saga="{args.saga}"]')))
    check(driver.execute_script("return sessionStorage.getItem('sagamart.adminKey')") == args.key, "the key is in the tab's session storage")
    # Read in one script: the counts refresh themselves, and elements found before a refresh go stale.
    counts = driver.execute_script(
        "return Array.from(document.querySelectorAll('#counts .count'))"
        ".map(box => [box.dataset.status, box.querySelector('b').textContent])"
    )
    check(len(counts) == 5, f"live counts for the five statuses, saw {len(counts)}")
    expected_counts = api("/v1/sagas/counts")
    for status, shown in counts:
        check(shown == str(expected_counts[status]), f"the {status} count shows {shown}, the API says {expected_counts[status]}")
    driver.save_screenshot(str(shots / "sagas.png"))

    # A filter that excludes the saga hides it; back to all shows it.
    driver.get(args.gateway + "/console#/sagas?kind=cancellation&refresh=0")
    wait.until(EC.presence_of_element_located((By.ID, "saga-rows")))
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#saga-rows tr"))
    check(not driver.find_elements(By.CSS_SELECTOR, f'#saga-rows tr[data-saga="{args.saga}"]'), "the kind filter hides a checkout")
    driver.get(args.gateway + "/console#/sagas?refresh=0")
    row = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#saga-rows tr[data-saga="{args.saga}"]')))

    # The saga's timeline: one lane per step the API reports, in order, each with a bar.
    row.find_element(By.CSS_SELECTOR, "a").click()
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#timeline .lane")))
    expected = [step["name"] for step in api("/v1/sagas/" + args.saga)["steps"]]
    lanes = driver.find_elements(By.CSS_SELECTOR, "#timeline .lane")
    drawn = [lane.get_attribute("data-step") for lane in lanes]
    check(drawn == expected, f"the timeline draws every step: expected {expected}, saw {drawn}")
    bars = driver.find_elements(By.CSS_SELECTOR, "#timeline .lane .bar")
    check(len(bars) == len(expected) and all(bar.size["width"] >= 1 for bar in bars), "each step has a bar on the time axis")
    wait.until(lambda d: "Order" in d.find_element(By.ID, "touched").text and "Loading" not in d.find_element(By.ID, "touched").text)
    check("APPROVED" in driver.find_element(By.ID, "touched").text, "the order it touched is shown approved")
    driver.save_screenshot(str(shots / "saga-timeline.png"))

    # The catalog: the product's name is text, nothing ran, no image was made from it.
    driver.get(args.gateway + "/console#/catalog")
    cell = wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, f'#products tr[data-sku="{args.sku}"] .product-name')))
    check(cell.text == args.name, f"the product's name shows as text: {cell.text!r}")
    check(not driver.find_elements(By.CSS_SELECTOR, "#products img"), "no <img> was made from a product's name")
    no_alert(driver, "catalog")
    driver.save_screenshot(str(shots / "catalog.png"))

    # The orders page finds the order by the customer.
    order_id = api("/v1/sagas/" + args.saga)["orderId"]
    driver.get(args.gateway + "/console#/orders?q=" + order_id)
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#order-results a")))
    check(order_id in driver.find_element(By.ID, "order-results").text, "the order search finds the order by id")
    driver.save_screenshot(str(shots / "orders.png"))

    # Feeds and the auditor's report load.
    driver.get(args.gateway + "/console#/consumers")
    wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#feeds tbody tr")))
    driver.save_screenshot(str(shots / "feeds.png"))
    driver.get(args.gateway + "/console#/auditor")
    wait.until(EC.text_to_be_present_in_element((By.TAG_NAME, "h2"), "Consistency auditor"))
    driver.save_screenshot(str(shots / "auditor.png"))

    # An operator's retry of a FAILED saga, with a reason, from its page.
    if args.failed_saga:
        driver.get(args.gateway + "/console#/sagas/" + args.failed_saga)
        retry = wait.until(EC.presence_of_element_located((By.ID, "action-retry")))
        check(retry.is_enabled(), "Retry is offered for a FAILED saga")
        check(not driver.find_element(By.ID, "action-compensate").is_enabled(), "Force compensate is not offered past the pivot")
        retry.click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "action-result"), "Give a reason"))
        reason = "capture refused by an injected fault, now removed"
        driver.find_element(By.ID, "action-reason").send_keys(reason)
        driver.find_element(By.ID, "action-retry").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "action-result"), "retry accepted"))
        deadline = time.time() + 30
        completed = False
        while time.time() < deadline and not completed:
            time.sleep(1)
            driver.get(args.gateway + "/console#/sagas/" + args.failed_saga)
            driver.refresh()
            heading = wait.until(EC.presence_of_element_located((By.TAG_NAME, "h2")))
            wait.until(EC.presence_of_element_located((By.CSS_SELECTOR, "#timeline .lane")))
            completed = "COMPLETED" in heading.text
        check(completed, "the retried saga completes")
        notes = driver.find_element(By.ID, "timeline").text
        check(reason in notes, f"the operator's reason is on the timeline: {notes!r}")
        driver.save_screenshot(str(shots / "saga-retried.png"))

    # Nothing ran against the page's policy: a CSP violation is logged by the browser.
    for entry in driver.get_log("browser"):
        check("Content Security Policy" not in entry["message"], f"a CSP violation: {entry['message']}")
    no_alert(driver, "end")
except TimeoutException as error:
    driver.save_screenshot(str(shots / "timeout.png"))
    check(False, f"timed out waiting ({error.msg}); the page said: {driver.find_element(By.TAG_NAME, 'body').text[:500]!r}")
finally:
    driver.quit()

print(f"{len(failures)} failures; screenshots in {shots}")
sys.exit(1 if failures else 0)
