"""UI text in Simplified Chinese (default) and English, using the official terms of the glossary.

``t(key, lang)`` returns the text; an unknown key raises KeyError (a typo must not ship as a
blank label). Station names are never translated: they are shown as in the source.
"""

from __future__ import annotations

from analytics.vocabulary import EVENT_KIND_LABELS, INTERFERENCE_CHANNELS, in_language

DEFAULT_LANG = "zh"
LANGS: tuple[str, ...] = ("zh", "en")

_TEXT: dict[str, tuple[str, str]] = {
    # shell
    "app_title": ("环境监测数据可信度平台", "envtrust: monitoring data plausibility"),
    "nav_situation": ("态势一张图", "Situation map"),
    "nav_events": ("异常线索", "Anomaly explorer"),
    "nav_station": ("站点详情", "Station"),
    "lang_switch": ("English", "中文"),
    "logout": ("退出", "Log out"),
    "not_found": ("页面不存在", "Page not found"),
    "forbidden": ("无权限", "Not allowed"),
    "loading": ("加载中…", "Loading…"),
    "scoring_pending": ("首次评分进行中：数据已可查看，可信度评分、事件和告警将在评分完成后出现（双核机器上约数分钟）。",
                        "First scoring run in progress: the data can be viewed now; plausibility scores, events and "
                        "alarms appear when it ends (a few minutes on two cores)."),
    # situation map
    "time": ("时间", "Time"),
    "resolution": ("时间尺度", "Resolution"),
    "hour": ("小时", "Hour"),
    "day": ("日", "Day"),
    "play": ("播放", "Play"),
    "pause": ("暂停", "Pause"),
    "layers": ("图层", "Layers"),
    "layer_air_station": ("空气质量标准站", "Air stations"),
    "layer_air_micro": ("微站", "Micro-stations"),
    "layer_water_section": ("水质断面", "Water sections"),
    "layer_polluter_outlet": ("重点排污单位排放口", "Polluter outlets"),
    "layer_boundaries": ("行政边界", "Admin boundaries"),
    "layer_rivers": ("河流水系", "Rivers"),
    "layer_suspicion": ("数据可信度存疑", "Integrity in doubt"),
    "province": ("省", "Province"),
    "city": ("市", "City"),
    "county": ("县(区)", "County"),
    "all": ("全部", "All"),
    "headline": ("关键指标", "Headline figures"),
    "capture_rate": ("数据有效率", "Data capture rate"),
    "aqi_levels": ("空气质量指数级别(站数)", "Stations per AQI level"),
    "water_classes": ("水质类别(断面数)", "Sections per water class"),
    "exceedances": ("排放超标", "Exceedances"),
    "open_events": ("待处理疑似干扰", "Open suspected interference"),
    "suspected_stations": ("可信度存疑站点", "Stations in doubt"),
    "vs_previous": ("较上期", "vs previous period"),
    "no_data": ("无数据", "No data"),
    "aqi": ("AQI", "AQI"),
    "primary_pollutant": ("首要污染物", "Primary pollutant"),
    "water_class": ("水质类别", "Water class"),
    "limit_ratio": ("限值倍数", "Times the limit"),
    "suspicion": ("可疑度", "Suspicion score"),
    "inbound": ("入境断面", "Inbound section"),
    "outbound": ("出境断面", "Outbound section"),
    "control": ("控制断面", "Control section"),
    "drinking_source": ("饮用水水源地", "Drinking-water source"),
    "flow_direction": ("水流方向", "Flow direction"),
    "exceeding": ("超标", "Exceeding"),
    "compliant": ("达标", "Compliant"),
    "click_station_hint": ("点击站点查看详情", "Click a station to open it"),
    # explorer
    "events_title": ("疑似干扰事件排名", "Ranked suspected-interference events"),
    "col_kind": ("类型", "Kind"),
    "col_station": ("站点", "Station"),
    "col_start": ("开始(北京时间)", "Start (local)"),
    "col_end": ("结束(北京时间)", "End (local)"),
    "col_score": ("可疑度", "Score"),
    "col_parameters": ("参数", "Parameters"),
    "col_status": ("状态", "Status"),
    "col_summary": ("摘要", "Summary"),
    "col_city": ("市", "City"),
    "export_csv": ("导出CSV", "Export CSV"),
    "filter_kind": ("事件类型", "Event kind"),
    "filter_status": ("状态", "Status"),
    "filter_min_score": ("最低可疑度", "Minimum score"),
    "quick_filter": ("快速筛选…", "Quick filter…"),
    "n_events": ("事件数", "Events"),
    # statuses and kinds
    "status_open": ("待核查", "Open"),
    "status_confirmed": ("已确认", "Confirmed"),
    "status_false_alarm": ("误报", "False alarm"),
    "status_closed": ("已销号", "Closed"),
    "col_rarity": ("罕见程度", "Rarity"),
    "rarity_text": ("约{n}小时一遇(干净数据)", "1 in {n} clean hours"),  # the number first: cells are narrow
    "show_data_gaps": ("只看数据缺失/传输中断(非干扰)", "Data-completeness alarms only (not interference)"),
    "workload_line": ("{net}：{events}条疑似干扰，核查能力{cap:.0f}条(每站每月{rate:g}条)，超出{above}条",
                      "{net}: {events} suspected-interference events, capacity {cap:.0f} ({rate:g} per station-month), "
                      "{above} above it"),
    "data_gap_count": ("数据缺失/传输中断告警：{n}条", "Data-completeness alarms: {n}"),
    "net_air": ("空气", "Air"),
    "net_water": ("地表水", "Surface water"),
    "net_polluter": ("污染源", "Polluters"),
    # station page
    "station_title": ("站点", "Station"),
    "parameters": ("参数", "Parameters"),
    "event": ("事件", "Event"),
    "suspicious_period": ("可疑时段", "Suspicious period"),
    "neighbours": ("邻近站点", "Neighbours"),
    "model_contributions": ("各模型得分", "Model contributions"),
    "data_flags": ("数据标记", "Data flags"),
    "neighbour_map": ("邻近站点(该时刻)", "Neighbours at that moment"),
    "evidence": ("证据摘要", "Evidence summary"),
    "neighbour_prediction": ("邻站预测", "Neighbour prediction"),
    "evidence_models": ("触发的模型", "Models that fired"),
    "evidence_deviation": ("较邻站预测", "Against the neighbour prediction"),
    "evidence_hours": ("持续{h}小时，邻站：{nb}", "{h} h; neighbours: {nb}"),
    "evidence_flags": ("{share:.0%}的可疑读数带有维护/故障标记", "{share:.0%} of the suspicious readings carry maintenance/fault flags"),
    "tab_series": ("时间序列", "Time series"),
    "tab_profiles": ("日变化/周变化", "Diurnal / weekly"),
    "tab_calendar": ("日历图", "Calendar"),
    "tab_polar": ("风向玫瑰浓度图", "Polar plot"),
    "tab_scatter": ("与邻站散点", "Scatter vs neighbour"),
    "diurnal": ("日变化", "Diurnal profile"),
    "weekly": ("周变化", "Weekly profile"),
    "hour_of_day": ("小时", "Hour of day"),
    "weekday": ("星期", "Weekday"),
    "daily_mean": ("日均值", "Daily mean"),
    "wind_speed": ("风速 (m/s)", "Wind speed (m/s)"),
    "no_wind": ("该站无风向风速数据", "No wind data at this station"),
    "choose_neighbour": ("选择邻站", "Choose neighbour"),
    "choose_parameter": ("选择参数", "Choose parameter"),
    "review": ("核查结论", "Review"),
    "confirm": ("确认干扰", "Confirm"),
    "false_alarm": ("误报", "False alarm"),
    "reopen": ("重新打开", "Reopen"),
    "comment": ("意见", "Comment"),
    "saved": ("已保存", "Saved"),
    "review_history": ("核查记录", "Review history"),
    "unknown_station": ("未知站点", "Unknown station"),
    "unknown_event": ("未知事件", "Unknown event"),
    "this_station": ("本站", "This station"),
    "score": ("得分", "Score"),
    "value": ("数值", "Value"),
    "local_time": ("北京时间", "Local time"),
    "weekdays": ("一,二,三,四,五,六,日", "Mon,Tue,Wed,Thu,Fri,Sat,Sun"),
    "fit": ("拟合", "Fit"),
    "mean": ("均值", "Mean"),
    "iqr": ("四分位范围", "Interquartile range"),
    # cases, inbox (issue 13)
    "nav_cases": ("案件", "Cases"),
    "nav_inbox": ("待办", "Inbox"),
    "cases_title": ("案件闭环", "Cases: from clue to closure"),
    "cases_open": ("在办案件", "Open cases"),
    "cases_overdue": ("超期案件", "Overdue cases"),
    "layer_open_cases": ("有在办案件的站点", "Stations with open cases"),
    "cases_total": ("案件总数", "All cases"),
    "cases_median_close": ("平均办结天数(中位)", "Median days to close"),
    "cases_funnel": ("各环节案件数", "Cases by state"),
    "cases_by_county": ("按区县", "By district"),
    "cases_by_enterprise": ("按企业", "By enterprise"),
    "cases_by_contractor": ("按运维单位", "By contractor"),
    "cases_list": ("案件列表", "All cases"),
    "case_state": ("状态", "State"),
    "case_due": ("期限", "Due"),
    "case_days_left": ("剩余天数", "Days left"),
    "case_overdue": ("已超期", "overdue"),
    "case_history": ("办理记录", "History"),
    "case_action": ("办理", "Action"),
    "case_reason": ("理由/说明", "Reason"),
    "case_submit": ("提交", "Submit"),
    "case_no_action": ("当前角色在此环节无可办理事项。", "Your role has nothing to do at this step."),
    "case_evidence": ("证据包", "Evidence pack"),
    "case_evidence_none": ("线索移交时冻结证据包。", "The evidence pack is frozen at the clue transfer."),
    "case_links": ("关联报警/事件/举报", "Linked alarms, events, tips"),
    "case_unknown": ("案件不存在", "Unknown case"),
    "case_done": ("已办理", "Done"),
    "case_opened": ("已立案", "Case opened"),
    "case_title": ("案件名称", "Case title"),
    "case_legal_type": ("违法类型", "Legal type"),
    "case_open_button": ("建立案件", "Open case"),
    "case_open_from": ("由报警或举报建立案件", "Open a case from alarms or a tip"),
    "col_case": ("案件", "Case"),
    "col_title": ("名称", "Title"),
    "col_opened": ("建立时间", "Opened"),
    "col_actor": ("办理人", "By"),
    "col_role": ("角色", "Role"),
    "col_action": ("操作", "Action"),
    "col_from_to": ("环节", "From -> to"),
    "col_rule": ("规则", "Rule"),
    "col_severity": ("程度", "Severity"),
    "col_episode": ("时段", "Period"),
    "col_count": ("数量", "Count"),
    "inbox_title": ("待办", "Inbox"),
    "inbox_alarms": ("待执法处置的报警", "Alarms for enforcement"),
    "inbox_review_alarms": ("待研判的疑似干预（确认事件或移交线索后推送执法）",
                            "Suspected interference to determine (pushed to enforcement when you confirm "
                            "the event or transfer a case)"),
    "inbox_monitoring_alarms": ("监测站点数据缺失/标记异常（监测中心与运维单位处理，不推送执法）",
                                "Monitoring stations: missing data and flags (monitoring centre and contractor; "
                                "not pushed to enforcement)"),
    "inbox_tips": ("公众举报", "Public tips"),
    "inbox_tasks": ("待我办理的案件", "Cases waiting for me"),
    "inbox_deliveries": ("推送记录 (webhook)", "Push log (webhook)"),
    "inbox_delivered": ("已送达", "delivered"),
    "inbox_pending": ("待发送", "pending"),
    "inbox_failing": ("发送失败(重试中)", "failing (retrying)"),
    "tip_what": ("举报内容", "What"),
    "tip_where": ("地点", "Where"),
    "tip_when": ("时间", "When"),
    # interference record (干预留痕)
    "nav_record": ("干预留痕", "Interference record"),
    "record_title": ("干预留痕记录", "Record an interference"),
    "record_intro": ("领导干部或有关人员对监测数据的批示、函文、口头要求或暗示，须全程留痕、如实记录。记录写入防篡改日志，任何修改、删除都会被发现。",
                     "Every instruction, letter, call or hint by an official about monitoring data is recorded in full. "
                     "Entries go into a tamper-evident log: any later edit or deletion is found."),
    "interferer_name": ("干预人姓名", "Name of the person interfering"),
    "interferer_post": ("职务", "Post"),
    "interferer_unit": ("单位", "Unit"),
    "channel": ("方式", "Channel"),
    "occurred_at": ("发生时间(北京时间)", "When (local time)"),
    "record_content": ("内容(完整记录)", "Content (in full)"),
    "record_stations": ("涉及站点(逗号分隔)", "Stations concerned (comma-separated)"),
    "record_cases": ("涉及案件(逗号分隔)", "Cases concerned (comma-separated)"),
    "attachments": ("附件", "Attachments"),
    "choose_files": ("拖放或选择文件", "Drop or choose files"),
    "record_save": ("提交记录", "Save record"),
    "record_saved": ("已记录，编号", "Recorded as entry"),
    "record_receipt": ("下载回执(含包含性证明)", "Download receipt (with inclusion proof)"),
    "record_checkpoint": ("签发检查点", "Sign a checkpoint"),
    "record_list": ("已记录的干预", "Recorded interference"),
    "recorded_by": ("记录人", "Recorded by"),
    "logged_at": ("入档时间", "Logged at"),
    "entry_no": ("编号", "Entry"),
    "redacted": ("已依法删除内容", "Content redacted"),
    "no_records": ("暂无记录", "No records yet"),
    "record_error": ("未保存", "Not saved"),
    "no_signing_key": ("缺少签名密钥，请先运行 envtrust init", "No signing key: run envtrust init"),
    # assessment and contractors (issue 14)
    "nav_assessment": ("考核排名", "Assessment"),
    "nav_contractors": ("运维单位", "Contractors"),
    "assessment_title": ("空气质量考核排名（原始值与替代规则并列）", "Assessment ranking: raw and with the substitution rule"),
    "assessment_none": ("尚无考核结果。运行 envtrust assess --period 2016 --level county 生成。",
                        "No assessment stored yet. Run envtrust assess --period 2016 --level county."),
    "assessment_run": ("考核期 {period}，{level}，替代规则 {policy}（倍数 {factor}，时段 {window}）",
                       "Period {period}, {level} level, policy {policy} (factor {factor}, window {window})"),
    "level_city": ("地市", "City"),
    "level_county": ("区县", "County"),
    "col_unit": ("考核单元", "Unit"),
    "col_rank_raw": ("原始排名", "Rank (raw)"),
    "col_rank_pen": ("替代后排名", "Rank (penalised)"),
    "col_rank_change": ("名次变化", "Rank change"),
    "col_index_raw": ("原始综合指数", "Index (raw)"),
    "col_index_pen": ("替代后综合指数", "Index (penalised)"),
    "col_capture": ("数据有效率", "Capture rate"),
    "col_substituted": ("替代小时数", "Substituted hours"),
    "col_valid": ("满足有效性", "Valid period"),
    "col_causes": ("导致变化的站点", "Stations behind the change"),
    "contractors_title": ("运维单位信用评价", "Contractor scorecard"),
    "contractors_none": ("尚无运维单位或比对数据。", "No contractors or comparison data yet."),
    "contractors_window": ("评价时段 {first} 至 {last}（比对监测期）", "Window {first} to {last} (comparison season)"),
    "col_contractor": ("运维单位", "Contractor"),
    "col_grade": ("等级", "Grade"),
    "col_credit_score": ("得分", "Score"),
    "col_score_raw": ("未收缩得分", "Raw score"),
    "col_n_stations": ("站点数", "Stations"),
    "col_pass_rate": ("比对合格率", "Comparison pass rate"),
    "col_bias": ("比对相对偏差", "Relative bias"),
    "col_ooc": ("失控时长(h)", "Out of control (h)"),
    "col_reasons": ("评价理由", "Reasons"),
    "blacklist_title": ("黑名单", "Blacklist"),
    "credit_title": ("信用记录", "Credit history"),
    "col_kind_credit": ("类型", "Kind"),
    "col_reason": ("事由", "Reason"),
    "col_legal_basis": ("法律依据", "Legal basis"),
    "col_start_date": ("起始日期", "Start"),
    "col_end_date": ("截止日期", "End"),
    "labs_title": ("实验室", "Laboratories"),
    "col_samples": ("样品数", "Samples"),
    "col_evaluated": ("可评价比例", "Share evaluated"),
}
_CHANNEL_EN: dict[str, str] = {"written_instruction": "Written instruction", "letter": "Letter", "oral": "Oral",
                                "hint": "Hint", "other": "Other"}
