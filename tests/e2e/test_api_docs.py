"""The gateway's /openapi.json and /docs, the latter driven in headless Chromium like a person."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

API = "/services/customerservice/api/v2"
METHODS = {"get", "put", "post", "delete", "patch"}
# Debian's packages, installed by `make test` (deploy/local/test_tools.sh).
CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
)


async def test_gateway_serves_the_openapi_document_without_a_token(running_suite, http):
    """GET /openapi.json needs no token and describes the customer API under public paths."""
    async with http.get(f"{running_suite.base_url}/openapi.json") as response:
        assert response.status == 200
        assert response.content_type == "application/json"
        document = await response.json()
    assert document["openapi"] == "3.1.0"
    assert "post" in document["paths"][f"{API}/customers"]
    assert "/auth/realms/{tenant}/protocol/openid-connect/token" in document["paths"]


async def test_docs_assets_are_served_locally(running_suite, http):
    """The docs page loads Swagger UI from the gateway itself, never from a CDN."""
    async with http.get(f"{running_suite.base_url}/docs") as response:
        assert response.status == 200
        page = await response.text()
    assert "http://" not in page and "https://" not in page
    async with http.get(f"{running_suite.base_url}/docs/swagger-ui-bundle.js") as response:
        assert response.status == 200
        assert len(await response.read()) > 100_000


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.fail(f"{path} is missing: `make test` installs chromium and chromium-driver")
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must never download a driver
    options = Options()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def _wait(driver: WebDriver, seconds: float = 30) -> WebDriverWait:
    return WebDriverWait(driver, seconds)


def _click(driver: WebDriver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    element.click()


def _use_docs_page(base_url: str, driver: WebDriver, client, customer_id: str) -> dict:
    """Open /docs, authorize with the bearer token, and call GET /customers/{id} from the page."""
    driver.get(f"{base_url}/docs")
    wait = _wait(driver)
    wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    paths = {
        element.get_attribute("data-path")
        for element in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")
    }
    blocks = len(driver.find_elements(By.CSS_SELECTOR, ".opblock"))

    _click(driver, driver.find_element(By.CSS_SELECTOR, "button.authorize"))
    bearer = wait.until(
        ec.presence_of_element_located(
            (By.XPATH, "//div[contains(@class,'auth-container')][.//h4[contains(.,'bearerAuth')]]")
        )
    )
    bearer.find_element(By.CSS_SELECTOR, "input").send_keys(client.token)
    _click(driver, bearer.find_element(By.CSS_SELECTOR, "button.authorize"))
    _click(driver, driver.find_element(By.CSS_SELECTOR, "button.btn-done"))

    operation = driver.find_element(
        By.XPATH,
        f"//div[contains(@class,'opblock-get')][.//*[@data-path='{API}/customers/{{id}}']]",
    )
    _click(driver, operation.find_element(By.CSS_SELECTOR, ".opblock-summary"))
    _click(driver, wait.until(lambda _: operation.find_element(By.CSS_SELECTOR, ".try-out__btn")))
    operation.find_element(By.CSS_SELECTOR, "tr[data-param-name='X-TWC-Tenant'] input").send_keys(
        client.tenant
    )
    operation.find_element(By.CSS_SELECTOR, "tr[data-param-name='id'] input").send_keys(customer_id)
    _click(driver, operation.find_element(By.CSS_SELECTOR, "button.execute"))
    status = wait.until(
        lambda _: operation.find_element(
            By.CSS_SELECTOR, ".live-responses-table .response .response-col_status"
        )
    )
    body = operation.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
    return {"paths": paths, "blocks": blocks, "status": status.text.strip(), "body": body}


async def test_docs_page_renders_every_operation_and_tries_a_call(
    running_suite, http, client, browser
):
    """In Chromium: every documented operation renders; after authorizing with a bearer token,
    "Try it out" on GET /customers/{id} shows the customer the API returns."""
    base = running_suite.base_url
    async with http.get(f"{base}/openapi.json") as response:
        document = await response.json()
    operations = sum(1 for item in document["paths"].values() for m in item if m in METHODS)
    async with http.post(
        f"{base}{API}/customers", json={"email": "docs@example.com"}, headers=client.headers
    ) as response:
        assert response.status == 201
        customer_id = (await response.json())["id"]

    seen = await asyncio.to_thread(_use_docs_page, base, browser, client, customer_id)

    assert seen["blocks"] == operations
    assert seen["paths"] == set(document["paths"])
    assert seen["status"] == "200"
    assert customer_id in seen["body"] and "docs@example.com" in seen["body"]
