"""The catalogue of reason codes a refusal can carry.

Codes of red-line refusals begin with the red line's code (``RL1_...``). File-level codes refuse the
whole file; record-level codes refuse one record. Every code here is reached by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    FILE = "file"
    RECORD = "record"
    REQUEST = "request"  # an admin's or partner's request to the API refused as a whole; nothing changes


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    level: Level
    en: str
    zh: str


_CATALOGUE: tuple[Reason, ...] = (
    # --- file level: nothing of the file is posted
    Reason(
        "FILE_SIGNATURE_INVALID",
        Level.FILE,
        "The detached signature does not verify over the exact bytes received with any key of the partner.",
        "签名与收到的文件字节不符。",
    ),
    Reason(
        "FILE_SIGNATURE_MALFORMED",
        Level.FILE,
        "The signature is neither 64 raw bytes nor their base64.",
        "签名格式错误。",
    ),
    Reason("FILE_ENCODING_INVALID", Level.FILE, "The file is not UTF-8.", "文件不是 UTF-8 编码。"),
    Reason(
        "FILE_STRUCTURE_INVALID",
        Level.FILE,
        "Header, detail lines or trailer are missing, out of order or malformed.",
        "文件结构错误。",
    ),
    Reason(
        "FILE_RECORD_MALFORMED",
        Level.FILE,
        "A detail line has the wrong number of fields or a non-integer sequence, points or amount.",
        "明细行字段数量或数字格式错误。",
    ),
    Reason(
        "FILE_SEQUENCE_INVALID",
        Level.FILE,
        "Sequence numbers must start at 1 and rise by one.",
        "明细序号必须从 1 开始连续递增。",
    ),
    Reason(
        "FILE_COUNT_MISMATCH",
        Level.FILE,
        "The trailer's record count differs from the detail lines.",
        "尾部记录数与明细不符。",
    ),
    Reason(
        "FILE_TOTALS_MISMATCH",
        Level.FILE,
        "The trailer's control totals differ from the sums of the detail lines.",
        "尾部控制总额与明细合计不符。",
    ),
    Reason(
        "FILE_PARTNER_MISMATCH",
        Level.FILE,
        "The header names another partner than the one submitting.",
        "文件头中的合作方与提交方不一致。",
    ),
    Reason("FILE_VERSION_UNSUPPORTED", Level.FILE, "Unknown file format version.", "不支持的文件格式版本。"),
    Reason(
        "FILE_DUPLICATE",
        Level.FILE,
        "This partner already submitted a file with this id; nothing was posted again.",
        "该文件编号已提交过，未重复入账。",
    ),
    Reason("FILE_TOO_LARGE", Level.FILE, "The file exceeds the size limit.", "文件超过大小限制。"),
    # --- record level: the record is refused, the others go on
    Reason(
        "RECORD_KIND_UNKNOWN",
        Level.RECORD,
        "Record kind must be EARN, REDEEM, REVERSAL or FAMILY_POOL.",
        "记录类型必须是 EARN、REDEEM、REVERSAL 或 FAMILY_POOL。",
    ),
    Reason(
        "RECORD_TIME_INVALID",
        Level.RECORD,
        "Business time must be RFC 3339 with an offset, and not in the future.",
        "业务时间格式错误或在未来。",
    ),
    Reason(
        "RECORD_FIELD_INVALID",
        Level.RECORD,
        "A field is too long, has control characters or does not fit the record kind.",
        "字段不合规。",
    ),
    Reason(
        "RECORD_PARTNER_UNKNOWN",
        Level.RECORD,
        "Issuer or fulfiller is not a registered partner.",
        "发行方或兑换方未注册。",
    ),
    Reason(
        "RECORD_REPORTER_MISMATCH",
        Level.RECORD,
        "EARN is reported by its issuer, REDEEM by its fulfiller, REVERSAL by whoever reported the original.",
        "记录须由对应的一方报送。",
    ),
    Reason(
        "RECORD_POINTS_INVALID",
        Level.RECORD,
        "Points must be positive (a REVERSAL may give back 0 points with a spend refund).",
        "积分数无效。",
    ),
    Reason("RECORD_MEMBER_MISSING", Level.RECORD, "A REDEEM names no member.", "兑换记录缺少会员标识。"),
    Reason(
        "RECORD_SAME_PARTY",
        Level.RECORD,
        "Redeeming an issuer's points at the issuer itself is not alliance clearing.",
        "发行方自兑不属于联盟清算。",
    ),
    Reason(
        "RL1_MEMBER_MISSING",
        Level.RECORD,
        "RL1: points are issued only to an identified member; the purchase names none.",
        "RL1：积分只能发给可识别的会员，该消费无会员标识。",
    ),
    Reason(
        "RL1_RECEIPT_MISSING",
        Level.RECORD,
        "RL1: an EARN needs a real receipt reference.",
        "RL1：积分发放须有真实小票号。",
    ),
    Reason(
        "RL1_SPEND_NOT_POSITIVE",
        Level.RECORD,
        "RL1: an EARN needs a purchase with spend > 0.",
        "RL1：积分发放须有实际消费金额。",
    ),
    Reason(
        "RL1_POINTS_WITHOUT_PURCHASE",
        Level.RECORD,
        "RL1: after a refund the member would keep more points than what is left of the purchase earns.",
        "RL1：退款后会员保留的积分超过剩余消费可得积分。",
    ),
    Reason(
        "RL2_NO_ACTIVE_CONTRACT",
        Level.RECORD,
        "RL2: no active, fully signed contract between this issuer and fulfiller on the record's date.",
        "RL2：该日期发行方与兑换方之间无生效且全员签署的协议。",
    ),
    Reason(
        "RL2_CATEGORY_NOT_ALLOWED",
        Level.RECORD,
        "RL2: the contract does not allow this offer category at this fulfiller.",
        "RL2：协议不允许该兑换品类。",
    ),
    Reason(
        "RL4_LICENCE_INVALID",
        Level.RECORD,
        "RL4: the issuer operates an online platform without a value-added telecom licence in date.",
        "RL4：经营线上平台的发行方无有效增值电信业务许可证，暂停发放。",
    ),
    Reason(
        "RL3_BUDGET_MISSING",
        Level.RECORD,
        "RL3: the issuer declared no marketing budget for the record's period; points are paid from a budget.",
        "RL3：发行方未申报该期营销预算，积分须由营销预算支付。",
    ),
    Reason(
        "RL3_BUDGET_EXCEEDED",
        Level.RECORD,
        "RL3: the issued value (points × point cost) would pass the issuer's marketing budget for the period.",
        "RL3：发放价值（积分×单位成本）将超过发行方本期营销预算。",
    ),
    Reason(
        "RL4_ISSUING_SUSPENDED",
        Level.RECORD,
        "RL4: issuing is suspended since the licence expired, until a new licence in date is recorded.",
        "RL4：许可证过期，已暂停发放，登记新的有效许可证后恢复。",
    ),
    Reason(
        "RL5_CASH_EQUIVALENT",
        Level.RECORD,
        "RL5: points never buy cash or cash equivalents (prepaid or gift cards, securities, lottery).",
        "RL5：积分不得兑换现金或现金等价物。",
    ),
    Reason(
        "RL5_CASH_OUT",
        Level.RECORD,
        "RL5: no record pays a member money (cash-out, withdrawal, refund to cash, cash-back).",
        "RL5：任何记录都不得向会员支付现金（提现、退现、返现）。",
    ),
    Reason(
        "RL6_TRANSFER_NOT_ALLOWED",
        Level.RECORD,
        "RL6: points never move between members, except as a FAMILY_POOL inside a family group.",
        "RL6：积分不得在用户之间转让，家庭共享（FAMILY_POOL）除外。",
    ),
    Reason(
        "RL6_POOLING_NOT_ALLOWED",
        Level.RECORD,
        "RL6: the issuer's program in force that day does not allow family pooling.",
        "RL6：发行方当日生效的协议不允许家庭共享积分。",
    ),
    Reason(
        "RL6_NO_CONSENT",
        Level.RECORD,
        "RL6: a member of the move was in no registered, consented family group of the issuer at that time.",
        "RL6：该会员当时不在发行方已登记且经同意的家庭组中。",
    ),
    Reason(
        "RL6_NOT_SAME_FAMILY",
        Level.RECORD,
        "RL6: the two members were in different family groups at that time.",
        "RL6：两位会员当时不属于同一家庭组。",
    ),
    Reason(
        "RL7_INTEREST",
        Level.RECORD,
        "RL7: points carry no interest and never appreciate.",
        "RL7：积分不计利息、不增值。",
    ),
    Reason(
        "RL7_POINTS_PURCHASE",
        Level.RECORD,
        "RL7: points are never bought or sold for money (top-up, points purchase, a pool move carrying money).",
        "RL7：积分不得用金钱购买或出售。",
    ),
    Reason(
        "RL7_COLLATERAL",
        Level.RECORD,
        "RL7: points are never pledged as collateral.",
        "RL7：积分不得用作质押或担保。",
    ),
    Reason(
        "EARN_NO_ACTIVE_PROGRAM",
        Level.RECORD,
        "The issuer has no active signed contract on the record's date.",
        "发行方在该日期无生效协议。",
    ),
    Reason(
        "EARN_OVER_PROGRAM_CAP",
        Level.RECORD,
        "More points than the program allows for this spend.",
        "发放积分超过计划规定的上限。",
    ),
    Reason(
        "CONTRACT_CAP_EXCEEDED",
        Level.RECORD,
        "The contract's per-period redemption cap for this fulfiller would be exceeded.",
        "超过协议规定的本期兑换上限。",
    ),
    Reason(
        "POINTS_INSUFFICIENT",
        Level.RECORD,
        "The member does not hold enough points of this issuer.",
        "会员该发行方积分不足。",
    ),
    Reason(
        "AUTH_NOT_CAPTURED",
        Level.RECORD,
        "The line reports a real-time capture (receipt AUTH:<reference>) this fulfiller does not have.",
        "该行报告的实时扣减不存在或未完成。",
    ),
    Reason(
        "AUTH_MISMATCH",
        Level.RECORD,
        "Issuer, member or points differ from the real-time capture the line reports.",
        "与所报告的实时扣减的发行方、会员或积分不一致。",
    ),
    Reason(
        "AUTH_ALREADY_REPORTED",
        Level.RECORD,
        "That real-time capture was already reported; it is never counted twice.",
        "该实时扣减已报告过，不会重复计算。",
    ),
    # --- request level: an evidence-gated action on a member's points (RL9) is refused; nothing changes
    Reason(
        "RL9_NO_CASE",
        Level.REQUEST,
        "RL9: freezing or deducting a member's points needs a monitoring case; the case named does not exist.",
        "RL9：冻结或扣减会员积分须有案件，所指案件不存在。",
    ),
    Reason(
        "RL9_CASE_CLOSED",
        Level.REQUEST,
        "RL9: the case is closed; an action needs an open case.",
        "RL9：案件已结案，处置须基于未结案件。",
    ),
    Reason(
        "RL9_NO_EVIDENCE",
        Level.REQUEST,
        "RL9: the case holds no evidence about this member of this issuer.",
        "RL9：案件中无涉及该会员的证据。",
    ),
    Reason(
        "RL9_SAME_ADMIN",
        Level.REQUEST,
        "RL9: the admin who asked for the action cannot approve it; a second admin must.",
        "RL9：申请人不得自行批准，须由另一名管理员批准。",
    ),
    Reason(
        "RL9_POINTS_INVALID",
        Level.REQUEST,
        "RL9: an action freezes or deducts a whole number of points above 0.",
        "RL9：冻结或扣减的积分须为正整数。",
    ),
    Reason("REV_ORIGINAL_MISSING", Level.RECORD, "A REVERSAL must name its original record.", "冲正记录须指明原记录。"),
    Reason(
        "REV_ORIGINAL_NOT_FOUND",
        Level.RECORD,
        "The original is not an accepted record of this partner.",
        "原记录不存在或未被受理。",
    ),
    Reason("REV_ORIGINAL_NOT_REVERSIBLE", Level.RECORD, "A REVERSAL cannot be reversed.", "冲正记录不能再冲正。"),
    Reason(
        "REV_ORIGINAL_MISMATCH",
        Level.RECORD,
        "Issuer, fulfiller or member differ from the original record.",
        "与原记录的发行方、兑换方或会员不一致。",
    ),
    Reason("REV_BEFORE_ORIGINAL", Level.RECORD, "A REVERSAL cannot precede its original.", "冲正时间早于原记录。"),
    Reason(
        "REV_EXCEEDS_ORIGINAL",
        Level.RECORD,
        "The reversals of a record never exceed it (points or spend).",
        "冲正累计不得超过原记录。",
    ),
)

REASONS: dict[str, Reason] = {reason.code: reason for reason in _CATALOGUE}


def reason(code: str) -> Reason:
    """The catalogue entry of ``code`` (KeyError for an unknown code is a programming error)."""
    return REASONS[code]
