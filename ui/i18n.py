"""The interface's words in English and Simplified Chinese.

One table serves both ways of translating: fixed labels go to the browser as ``gr.I18n``
keys (the browser's language picks the table); text the server writes (tables, citation
cards, traces, messages) is looked up with ``t(key, lang)``, where ``lang`` comes from the
request's Accept-Language header, which is the same browser language.
"""

from __future__ import annotations

from typing import Literal

import gradio as gr
from gradio.i18n import I18nData

Lang = Literal["en", "zh"]

EN: dict[str, str] = {
    # Static labels (gr.I18n).
    "app_tagline": "Ask your documents. Every answer cites its page.",
    "tab_library": "Library",
    "tab_chat": "Chat",
    "tab_analytics": "Feedback analytics",
    "upload_label": "Add documents (PDF, Markdown, text, Word)",
    "upload_result_label": "Last upload",
    "documents_label": "Documents",
    "doc_select_label": "Selected document",
    "delete_button": "Delete…",
    "reindex_button": "Re-index…",
    "confirm_button": "Confirm",
    "cancel_button": "Cancel",
    "refresh_button": "Refresh",
    "filter_label": "Search only in these documents (empty: the whole library)",
    "question_placeholder": "Ask a question about your documents…",
    "question_label": "Question",
    "send_button": "Send",
    "chatbot_label": "Conversation",
    "sources_label": "Sources",
    "gallery_label": "Retrieved pages",
    "trace_label": "Trace",
    "comment_label": "Tell us more (optional)",
    "comment_button": "Send comment",
    "export_button": "Export CSV",
    "csv_label": "CSV export",
    "plot_label": "Satisfaction by day",
    "by_document_label": "By document",
    "by_mode_label": "By answer mode",
    "causes_label": "Where dislikes come from",
    "disliked_label": "Most disliked questions (select one to see its trace)",
    "disliked_trace_label": "Trace of the selected question",
    # Documents table.
    "col_name": "Name",
    "col_pages": "Pages",
    "col_chunks": "Chunks",
    "col_no_text": "Pages without text",
    "col_added": "Added (UTC)",
    "col_status": "Status",
    "col_error": "Error",
    "status_ready": "ready",
    "status_indexing": "indexing",
    "status_failed": "failed",
    "status_removing": "removing",
    # Upload and actions.
    "up_added": "{name}: added ({pages} pages, {chunks} chunks)",
    "up_replaced": "{name}: replaced the earlier version ({pages} pages, {chunks} chunks)",
    "up_unchanged": "{name}: already in the library",
    "up_failed": "not added: {error}",
    "up_some_failed": (
        "{failed} of {total} files could not be added; the reasons are listed under the upload box."
    ),
    "up_none": "Choose one or more files first.",
    "up_not_uploaded": "{name} was refused: it is not a file uploaded through this page.",
    "up_too_large": "is {size} MB, over the upload limit of {limit} MB (FOLIO_MAX_UPLOAD_MB)",
    "progress": "{file} ({i}/{n}): {stage}",
    "stage_extract": "extracting text",
    "stage_render": "rendering pages",
    "stage_embed": "embedding",
    "stage_index": "indexing",
    "stage_done": "done",
    "library_summary": (
        "{ready} ready documents · {chunks} chunks · {pages} pages · "
        "embeddings: {model} · answers: {mode}"
    ),
    "confirm_delete": (
        "Delete **{name}**? It leaves every index, and its stored file and page images are removed."
    ),
    "confirm_reindex": "Index **{name}** again from its stored file?",
    "deleted": "{name} was deleted.",
    "reindexed": "{name} was indexed again.",
    "reindex_failed": "{name} could not be indexed again: {error}",
    "select_first": "Select a document first.",
    # Chat.
    "notice_extractive": (
        "**Extractive answers.** No language model is set up (ANTHROPIC_API_KEY, or "
        "FOLIO_LLM_BASE_URL for your own model), so answers are the best-supported sentences "
        "from your documents, quoted and cited, not written by a language model."
    ),
    "notice_leg_off": "**{leg} search was off** for this question: {note}.",
    "notice_leg_down": "**{leg} search counted less** for this question: {note}.",
    "notice_rewrite_failed": "The follow-up could not be rewritten by the language model: {note}.",
    "leg_bm25": "Keyword (BM25)",
    "leg_dense": "Semantic (dense)",
    "leg_section": "Section headings",
    "empty_question": "Type a question first.",
    "error_unexpected": "Something went wrong (error {id}). The details are in the server log.",
    "signed_in": "Signed in as <b>{name}</b> · workspace <code>{workspace}</code> · "
    '<a href="logout" target="_self">Log out</a>',
    "login_again": "Your session has no account any more: log in again.",
    "cannot_rate": "This message has no answer to rate.",
    "rated_up": "Thanks for the feedback!",
    "rated_down": "Thanks. What was wrong? You can add a comment below.",
    "vote_withdrawn": "Your rating was removed.",
    "comment_saved": "Comment saved.",
    "comment_empty": "Write a comment first.",
    "answer_failed": "⚠ {error}",
    # Source cards.
    "page": "page {page}",
    "open_full_page": "Click for the full page",
    "overlay": "Where on the page",
    "no_sources": "This answer cites no passage.",
    "no_image": "No page image (not a PDF)",
    "sources_for": "Sources for: {question}",
    # Trace.
    "tr_question": "Question",
    "tr_searched": "Searched",
    "tr_evidence": "Evidence gate score (0-1; below its threshold the answer is a refusal)",
    "tr_rewrite_none": "as asked",
    "tr_rewrite_rule": "rewritten from the conversation (rule)",
    "tr_rewrite_claude": "rewritten from the conversation by Claude",
    "tr_rewrite_openai": "rewritten from the conversation by your model",
    "tr_filter": "Filter",
    "tr_whole_library": "whole library",
    "tr_documents": "{n} selected documents",
    "tr_answer": "Answer",
    "tr_refused": "refused (nothing in the documents answers it)",
    "tr_legs": "Retrieval legs",
    "tr_leg": "Leg",
    "tr_status": "Status",
    "tr_weight": "Weight",
    "tr_time": "ms",
    "tr_note": "Note",
    "tr_hits": "Retrieved passages",
    "tr_rank": "#",
    "tr_document": "Document",
    "tr_page": "Page",
    "tr_score": "Fused score",
    "tr_leg_rank": "{leg} rank",
    "tr_timings": "Time per stage (ms)",
    "tr_notes": "Notes",
    "leg_status_on": "on",
    "leg_status_off": "off",
    "leg_status_down-weighted": "down-weighted",
    "mode_claude": "Claude",
    "mode_openai": "your model (OpenAI-compatible server)",
    "mode_extractive": "extractive",
    # Analytics.
    "an_summary": (
        "**{total}** rated answers · **{up}** liked · **{down}** disliked · satisfaction **{rate}**"
    ),
    "an_empty": "No ratings yet. Rate answers in the Chat tab with the thumbs under each answer.",
    "col_day": "Day",
    "col_satisfaction": "Satisfaction",
    "col_up": "Liked",
    "col_down": "Disliked",
    "col_total": "Rated",
    "col_document": "Document",
    "col_mode": "Answer mode",
    "col_cause": "Cause",
    "col_count": "Dislikes",
    "col_share": "Share",
    "col_question": "Question",
    "col_dislikes": "Dislikes",
    "col_likes": "Likes",
    "col_last_asked": "Last asked",
    "cause_no_evidence": "No evidence found",
    "cause_not_cited": "Evidence found but not cited",
    "cause_cited_wrong": "Cited but wrong",
    "no_citation": "(no citation)",
    "an_pick": "Select a question above to see its latest trace.",
    "an_comment": "Comment",
    "an_vote": "Vote",
    "an_asked": "Asked",
    # Evaluation tab.
    "tab_eval": "Evaluation",
    "ev_set_label": "Evaluation set",
    "ev_legs_label": "Retrieval legs",
    "ev_limit_label": "Questions (0: all; a few for a quick run)",
    "ev_answers_label": "Also answer the questions and score the answers (pdfqa sets)",
    "ev_judge_label": "Answer judge",
    "ev_run_button": "Run evaluation",
    "ev_status_label": "Progress",
    "ev_table_label": "Metrics (one column per leg)",
    "ev_chart_label": "This run",
    "ev_history_label": "Headline metrics over the runs of this set",
    "ev_compare_label": "Change since the previous run",
    "ev_set_choice": "{name} · {format} · {questions} questions · {documents} documents",
    "ev_no_sets": "No evaluation sets (beir or pdfqa folders) in `{root}`.",
    "ev_pick_set": "Choose an evaluation set first.",
    "ev_no_legs": "Choose at least one retrieval leg.",
    "ev_bad_limit": "The number of questions must be a whole number, 0 or more (got {limit}).",
    "ev_bad_judge": "Unknown answer judge '{judge}'.",
    "ev_answers_need_pdfqa": (
        "{set}: answer quality needs a pdfqa set (gold answers and evidence pages); "
        "this is a beir set."
    ),
    "ev_no_questions": "{set}: no questions to ask ({file} lists none).",
    "ev_busy": "An evaluation of {set} is already running; its progress is shown here.",
    "ev_not_admin": (
        "Only an evaluation administrator (FOLIO_EVAL_ADMINS) can start a run; the saved runs "
        "stay open to everyone."
    ),
    "ev_started": "Evaluating {set} in the background.",
    "ev_running": "Evaluating **{set}** … {seconds} s",
    "ev_done": "**{set}**: finished in {seconds} s, saved as `{file}`.",
    "ev_failed": "Evaluation of {set} failed: {error}",
    "ev_no_runs": "No saved runs of **{set}** yet: press *Run evaluation*.",
    "ev_first_run": "First run of **{set}**: nothing to compare with yet.",
    "ev_compared": "Run of {current} compared with the previous run of **{set}** ({previous}).",
    "ev_answers_setting": "{setting} (answers)",
    "ev_queries": "questions",
    "ev_ms": "ms per question",
    "ev_new": "new",
    "ev_gone": "no longer measured",
    "ev_col_setting": "Setting",
    "ev_col_leg": "Leg",
    "ev_col_metric": "Metric",
    "ev_col_previous": "Previous",
    "ev_col_current": "This run",
    "ev_col_change": "Change",
    "ev_col_value": "Value",
    "ev_col_run": "Run",
    # Visual citations.
    "page_found_by_image": "Found by the page's image (no text passage)",
    "notice_vision": "**Page images:** {notice}.",
}

