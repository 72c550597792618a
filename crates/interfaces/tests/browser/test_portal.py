"""The merchant's journey in the portal, on a phone-sized screen."""

import json
import re
import urllib.request

from playwright.sync_api import expect

from conftest import PHONE, merchant_login

A, B = "13800000001", "13800000002"
A_ID, A_CARD = "310115198506151236", "6222021234567890128"
B_ID, B_CARD = "440305199001014561", "6217001234567890122"
# The smallest PNG file: a voucher photo as far as the type check is concerned.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d49444154789c63000100000500010d0a2db40000000049454e44ae426082"
)


def test_merchant_sees_why_settles_applies_with_a_file_and_follows_it(person):
    s = person(PHONE)
    merchant_login(s, A)
    s.shot("devices")
    expect(s.page.get_by_role("heading", name="我的设备")).to_be_visible()

    # Why DEMO-PROGRESS-01 cannot be refunded yet: the figures and the days left.
    progress = s.page.locator("#t-DEMO-PROGRESS-01")
    expect(progress).to_contain_text("暂不能退押金")
    expect(progress).to_contain_text("交易额已达 ¥3,500.00，目标 ¥10,000.00，还差 ¥6,500.00")
    expect(progress.locator("progress")).to_have_attribute("value", "35")
    expect(progress.locator(".countdown")).to_contain_text("40")
    expect(progress.get_by_role("link", name="退押金")).to_have_count(0)

    # DEMO-OWES-01 owes a yearly fee: settle it, and wait for the bank to confirm.
    owes = s.page.locator("#t-DEMO-OWES-01")
    expect(owes).to_contain_text("尚有未结清款项 ¥60.00")
    owes.get_by_role("link", name="去结清").click()
    s.page.wait_for_url(re.compile(r".*/outstanding$"))
    s.shot("outstanding")
    s.page.get_by_role("button", name="从结算卡扣款结清").first.click()
    expect(s.page.get_by_role("status")).to_contain_text("已发起扣款")
    s.reload_until(lambda p: p.locator(".badge", has_text="已结清").count() > 0)

    # Now it is refundable: apply, with a voucher.
    s.go("/devices")
    owes = s.page.locator("#t-DEMO-OWES-01")
    expect(owes).to_contain_text("可以申请退押金")
    owes.get_by_role("link", name="退押金").click()
    expect(s.page.get_by_label("手机号")).to_have_value(A)
    s.page.get_by_label("身份证号").fill(A_ID)
    s.page.get_by_label("结算卡号").fill(A_CARD)
    s.page.get_by_label("选择文件").set_input_files({"name": "voucher.png", "mimeType": "image/png", "buffer": PNG})
    s.shot("apply")
    s.page.get_by_role("button", name="下一步：核对金额").click()

    # The fee, the deductions and the net, before anything is submitted.
    confirm = s.page.locator("section.confirm")
    expect(confirm.get_by_role("heading", name="请确认")).to_be_visible()
    expect(confirm.locator(".total")).to_contain_text("¥99.00")
    expect(confirm).to_contain_text("附件: 1")
    s.assert_fits()
    s.shot("confirm")
    s.page.get_by_role("button", name="确认提交").click()
    s.page.wait_for_url(re.compile(r".*/applications/ra_\w+\?notice=submitted$"))
    expect(s.page.get_by_role("status")).to_contain_text("申请已提交")

    # The plan approves it by itself, and the sandbox bank pays: the timeline shows each step.
    s.reload_until(lambda p: "已退款" in p.locator("#status").inner_text())
    timeline = s.page.locator("ol.timeline")
    for step in ["已提交，待审核", "已批准，待打款", "打款中", "已退款"]:
        expect(timeline).to_contain_text(step)
    expect(s.page.locator("section", has_text="材料")).to_contain_text("押金凭证")
    s.assert_fits()
    s.shot("application")


def sandbox_code(base_url, phone):
    with urllib.request.urlopen(f"{base_url}/api/v1/sandbox/sms?phone={phone}") as r:
        messages = json.load(r)["items"]
    # The newest text with a code (notices are texted too).
    text = next(m["text"] for m in messages if "验证码" in m["text"])
    return re.search(r"\d{6}", text).group(0)


def test_a_wrong_sms_code_is_refused_on_its_field_and_changes_nothing(person, base_url):
    s = person(PHONE)
    s.go("/")
    s.page.get_by_role("link", name=re.compile("忘记密码")).click()
    s.page.get_by_label("手机号").fill(B)
    s.page.get_by_role("button", name="发送验证码").click()
    expect(s.page.get_by_role("status")).to_contain_text("验证码已发送")
    expect(s.page.locator(".warning")).to_contain_text("请勿告诉任何人")
    real = sandbox_code(base_url, B)
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    s.page.get_by_label("短信验证码").fill(wrong)
    s.page.get_by_label("新密码").fill("Changed@2026x")
    s.page.get_by_role("button", name="重置密码").click()
    code = s.page.get_by_label("短信验证码")
    expect(code).to_have_attribute("aria-invalid", "true")
    expect(s.page.locator("#code-error")).to_contain_text("验证码")
    # The old password still works.
    merchant_login(person(PHONE), B)


def test_a_field_error_is_shown_at_its_field(person):
    s = person(PHONE)
    merchant_login(s, B)
    s.page.locator("#t-DEMO-B-01").get_by_role("link", name="退押金").click()
    s.page.get_by_label("身份证号").fill("44030519900101456X")
    s.page.get_by_label("结算卡号").fill(B_CARD)
    s.page.get_by_role("button", name="下一步：核对金额").click()
    field = s.page.get_by_label("身份证号")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_attribute("aria-describedby", "id_card_no-error")
    expect(s.page.locator("#id_card_no-error")).to_be_visible()
    expect(s.page.get_by_role("alert")).to_be_visible()
    # What was typed is kept.
    expect(s.page.get_by_label("结算卡号")).to_have_value(B_CARD)
    s.shot("field-error")


def test_the_english_switch(person):
    s = person(PHONE)
    merchant_login(s, B)
    s.page.get_by_role("link", name="English").click()
    expect(s.page.get_by_role("heading", name="My devices")).to_be_visible()
    expect(s.page.locator("html")).to_have_attribute("lang", "en")
    s.page.get_by_role("link", name="Refunds").click()
    expect(s.page.get_by_role("heading", name="Refund applications")).to_be_visible()
    expect(s.page.locator("body")).not_to_contain_text("退押金申请")
    s.page.get_by_role("link", name="中文").click()
    expect(s.page.get_by_role("heading", name="退押金申请")).to_be_visible()
