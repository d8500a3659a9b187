#!/usr/bin/env python3
"""make_bill_seeds.py - writes the seed corpora of the bill reader fuzz
targets (tests/fuzz/corpus/fuzz_bill_{alipay,wechat,bank}/): one good bill
of each channel's shape, small, as the unit tests write them.
Run from the top of the tree: python3 tests/fuzz/make_bill_seeds.py"""
import gzip, io, os, zipfile

top = os.path.join(os.path.dirname(__file__), "corpus")

def put(target, name, data):
    d = os.path.join(top, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def zipped(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, (2026, 12, 7, 9, 0, 0)), data)
    return buf.getvalue()

ali = ("#支付宝业务明细查询\r\n#-----业务明细列表-----\r\n"
       "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,订单金额（元）,"
       "商家实收（元）,退款批次号/请求号,服务费（元）\r\n"
       "2026120622001400001\t,P0001\t,交易\t,\"咖啡, 大杯\"\t,2026-12-06 10:00:00\t,"
       "2026-12-06 10:00:05\t,100.00\t,100.00\t,\t,-0.60\t\r\n"
       "2026120622001400001\t,P0001\t,退款\t,x\t,2026-12-06 11:00:00\t,"
       "2026-12-06 11:00:05\t,100.00\t,-20.00\t,R0001\t,0.12\t\r\n"
       "#-----业务明细列表结束-----\r\n"
       "#交易合计：1笔，商家实收共：100.00元，商家优惠共：0.00元\r\n"
       "#退款合计：1笔，商家实收共：-20.00元，商家优惠共：0.00元\r\n")
put("fuzz_bill_alipay", "good.zip",
    zipped([("2088_20261206_业务明细.csv", ali.encode("gb18030"))]))

wx = ("交易时间,微信订单号,商户订单号,交易状态,货币种类,应结订单金额,微信退款单号,"
      "商户退款单号,退款金额,退款状态,手续费,订单金额\r\n"
      "`2026-12-06 10:00:00,`4200000001,`P0001,`SUCCESS,`CNY,`1.00,`0,`0,`0.00,`,"
      "`0.00600,`1.00\r\n"
      "`2026-12-06 12:00:00,`4200000001,`P0001,`REFUND,`CNY,`0.00,`503001,`R0001,"
      "`0.50,`SUCCESS,`-0.00300,`1.00\r\n"
      "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,"
      "申请退款总金额\r\n`2,`1.00,`0.50,`0.00,`0.00300,`1.00,`0.50\r\n")
put("fuzz_bill_wechat", "good.gz", gzip.compress(wx.encode(), mtime=0))

def rec(code, qid, when, amount, dc, fee, order, orig):
    return "%-3s %-21s %-14s %012d %c%012d %-40s %-40s 00 测试商户\r\n" % (
        code, qid, when, amount, dc, fee, order, orig)

bank = ("HDR 777290058110048 20261206\r\n" +
        rec("S22", "512612061000000000001", "20261206100005", 10000, "D", 60,
            "P00000001", "") +
        rec("S30", "512612061200000000002", "20261206120000", 2000, "C", 12,
            "R00000001", "P00000001") +
        "TRL %010d %016d\r\n" % (2, 12000))
put("fuzz_bill_bank", "good.zip",
    zipped([("INN26120688ZM_777290058110048", bank.encode("gb18030"))]))
