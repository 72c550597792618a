"""Merchant B orders a terminal, pays the deposit, receives it, activates it and reaches its
target — all in the browser — while a reviewer approves and ships it in the console."""

import re

from playwright.sync_api import expect

from conftest import DESKTOP, PHONE, merchant_login, staff_login

B, B_ID, B_CARD = "13800000002", "440305199001014561", "6217001234567890122"


def test_an_order_from_the_plans_to_an_active_terminal(person):
    b = person(PHONE)
    b.go("/plans?plan=ACT-99&amount=80000&kind=credit_card")
    expect(b.page.locator("#quote")).to_contain_text("¥480.00")
    merchant_login(b, B)
    b.page.get_by_role("link", name="申请机具").first.click()
    b.page.get_by_label("机型").fill("拉卡拉 P2")
    b.page.get_by_label("收货地址").fill("广州市天河区体育西路 1 号")
    b.page.get_by_role("button", name="提交申请").click()
    b.page.wait_for_url(re.compile(r".*/orders/to_\w+\?notice=placed$"))
    order_id = re.search(r"to_\w+", b.page.url).group(0)
    b.assert_fits()
    b.shot("order")

    reviewer = person(DESKTOP)
    staff_login(reviewer, "reviewer")
    reviewer.go("/console/orders")
    reviewer.page.get_by_role("link", name=order_id).click()
    reviewer.page.get_by_role("button", name="通过", exact=True).click()

    b.page.reload()
    b.page.get_by_role("button", name=re.compile("支付押金")).click()
    b.reload_until(lambda p: "押金已付" in p.locator("#status").inner_text())

    reviewer.page.reload()
    reviewer.page.get_by_label("SN").fill("NEW-B-0009")
    reviewer.page.get_by_label("快递公司").fill("顺丰")
    reviewer.page.get_by_label("运单号").fill("SF1234567890")
    reviewer.page.get_by_role("button", name="确认发货").click()

    b.page.reload()
    b.page.get_by_role("button", name="确认收货").click()
    expect(b.page.get_by_role("status")).to_contain_text("已确认收货")

    b.go("/devices")
    terminal = b.page.locator("#t-NEW-B-0009")
    for _ in range(2):
        terminal.get_by_role("button", name=re.compile("演示")).click()
        expect(b.page.get_by_role("status")).to_contain_text("5,000")
    expect(terminal.get_by_role("link", name="退押金")).to_be_visible()
    b.go(f"/orders/{order_id}")
    expect(b.page.locator("#status")).to_have_text("已激活")

    # And the deposit comes back: the plan approves it, the sandbox bank pays.
    b.go("/apply/NEW-B-0009")
    b.page.get_by_label("身份证号").fill(B_ID)
    b.page.get_by_label("结算卡号").fill(B_CARD)
    b.page.get_by_role("button", name="下一步：核对金额").click()
    b.page.get_by_role("button", name="确认提交").click()
    b.page.wait_for_url(re.compile(r".*/applications/ra_\w+\?notice=submitted$"))
    b.reload_until(lambda p: "已退款" in p.locator("#status").inner_text())