ZH: dict[str, str] = {
    "app_tagline": "向您的文档提问。每个回答都标明出处页码。",
    "tab_library": "文档库",
    "tab_chat": "问答",
    "tab_analytics": "反馈分析",
    "upload_label": "添加文档（PDF、Markdown、文本、Word）",
    "upload_result_label": "上次上传",
    "documents_label": "文档",
    "doc_select_label": "选中的文档",
    "delete_button": "删除…",
    "reindex_button": "重新索引…",
    "confirm_button": "确认",
    "cancel_button": "取消",
    "refresh_button": "刷新",
    "filter_label": "只在这些文档中搜索（留空：整个文档库）",
    "question_placeholder": "就您的文档提一个问题…",
    "question_label": "问题",
    "send_button": "发送",
    "chatbot_label": "对话",
    "sources_label": "出处",
    "gallery_label": "检索到的页面",
    "trace_label": "检索过程",
    "comment_label": "补充说明（可选）",
    "comment_button": "提交说明",
    "export_button": "导出 CSV",
    "csv_label": "CSV 导出",
    "plot_label": "每日满意度",
    "by_document_label": "按文档",
    "by_mode_label": "按回答方式",
    "causes_label": "差评的来源",
    "disliked_label": "差评最多的问题（选择一个查看检索过程）",
    "disliked_trace_label": "所选问题的检索过程",
    "col_name": "名称",
    "col_pages": "页数",
    "col_chunks": "片段数",
    "col_no_text": "无文字的页",
    "col_added": "添加时间（UTC）",
    "col_status": "状态",
    "col_error": "错误",
    "status_ready": "就绪",
    "status_indexing": "索引中",
    "status_failed": "失败",
    "status_removing": "删除中",
    "up_added": "{name}：已添加（{pages} 页，{chunks} 个片段）",
    "up_replaced": "{name}：已替换旧版本（{pages} 页，{chunks} 个片段）",
    "up_unchanged": "{name}：已在文档库中",
    "up_failed": "未添加：{error}",
    "up_some_failed": "{total} 个文件中有 {failed} 个未能添加，原因列在上传框下方。",
    "up_none": "请先选择一个或多个文件。",
    "up_not_uploaded": "已拒绝 {name}：它不是通过本页面上传的文件。",
    "up_too_large": "大小为 {size} MB，超过上传上限 {limit} MB（FOLIO_MAX_UPLOAD_MB）",
    "progress": "{file}（{i}/{n}）：{stage}",
    "stage_extract": "提取文字",
    "stage_render": "渲染页面",
    "stage_embed": "计算向量",
    "stage_index": "建立索引",
    "stage_done": "完成",
    "library_summary": (
        "{ready} 个就绪文档 · {chunks} 个片段 · {pages} 页 · 向量模型：{model} · 回答方式：{mode}"
    ),
    "confirm_delete": "删除 **{name}**？它将从所有索引中移除，存储的文件和页面图像也会删除。",
    "confirm_reindex": "用存储的文件重新索引 **{name}**？",
    "deleted": "{name} 已删除。",
    "reindexed": "{name} 已重新索引。",
    "reindex_failed": "{name} 重新索引失败：{error}",
    "select_first": "请先选择一个文档。",
    "notice_extractive": (
        "**摘录式回答。** 未配置语言模型（ANTHROPIC_API_KEY，或自有模型的 FOLIO_LLM_BASE_URL），"
        "回答由文档中最有依据的句子原文摘录并标注出处，"
        "不是由语言模型撰写的。"
    ),
    "notice_leg_off": "本问题**未使用{leg}检索**（原因：{note}）。",
    "notice_leg_down": "本问题中**{leg}检索的权重降低**（原因：{note}）。",
    "notice_rewrite_failed": "语言模型未能改写追问：{note}。",
    "leg_bm25": "关键词（BM25）",
    "leg_dense": "语义（向量）",
    "leg_section": "章节标题",
    "empty_question": "请先输入问题。",
    "error_unexpected": "出现错误（编号 {id}）。详细信息见服务器日志。",
    "signed_in": "已登录：<b>{name}</b> · 工作区 <code>{workspace}</code> · "
    '<a href="logout" target="_self">退出登录</a>',
    "login_again": "此会话的账户已不存在，请重新登录。",
    "cannot_rate": "这条消息没有可评价的回答。",
    "rated_up": "感谢您的反馈！",
    "rated_down": "感谢反馈。哪里有问题？可以在下方补充说明。",
    "vote_withdrawn": "已撤销您的评价。",
    "comment_saved": "说明已保存。",
    "comment_empty": "请先填写说明。",
    "answer_failed": "⚠ {error}",
    "page": "第 {page} 页",
    "open_full_page": "点击查看整页",
    "overlay": "在页面上的位置",
    "no_sources": "这个回答没有引用任何段落。",
    "no_image": "没有页面图像（不是 PDF）",
    "sources_for": "出处：{question}",
    "tr_question": "问题",
    "tr_searched": "实际搜索",
    "tr_evidence": "证据门控分数（0-1；低于阈值则拒答）",
    "tr_rewrite_none": "按原问题",
    "tr_rewrite_rule": "根据对话改写（规则）",
    "tr_rewrite_claude": "由 Claude 根据对话改写",
    "tr_rewrite_openai": "由您的模型根据对话改写",
    "tr_filter": "范围",
    "tr_whole_library": "整个文档库",
    "tr_documents": "所选的 {n} 个文档",
    "tr_answer": "回答",
    "tr_refused": "拒答（文档中没有能回答的内容）",
    "tr_legs": "检索通道",
    "tr_leg": "通道",
    "tr_status": "状态",
    "tr_weight": "权重",
    "tr_time": "毫秒",
    "tr_note": "说明",
    "tr_hits": "检索到的段落",
    "tr_rank": "#",
    "tr_document": "文档",
    "tr_page": "页",
    "tr_score": "融合得分",
    "tr_leg_rank": "{leg} 排名",
    "tr_timings": "各阶段耗时（毫秒）",
    "tr_notes": "备注",
    "leg_status_on": "开启",
    "leg_status_off": "关闭",
    "leg_status_down-weighted": "降低权重",
    "mode_claude": "Claude",
    "mode_openai": "您的模型（OpenAI 兼容服务器）",
    "mode_extractive": "摘录式",
    "an_summary": "**{total}** 个已评价回答 · **{up}** 个赞 · **{down}** 个踩 · 满意度 **{rate}**",
    "an_empty": "还没有评价。在问答页用每个回答下方的赞/踩按钮评价。",
    "col_day": "日期",
    "col_satisfaction": "满意度",
    "col_up": "赞",
    "col_down": "踩",
    "col_total": "评价数",
    "col_document": "文档",
    "col_mode": "回答方式",
    "col_cause": "原因",
    "col_count": "差评数",
    "col_share": "占比",
    "col_question": "问题",
    "col_dislikes": "踩",
    "col_likes": "赞",
    "col_last_asked": "最近提问",
    "cause_no_evidence": "没有找到依据",
    "cause_not_cited": "找到依据但未引用",
    "cause_cited_wrong": "有引用但答错",
    "no_citation": "（无引用）",
    "an_pick": "在上方选择一个问题，查看它最近一次的检索过程。",
    "an_comment": "说明",
    "an_vote": "评价",
    "an_asked": "提问时间",
    # Evaluation tab.
    "tab_eval": "评测",
    "ev_set_label": "评测集",
    "ev_legs_label": "检索方式",
    "ev_limit_label": "问题数（0：全部；快速试跑可填少量）",
    "ev_answers_label": "同时回答问题并评估答案（仅 pdfqa 评测集）",
    "ev_judge_label": "答案评判",
    "ev_run_button": "开始评测",
    "ev_status_label": "进度",
    "ev_table_label": "指标（每种检索方式一列）",
    "ev_chart_label": "本次评测",
    "ev_history_label": "该评测集历次评测的主要指标",
    "ev_compare_label": "与上一次评测相比的变化",
    "ev_set_choice": "{name} · {format} · {questions} 个问题 · {documents} 个文档",
    "ev_no_sets": "`{root}` 中没有评测集（beir 或 pdfqa 格式的文件夹）。",
    "ev_pick_set": "请先选择一个评测集。",
    "ev_no_legs": "请至少选择一种检索方式。",
    "ev_bad_limit": "问题数必须是 0 或正整数（当前为 {limit}）。",
    "ev_bad_judge": "未知的答案评判方式“{judge}”。",
    "ev_answers_need_pdfqa": (
        "{set}：评估答案需要 pdfqa 评测集（含标准答案和证据页），这是 beir 评测集。"
    ),
    "ev_no_questions": "{set}：没有可提问的问题（{file} 中没有）。",
    "ev_busy": "{set} 的评测正在进行，这里显示它的进度。",
    "ev_not_admin": (
        "只有评测管理员（FOLIO_EVAL_ADMINS）可以开始评测；已保存的评测结果对所有人开放。"
    ),
    "ev_started": "正在后台评测 {set}。",
    "ev_running": "正在评测 **{set}** … {seconds} 秒",
    "ev_done": "**{set}**：用时 {seconds} 秒完成，已保存为 `{file}`。",
    "ev_failed": "{set} 的评测失败：{error}",
    "ev_no_runs": "**{set}** 还没有保存的评测：请点击“开始评测”。",
    "ev_first_run": "**{set}** 的第一次评测：暂无可比较的结果。",
    "ev_compared": "{current} 的评测与 **{set}** 的上一次评测（{previous}）相比。",
    "ev_answers_setting": "{setting}（答案）",
    "ev_queries": "问题数",
    "ev_ms": "每个问题的毫秒数",
    "ev_new": "新增",
    "ev_gone": "不再测量",
    "ev_col_setting": "设置",
    "ev_col_leg": "检索方式",
    "ev_col_metric": "指标",
    "ev_col_previous": "上一次",
    "ev_col_current": "本次",
    "ev_col_change": "变化",
    "ev_col_value": "数值",
    "ev_col_run": "评测时间",
    # Visual citations.
    "page_found_by_image": "通过页面图像找到（没有文本段落）",
    "notice_vision": "**页面图像检索**：{notice}。",
}

I18N = gr.I18n(en=EN, zh=ZH)


def language(accept_language: str | None) -> Lang:
    """The interface language for an Accept-Language header: Chinese if preferred, else English."""
    best, best_q = "en", -1.0
    for part in (accept_language or "").split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag:
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag.split("-")[0] in ("zh", "en") and q > best_q:
            best, best_q = tag.split("-")[0], q
    return "zh" if best == "zh" else "en"


def t(key: str, lang: Lang, **values: object) -> str:
    """The text for ``key`` in ``lang`` (English when missing), with ``values`` filled in."""
    table = ZH if lang == "zh" else EN
    return table.get(key, EN[key]).format(**values)


def label(key: str) -> I18nData:
    """A fixed label translated by the browser."""
    return I18N(key)