_TEXT.update({f"kind_{kind}": labels for kind, labels in EVENT_KIND_LABELS.items()})
_TEXT.update({f"channel_{code}": (zh, _CHANNEL_EN[code]) for code, zh in INTERFERENCE_CHANNELS.items()})

AQI_LEVEL_NAMES: dict[int, tuple[str, str]] = {
    1: ("优", "Excellent"), 2: ("良", "Good"), 3: ("轻度污染", "Lightly polluted"),
    4: ("中度污染", "Moderately polluted"), 5: ("重度污染", "Heavily polluted"), 6: ("严重污染", "Severely polluted"),
}
WATER_CLASS_NAMES: dict[int, tuple[str, str]] = {
    1: ("I类", "Class I"), 2: ("II类", "Class II"), 3: ("III类", "Class III"),
    4: ("IV类", "Class IV"), 5: ("V类", "Class V"), 6: ("劣V类", "Worse than V"),
}


def normalise_lang(lang: str | None) -> str:
    """``zh`` unless ``en`` is asked for (any other value falls back to the default)."""
    return lang if lang in LANGS else DEFAULT_LANG


def t(key: str, lang: str | None = DEFAULT_LANG) -> str:
    """The text for ``key`` in ``lang`` (zh default)."""
    zh, en = _TEXT[key]
    return en if normalise_lang(lang) == "en" else zh


