"""The staff console on a desktop: four eyes, then the payout, then the merchant's receipt."""

import re

from playwright.sync_api import expect

from conftest import DESKTOP, PHONE, merchant_login, staff_login
from test_portal import A, A_CARD, A_ID


def test_claim_approve_second_approval_then_the_merchant_prints_the_receipt(person):
    m = person(PHONE)
    merchant_login(m, A)
    m.go("/apply/DEMO-REVIEW-01")
    m.page.get_by_label("身份证号").fill(A_ID)
    m.page.get_by_label("结算卡号").fill(A_CARD)
    m.page.get_by_role("button", name="下一步：核对金额").click()
    m.page.get_by_role("button", name="确认提交").click()
    m.page.wait_for_url(re.compile(r".*/applications/ra_\w+"))
    application_id = re.search(r"ra_\w+", m.page.url).group(0)

    reviewer = person(DESKTOP)
    staff_login(reviewer, "reviewer")
    reviewer.shot("console-queue")
    reviewer.page.get_by_role("link", name=application_id).click()
    reviewer.page.get_by_role("button", name="受理").click()
    expect(reviewer.page.get_by_role("status")).to_contain_text("已受理")
    reviewer.shot("console-application")
    reviewer.page.get_by_role("button", name="批准", exact=True).click()
    expect(reviewer.page.locator("#status")).to_have_text("待复核")
    expect(reviewer.page.get_by_role("button", name=re.compile("批准"))).to_have_count(0)

    # Neither the first approver (the reviewer) nor another reviewer may give the second approval.
    other = person(DESKTOP)
    staff_login(other, "reviewer2")
    other.go(f"/console/applications/{application_id}")
    expect(other.page.locator("#no-actions")).to_be_visible()
    expect(other.page.get_by_role("button", name=re.compile("批准"))).to_have_count(0)

    approver = person(DESKTOP)
    staff_login(approver, "approver")
    approver.go(f"/console/applications/{application_id}")
    approver.page.get_by_role("button", name="复核批准").click()
    expect(approver.page.get_by_role("status")).to_contain_text("已批准")

    # The sandbox bank pays; the merchant sees it refunded and prints the receipt.
    m.go(f"/applications/{application_id}")
    m.reload_until(lambda p: p.locator("#status").inner_text() == "已退款")
    m.page.get_by_role("link", name="查看并打印退款凭证").click()
    receipt = m.page.locator("article.receipt")
    expect(receipt).to_contain_text("贰佰玖拾玖元整")
    expect(receipt).to_contain_text("6222 **** **** 0128")
    m.assert_fits()
    m.shot("receipt")
    pdf = m.page.pdf(format="A4")
    assert pdf.startswith(b"%PDF") and len(pdf) > 5_000

    finance = person(DESKTOP)
    staff_login(finance, "finance")
    expect(finance.page.get_by_role("heading", name="概览")).to_be_visible()
    expect(finance.page.locator("svg")).to_have_count(3)
    finance.shot("console-dashboard")
    finance.page.get_by_role("link", name="打款").click()
    expect(finance.page.locator("table")).to_contain_text(application_id)
    finance.shot("console-payouts")


def test_each_main_page_fits_a_phone_and_a_desktop(person):
    pages = {
        "devices": "/devices",
        "applications": "/applications",
        "outstanding": "/outstanding",
        "tickets": "/tickets",
        "notifications": "/notifications",
        "apply": "/apply/DEMO-AUTO-01",
    }
    for size in (PHONE, DESKTOP):
        s = person(size)
        s.go("/")
        s.shot("start")
        merchant_login(s, A)
        for name, path in pages.items():
            response = s.go(path)
            assert response.status == 200, path
            s.assert_fits()
            s.shot(name)
    admin = person(DESKTOP)
    staff_login(admin, "admin")
    for name in ["dashboard", "plans", "audit", "support"]:
        assert admin.go(f"/console/{name}").status == 200, name
        admin.shot(f"console-{name}")
