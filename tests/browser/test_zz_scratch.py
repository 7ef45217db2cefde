import time
from tests.browser.conftest import check_accessibility

def test_probe(page, live):
    t=time.monotonic()
    page.goto(live.urls["stub_service"] + "/check-your-paye-tax/")
    print("JS?", page.context)
    page.get_by_role("button", name="Start now").click()
    page.wait_for_load_state()
    print(page.url, page.title())
    try:
        t0=time.monotonic(); check_accessibility(page); print("axe ok", time.monotonic()-t0)
    except Exception as e:
        print("axe err", repr(e)[:500])
    print("total", time.monotonic()-t)