def aqi_level_name(level: int, lang: str | None = DEFAULT_LANG) -> str:
    """HJ 633-2012 category name of an AQI level 1..6."""
    zh, en = AQI_LEVEL_NAMES[int(level)]
    return en if normalise_lang(lang) == "en" else zh


def water_class_name(cls: int, lang: str | None = DEFAULT_LANG) -> str:
    """GB 3838-2002 class name (1..6, 6 = worse than V)."""
    zh, en = WATER_CLASS_NAMES[int(cls)]
    return en if normalise_lang(lang) == "en" else zh


def summary_in(summary: str, lang: str | None = DEFAULT_LANG) -> str:
    """An event or alarm summary in ``lang``: both are stored "English | 中文"
    (:func:`analytics.vocabulary.bilingual`); Chinese is the default."""
    return in_language(summary, normalise_lang(lang))


def kind_name(kind: str, lang: str | None = DEFAULT_LANG) -> str:
    """Event kind label; unknown kinds show as given."""
    key = f"kind_{kind}"
    return t(key, lang) if key in _TEXT else kind


def status_name(status: str, lang: str | None = DEFAULT_LANG) -> str:
    """Event status label; unknown statuses show as given."""
    key = f"status_{status}"
    return t(key, lang) if key in _TEXT else status


def station_label(name: str | None, name_en: str | None, station_id: str, lang: str | None = DEFAULT_LANG) -> str:
    """Station name as in the source; English UI adds the source's English name when it has one."""
    base = name or station_id
    if normalise_lang(lang) == "en" and name_en and name_en != name:
        return f"{base} ({name_en})"
    return base


def weekday_names(lang: str | None = DEFAULT_LANG) -> list[str]:
    """Monday-first weekday labels."""
    return t("weekdays", lang).split(",")


def text_keys() -> list[str]:
    """All text keys (tests check each has both languages)."""
    return list(_TEXT)
