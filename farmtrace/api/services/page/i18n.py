# ruff: noqa: RUF001  (Chinese text uses full-width punctuation on purpose)
"""The page's words in English and Chinese. Every visible string of the page comes from here.

Values are :meth:`str.format` templates over plain-text arguments; the renderer escapes the
result, so templates hold no markup.
"""

from __future__ import annotations

from farmtrace.api.services.page.model import Lang

__all__ = ["TEXT", "count_words", "measurement_name", "t"]

TEXT: dict[str, tuple[str, str]] = {
    # key: (English, Chinese)
    "title": ("{name}, lot {lot}", "{name}，批次 {lot}"),
    "tagline": ("Where this came from and how it was kept", "产地与全程冷链记录"),
    "gtin": ("GTIN", "商品条码 (GTIN)"),
    "lot": ("Lot", "批次"),
    "harvested": ("Harvested", "采收日期"),
    "packed": ("Packed", "包装日期"),
    "expiry": ("Best before", "保质期至"),
    "origin": ("Origin", "产地"),
    "other_language": ("中文", "English"),
    # the lot's harvest campaigns (pages in farmtrace/api/services/campaign_page)
    "campaigns_heading": ("Harvest campaigns for this lot", "本批次的预售活动"),
    "campaign_item": ("Campaign {gcn}", "活动 {gcn}"),
    "campaign_open": ("open for pledges", "认购中"),
    "campaign_funded": ("funded", "已达成目标"),
    "campaign_failed": ("failed", "未达成目标"),
    "campaign_closed": ("closed", "已结束"),
    # verification badge
    "verify_heading": ("Proof", "防伪验证"),
    "state_idle": (
        "The proof is checked in your browser. It needs JavaScript.",
        "验证在您的浏览器中进行，需要启用 JavaScript。",
    ),
    "state_verifying": ("Checking the proof on this device…", "正在本机验证…"),
    "state_verified": ("Verified on this device", "已在本机验证通过"),
    "state_pending": (
        "Verified so far; some records are still waiting to be anchored",
        "已验证的部分无误；部分记录尚在等待上链",
    ),
    "state_failed": ("Verification failed", "验证失败"),
    "state_unavailable": (
        "Could not check the proof here (download failed or this browser lacks WebCrypto)",
        "无法在本机验证（证明下载失败，或浏览器不支持 WebCrypto）",
    ),
    "claims_short": (
        "The page lists {page} readings; the proof covers {proved} so far.",
        "页面列出 {page} 条读数，证明目前覆盖 {proved} 条。",
    ),
    "verified_counts": (
        "{readings} sensor readings and {events} events, {blocks} blocks, checkpoint of size {size}",
        "{readings} 条传感器读数、{events} 个事件、{blocks} 个区块，检查点大小 {size}",
    ),
    "checked_heading": ("What the check covers", "验证涵盖的内容"),
    "checked_signatures": (
        "Each reading carries the sensor's own signature, made when it was measured, and it still matches.",
        "每条读数都带有传感器在测量时生成的签名，且至今未被改动。",
    ),
    "checked_inclusion": (
        "Every reading and event is included in the operator's signed chain (Merkle proofs).",
        "每条读数和事件都包含在经营者签名的链中（Merkle 证明）。",
    ),
    "checked_checkpoint": (
        "The chain's checkpoint is signed with the published key {key}.",
        "链的检查点由公开密钥 {key} 签名。",
    ),
    "checked_device": (
        "All of this was checked here, on this device, not by the seller's server.",
        "以上验证均在您本机完成，而非由商家服务器完成。",
    ),
    "not_checked_heading": ("What this cannot tell you", "验证无法说明的"),
    "not_checked_sensor": (
        "That the sensor was placed well, calibrated, or travelled with this very box.",
        "传感器是否放置得当、是否校准、是否与这箱商品同行。",
    ),
    "not_checked_people": (
        "That what people entered (places, names, certifications) is true: only that the operator"
        " signed it and anchored it on the chain. A later change is a new signed version; the page"
        " says when, and the proof file holds every version.",
        "人工录入的信息（地点、名称、认证）是否属实：只能证明经营者对其签名并记入链中。"
        "之后的修改会成为新的签名版本，本页会注明修改时间，证明文件保留所有版本。",
    ),
    "check_checkpoint": ("Checkpoint signature", "检查点签名"),
    "check_signatures": ("Signatures of sensors and operator", "传感器与经营者签名"),
    "check_batches": ("Inclusion in batches", "批次包含证明"),
    "check_blocks": ("Blocks in the signed chain", "区块上链证明"),
    "check_claims": ("Bundle matches its proofs", "数据与证明一致"),
    "check_series": ("Every reading of each sensor, none left out", "每个传感器的读数齐全，无遗漏"),
    "explain_checkpoint": (
        "The chain's checkpoint is not signed by the published key: this proof does not come from the operator named here.",
        "链的检查点并非由公开密钥签名：此证明并非来自此处标明的经营者。",
    ),
    "explain_signatures": (
        "A record no longer matches what its sensor or the operator signed: it was changed after it was made.",
        "有记录与传感器或经营者当时的签名不符：记录在生成后被改动过。",
    ),
    "explain_batches": (
        "A record is not in the block it claims to be in.",
        "有记录不在其声称所属的区块中。",
    ),
    "explain_blocks": (
        "A block is not part of the operator's signed chain.",
        "有区块不属于经营者签名的链。",
    ),
    "explain_claims": (
        "The proof file contradicts itself or is damaged.",
        "证明文件自相矛盾或已损坏。",
    ),
    "explain_series": (
        "A sensor reading inside the lot's times is missing, added or out of order.",
        "本批次时间内的传感器读数有缺失、多出或顺序被打乱。",
    ),
    "download": ("Download the proof bundle", "下载证明文件"),
    "offline": (
        "Check it yourself, offline, with the open-source verifier:",
        "也可以用开源验证工具离线自行验证：",
    ),
    "pending_server": (
        "Not yet under a signed checkpoint: {pending} of the records.",
        "尚未被签名检查点覆盖的记录：{pending} 条。",
    ),
    # conditions
    "conditions_heading": ("How it was kept", "储运条件"),
    "no_conditions": ("No sensor readings are linked to this lot.", "此批次没有关联的传感器读数。"),
    "allowed_band": ("allowed {band}", "允许范围 {band}"),
    "ideal_band": ("ideal {band}", "最佳 {band}"),
    "excursion_mark": ("excursion", "偏离"),
    "gap_mark": ("no data", "无数据"),
    "chart_desc": (
        "{measurement} from {start} to {end}, {count} readings. {summary}",
        "{measurement}，{start} 至 {end}，共 {count} 条读数。{summary}",
    ),
    "rule_note": ("Why this range: {source}", "范围依据：{source}"),
    "no_rule": ("No allowed range is set for this measurement.", "此项未设定允许范围。"),
    "excursions_heading": ("Times outside the range", "超出范围的时段"),
    "excursion_row": ("{start}: {duration}, to {peak}", "{start}：持续 {duration}，达 {peak}"),
    "severity_spike": ("brief (within grace)", "短暂（宽限期内）"),
    "severity_excursion": ("excursion", "偏离"),
    "severity_breach": ("breach", "超标"),
    "measured_at": ("measured at {place}", "测量地点：{place}"),
    "sensor": ("Sensor {device}", "传感器 {device}"),
    "soil_probe": ("Soil probe {device}", "土壤探头 {device}"),
    "clock_backwards_one": (
        "The sensor's clock went backwards at 1 reading. It is shown as signed, at the time the "
        "sensor gave, which may be off.",
        "传感器时钟在 1 条读数处回拨。该读数按传感器签名原样显示，其时间可能不准。",
    ),
    "clock_backwards_many": (
        "The sensor's clock went backwards at {count} readings. They are shown as signed, at the "
        "times the sensor gave, which may be off.",
        "传感器时钟在 {count} 条读数处回拨。这些读数按传感器签名原样显示，其时间可能不准。",
    ),
    # timeline
    "timeline_heading": ("Journey", "流转记录"),
    "no_events": ("No events recorded yet.", "尚无事件记录。"),
    "anchored": ("in the signed chain", "已上链"),
    "pending": ("pending anchoring", "等待上链"),
    "by": ("by {actor}", "操作方：{actor}"),
    "kind_harvest": ("Harvest", "采收"),
    "kind_cooling": ("Cooling", "预冷"),
    "kind_packing": ("Packing", "包装"),
    "kind_storage": ("Storage", "储存"),
    "kind_shipping": ("Shipping", "运输"),
    "kind_receiving": ("Receiving", "收货"),
    "kind_other": ("Event", "事件"),
    # farm
    "farm_heading": ("The farm", "农场"),
    "grower": ("Grower", "种植者"),
    "method": ("How it is grown", "种植方式"),
    "certifications": ("Certifications", "认证"),
    "location": ("Location", "位置"),
    # scans
    "scans_heading": ("Scans of this code", "此码的扫描记录"),
    "scans_total": ("Scanned {times} since {first}.", "自 {first} 起共被扫描 {times}。"),
    "scans_total_nodate": ("Scanned {times}.", "共被扫描 {times}。"),
    "times_one": ("once", "1 次"),
    "times_many": ("{count} times", "{count} 次"),
    "scans_place": ("{place}: {count}", "{place}：{count} 次"),
    "scans_unusual": (
        "Unusual pattern: this code may have been copied. {reason}",
        "扫描异常：此码可能被复制。{reason}",
    ),
    "scans_help": (
        "Each pack has its own code. Many scans in far-apart places can mean a copied label.",
        "每个包装都有自己的码。若在相距很远的地方被多次扫描，可能是标签被复制。",
    ),
    "footer_link": ("Digital Link: {uri}", "数字链接：{uri}"),
    "footer_generated": ("Page made {time}", "页面生成于 {time}"),
    # measurements (EPCIS types as people call them)
    "m_Temperature": ("Temperature", "温度"),
    "m_RelativeHumidity": ("Relative humidity", "相对湿度"),
    "m_VolumeFraction": ("Soil moisture", "土壤含水量"),
    "m_Conductivity": ("Soil salinity (EC)", "土壤电导率"),
    "m_Illuminance": ("Light", "光照"),
    "m_Pressure": ("Air pressure", "气压"),
    "m_Voltage": ("Battery", "电池电压"),
    "m_farm:CO2": ("CO₂", "二氧化碳"),
    "m_soil_Temperature": ("Soil temperature", "土壤温度"),
    "m_other": ("Other measurement", "其他测量"),
    # the first screen
    "lang_zh": ("中文", "中文"),
    "lang_en": ("English", "English"),
    "lang_nav": ("Language", "语言"),
    "from_origin": ("From {origin}", "产地：{origin}"),
    "harvested_on": ("harvested {date}", "采收于 {date}"),
    "revised": ("Details revised on {date}", "信息修订于 {date}"),
    "verdict_ok": (
        "Kept between {low} and {high} °C from harvest to shop, {span}",
        "从采收到门店始终保持在 {low}–{high} °C，共 {span}",
    ),
    "verdict_ok_open": (
        "Kept between {low} and {high} °C since harvest, {span} so far",
        "采收后至今保持在 {low}–{high} °C，已 {span}",
    ),
    "verdict_gap": (
        "Between {low} and {high} °C where recorded, but no record for {gap}",
        "有记录时在 {low}–{high} °C 之间，但有 {gap} 没有记录",
    ),
    "verdict_out_one": (
        "Out of its range once: up to {peak} for {duration} in {stage} (allowed {band})",
        "曾 1 次超出范围：在 {stage} 达 {peak}，持续 {duration}（允许 {band}）",
    ),
    "verdict_out_many": (
        "Out of its range {count} times, longest {duration} up to {peak} in {stage} (allowed {band})",
        "曾 {count} 次超出范围，最长 {duration}，在 {stage} 达 {peak}（允许 {band}）",
    ),
    "verdict_other_out": (
        "{measurement} out of its range in {stage} for {duration}",
        "{stage} 的{measurement}超出范围 {duration}",
    ),
    "verdict_field_only": (
        "No cold-chain records yet: only its time in the field",
        "尚无冷链记录：仅有田间记录",
    ),
    "verdict_none": ("No temperature records for this lot", "此批次没有温度记录"),
    "verdict_cold_empty": (
        "No temperature was recorded in the cold chain",
        "冷链中没有温度记录",
    ),
    "journey_short": ("Journey", "流转"),
    "stage_field": ("Field", "田间"),
    "stage_room": ("Cold room", "冷库"),
    "stage_truck": ("Truck", "冷藏车"),
    "stage_display": ("Display", "陈列柜"),
    "stage_other": ("Stage", "环节"),
    "place_id": ("Place identifier", "地点编码"),
    "stages_heading": ("How it was kept, stage by stage", "各环节储运条件"),
    "range_line": (
        "{measurement}: {low} to {high} {unit}",
        "{measurement}：{low} 至 {high} {unit}",
    ),
    "one_reading_short": ("One reading: {value} at {time}", "仅 1 条读数：{time} 为 {value}"),
    "one_reading": (
        "{measurement}: one reading, {value} at {time}",
        "{measurement}：仅 1 条读数，{time} 为 {value}",
    ),
    "no_band_field": (
        "Growing weather, shown without an allowed range.",
        "田间生长环境，不设允许范围。",
    ),
    "sensor_details": ("Sensor details", "传感器详情"),
    "no_excursions": ("no excursions", "无偏离"),
    "excursions_one": ("1 excursion", "1 次偏离"),
    "excursions_many": ("{count} excursions", "{count} 次偏离"),
    "spikes_one": ("1 brief spike (door, defrost)", "1 次短暂波动（开门、除霜）"),
    "spikes_many": ("{count} brief spikes (doors, defrost)", "{count} 次短暂波动（开门、除霜）"),
    "steps_more": ("and {count} more", "另有 {count} 项"),
    "sensor_count_one": ("1 sensor", "1 个传感器"),
    "sensor_count_many": ("{count} sensors", "{count} 个传感器"),
    "readings_one": ("1 reading", "1 条读数"),
    "readings_many": ("{count} readings", "{count} 条读数"),
    "seconds_one": ("1 second", "1 秒"),
    "seconds_many": ("{count} seconds", "{count} 秒"),
    "minutes_one": ("1 minute", "1 分钟"),
    "minutes_many": ("{count} minutes", "{count} 分钟"),
    "hours_one": ("1 hour", "1 小时"),
    "hours_many": ("{count} hours", "{count} 小时"),
    "days_one": ("1 day", "1 天"),
    "days_many": ("{count} days", "{count} 天"),
    "proof_how": ("How this was checked", "验证方式"),
    "not_found_title": ("Not found", "未找到"),
    "not_found_heading": ("We don't know this product code", "未找到此商品码"),
    "not_found_text": (
        "No lot {lot} of product {gtin} is recorded here. Check the code on the pack, or ask "
        "the shop.",
        "这里没有商品 {gtin} 批次 {lot} 的记录。请核对包装上的码，或询问商家。",
    ),
}


def t(lang: Lang, key: str, /, **values: object) -> str:
    """The text ``key`` in ``lang``, formatted with ``values`` (plain text, not yet escaped)."""
    en, zh = TEXT[key]
    template = zh if lang == "zh" else en
    return template.format(**values) if values else template


def measurement_name(lang: Lang, measurement: str, *, soil: bool = False) -> str:
    """A measurement's name as people say it (``VolumeFraction`` -> "Soil moisture"); a soil
    probe's temperature is "Soil temperature". An unknown type reads "Other measurement" plus
    its last name part, never a bare URI."""
    if soil and f"m_soil_{measurement}" in TEXT:
        return t(lang, f"m_soil_{measurement}")
    key = f"m_{measurement}"
    if key in TEXT:
        return t(lang, key)
    tail = measurement.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    return f"{t(lang, 'm_other')} ({tail})" if tail else t(lang, "m_other")


def count_words(lang: Lang, noun: str, count: int) -> str:
    """``count`` with ``noun`` in the right form: "1 minute", "3 minutes" ("3 分钟").

    ``noun`` is a key prefix with ``_one`` and ``_many`` forms in :data:`TEXT`.
    """
    return t(lang, f"{noun}_one" if count == 1 else f"{noun}_many", count=count)
