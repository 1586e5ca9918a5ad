"""Find the final answer in a model output (the extraction half of `w2s_lib.grading.answers`).

The outputs we grade come in a few house styles, all seen in the paper's release, plus the free-form styles of
instruct models:

    GSM8K    "...\n#### 72"                                  (the weak model's fine-tuning format)
    MATH     "... $x=\\boxed{6}$. The answer is: 6"           (boxed, then "The answer is:")
    Olympic  "... The final answer is $\\boxed{3}$"
    instruct "Answer: $\\frac{3}{4}$", "**Answer:** 24", "Final Answer: The largest value is 34."
    prose    "Therefore $x \\geq 5$ is the solution."         (no marker: the concluding sentence)
    any      a bare answer, e.g. "72" or "\\frac{1}{2}"

Precedence: every marker (`####`, "answer is" / "Answer:", the last `\\boxed{}` / `\\fbox{}`) is located, and
the one that starts *last* in the text wins, because a model states its final answer at the end. When the text
after a marker is a sentence ("The largest $n$ is 34."), the value after its last "is"/"are"/"=" is taken, else
its last math span, else its only number. Several boxes joined only by "and", commas or `x =` form one list
answer (`\\boxed{-2} and \\boxed{1}` -> `-2, 1`). Without any marker, a complete concluding sentence
("Therefore/Thus/So ...", or a short one-line reply) is read the same way; an output that stops mid-sentence
has no answer. Text after a runaway "Question:" or a chat-template token (`<|im_start|>`) is ignored.

Every step is linear in the input (brace matching is one pass), so extraction time is bounded by input size.
"""
from __future__ import annotations

import re

# A model that keeps generating starts a new "Question:" block (or a new chat turn); that is not its answer.
_RUNAWAY = re.compile(r"Question\s*:|<\|im_start\|>|<\|im_end\|>|<\|eot_id\|>|<\|endoftext\|>")
_HASHES = re.compile(r"####[ \t]*([^\n]*)")
# "The answer is: 24", "The final answer is $\boxed{3}$", "Answer: $5$", "**Final Answer:** 7", "Answer \[ 9 \]"
_ANSWER_MARK = re.compile(
    r"\b(?:final[ \t]+)?answers?(?:\s|\*\*)*?(?:(?:is|are)\b[ \t]*:?|:|：|(?=\$|\\\(|\\\[))(?:[ \t]|\*\*)*",
    re.IGNORECASE,
)
# Prose rules (sentences, math spans) run on at most this many characters: the end of an output, or the start
# of the text after a marker. Everything else is a linear scan, so extraction time is bounded by input size.
WINDOW = 3000
_BOX = re.compile(r"\\(?:boxed|fbox)\b")
# Prose words (two letters or more, not a LaTeX command): a bare answer has few of them.
_PROSE_WORD = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")
# Math spans: $$..$$, $..$, \(..\), \[..\] (a `\$` inside is currency, not a delimiter)
_MATH = re.compile(r"\$\$(.+?)\$\$|(?<!\\)\$(.+?)(?<!\\)\$|\\\((.+?)\\\)|\\\[(.+?)\\\]", re.DOTALL)
_CUE = re.compile(r"^\W*(?:therefore|thus|hence|so|in conclusion|in summary|finally|overall|consequently|"
                  r"we (?:find|get|obtain|conclude|have)|this gives|the (?:answer|result|solution))\b", re.I)
_FILLER = re.compile(r"^\W*(?:i hope|hope (?:this|it)|let me know|feel free|note:|\[note)", re.I)
_VERB = re.compile(r"\s(?:is|are|was|were|equals|be|becomes)\s|=|:(?!\d)")
_NUMBER = re.compile(r"(?<![\w.^_])-?\d[\d,]*(?:\.\d+)?(?![\w.]*\d)")
_CLOCK = re.compile(r"\b\d{1,2}\s*:\s*\d{2}(?:\s*[ap]\.?\s?m\.?)?(?!\d)", re.I)
_GLUE = re.compile(r"(?:\$|\\[()]|\\quad|\\text\{\s*(?:and|or)\s*\}|\band\b|\bor\b|[\s,;]|"
                   r"[A-Za-z](?:_\{?\w+\}?)?\s*=)*", re.I)


def _brace_pairs(text: str) -> dict[int, int]:
    """Index of every unescaped '{' -> index of its matching '}', in one pass (unbalanced ones are left out)."""
    stack, pairs = [], {}
    for i, c in enumerate(text):
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            stack.append(i)
        elif c == "}" and (i == 0 or text[i - 1] != "\\") and stack:
            pairs[stack.pop()] = i
    return pairs


def boxed_spans(text: str) -> list[tuple[int, str]]:
    """(start, content) of every complete `\\boxed{...}` / `\\fbox{...}` (also `\\boxed 5`) in text."""
    return [(start, content) for start, _, content in _boxes(text)]


def _boxes(text: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of every complete box; one pass for the braces, so linear in len(text)."""
    spans = []
    pairs = None
    for m in _BOX.finditer(text):
        j = m.end()
        while j < len(text) and text[j] == " ":
            j += 1
        if j < len(text) and text[j] == "{":
            if pairs is None:
                pairs = _brace_pairs(text)
            end = pairs.get(j)
            if end is not None:
                spans.append((m.start(), end + 1, text[j + 1 : end]))
        elif m.end() < len(text) and text[m.end()] == " ":
            # "\boxed 5": the argument is the next token
            tok = re.match(r"\s*([^\s$]+)", text[m.end() : m.end() + 200])
            if tok:
                spans.append((m.start(), m.end() + tok.end(), tok.group(1)))
    return spans


def last_boxed(text: str) -> str | None:
    """Content of the last complete \\boxed{}/\\fbox{} in text, or None."""
    spans = boxed_spans(text)
    return spans[-1][1] if spans else None


def final_boxes(text: str) -> tuple[int, str] | None:
    """(start, answer) of the last box, or of the last run of boxes joined only by "and", commas, `$` or `x =`
    (`\\boxed{-2} and \\boxed{1}` -> "-2, 1"; identical boxes count once). None without a box."""
    spans = _boxes(text)
    if not spans:
        return None
    run = [spans[-1]]
    for k in range(len(spans) - 2, -1, -1):
        gap = text[spans[k][1] : run[0][0]]
        if len(gap) > 40 or len(run) >= 20 or _GLUE.fullmatch(gap) is None:
            break
        run.insert(0, spans[k])
    items = [c.strip() for _, _, c in run]
    if len(set(items)) == 1:
        return run[-1][0], items[-1]
    return run[0][0], ", ".join(items)


def _mask_math(text: str) -> str:
    """text with every math span's inside replaced by '#' (same length), so prose rules never look inside."""
    return _MATH.sub(lambda m: m.group(0)[0] + "#" * (len(m.group(0)) - 2) + m.group(0)[-1], text)


def _sentences(text: str) -> list[str]:
    """Split prose into sentences at '.', '!' or '?' + space (or end), never inside a math span or a number."""
    masked = _mask_math(text)
    out, start = [], 0
    for m in re.finditer(r"(?<!\d\.)(?<![ap]\.[ap])[.!?](?=\s|$)", masked):
        if re.search(r"\b[ap]\.?m$", masked[start : m.start()], re.I) and m.end() < len(masked):
            continue  # "3:45 p.m. today"
        out.append(text[start : m.end()])
        start = m.end()
    if text[start:].strip():
        out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


def _math_spans(text: str) -> list[tuple[int, str]]:
    return [(m.start(), next(g for g in m.groups() if g is not None).strip()) for m in _MATH.finditer(text)]


def _prose_words(text: str) -> int:
    outside = _MATH.sub(" ", text)
    return len(_PROSE_WORD.findall(re.sub(r"\\text\{[^{}]*\}", " ", outside)))


def _is_prose(text: str) -> bool:
    """A sentence rather than an answer: words outside math next to a math span, or text that starts with a
    word and has two or more ("The largest $n$ is 34", "So $x = 3$"); not "16 pounds" or "5.5 hours per day"."""
    words = _prose_words(text)
    if not words:
        return False
    if _MATH.search(text):
        return True
    lead = re.sub(r"^[\s*_#>:-]+", "", re.sub(r"\\text\{[^{}]*\}", " ", text))
    return words >= 2 and bool(re.match(r"[A-Za-z]{2,}", lead)) or words >= 4


def _statement_value(sentence: str) -> str:
    """The answer a sentence states: "The largest $n$ is 34." -> "34", "Thus $x \\ge 2$." -> "x \\ge 2"; "" if
    it states none."""
    s = sentence.strip().rstrip(".!?").strip()
    if not _is_prose(s):
        return _strip_delims(s)
    masked = _mask_math(s)
    verbs = list(_VERB.finditer(masked))
    if verbs:
        rest = s[verbs[-1].end() :]
        spans = _math_spans(rest)
        if spans:
            return spans[-1][1]
        if _prose_words(rest) <= 1 and re.search(r"[^A-Za-z\s]", rest):
            return _strip_delims(rest.strip())
        clocks = _CLOCK.findall(rest)
        nums = _NUMBER.findall(_mask_math(rest))
        if len(clocks) == 1:
            return clocks[0]
        if len(nums) == 1 and not clocks:
            return nums[0]
    spans = _math_spans(s)
    if spans:
        return spans[-1][1]
    clocks = _CLOCK.findall(masked)
    if len(clocks) == 1:
        return clocks[0]
    nums = _NUMBER.findall(masked)
    return nums[0] if len(nums) == 1 else ""


def _trim_end(ans: str) -> str:
    """Drop sentence punctuation at the end ("5." -> "5", "(1,2)," -> "(1,2)"), but keep an ellipsis."""
    return re.sub(r"(?:\s|(?<!\.)\.|[,;])+$", "", ans.strip()) if not ans.rstrip().endswith("..") else ans.strip()


def _strip_delims(ans: str) -> str:
    """A math span or `$...$` around the whole answer removed, and its final punctuation."""
    ans = _trim_end(ans)
    if _MATH.fullmatch(ans):
        return _trim_end(_math_spans(ans)[0][1])
    if ans.startswith("$") and ans.endswith("$") and not ans.endswith("\\$") and len(ans) >= 2:
        ans = ans.strip("$").strip()
    return _trim_end(ans)


def _clean_tail(ans: str) -> str:
    """The answer in the text after a marker: its box, else its first sentence (read as a statement when it
    is prose), without surrounding `$` and a final period."""
    ans = ans.replace("</s>", "").strip()[:WINDOW]
    box = final_boxes(ans)
    if box is not None:
        return box[1].strip()
    sentences = _sentences(ans)
    first = sentences[0] if sentences else ""
    return (_statement_value(first) or _strip_delims(first)) if _is_prose(first) else _strip_delims(first)


def _marker_tail(text: str, m: re.Match) -> str:
    """The text an answer marker introduces: the rest of its line, or the next non-empty line(s) when the line
    is empty (a display `\\[ ... \\]` is read to its end)."""
    eol = text.find("\n", m.end())
    tail = text[m.end() : eol if eol >= 0 else len(text)][:WINDOW]
    if tail.strip():
        return tail
    rest = text[m.end() : m.end() + WINDOW].lstrip()
    if rest.startswith("\\[") or rest.startswith("$$"):
        close = rest.find("\\]" if rest.startswith("\\[") else "$$", 2)
        if close >= 0:
            return rest[: close + 2]
    lines = [ln for ln in rest.split("\n") if ln.strip()]
    return lines[0] if lines else ""


def _is_bare_answer(text: str) -> bool:
    """A string with no answer marker is taken as a bare answer only if it looks like one: one line, little prose."""
    if text and not re.search(r"\s", text) and not _PROSE_WORD.search(text[:200]):
        return True  # one token (a number of any length, a formula without spaces)
    if not text or "\n" in text or len(text) > 200:
        return False
    return bool(_MATH.fullmatch(text)) or _prose_words(text) <= 3 and not _is_prose(text)


def _concluding_statement(text: str) -> str:
    """Without any marker: the value stated by a complete last sentence that concludes ("Therefore ...",
    "So ...") or that is a short one-line reply. "" for an output that stops mid-sentence."""
    stripped = text.rstrip()[-WINDOW:]
    short_reply = "\n" not in stripped and len(stripped) <= 400
    if not re.search(r"[.!]$|\$$|\\[)\]]$", stripped) and not (short_reply and _prose_words(stripped) <= 3):
        return ""
    sentences = [s for s in _sentences(stripped) if not _FILLER.match(s)]
    if not sentences:
        return ""
    last = sentences[-1]
    if not (_CUE.match(last) or short_reply):
        return ""
    return _statement_value(last)


def _real_marker(text: str, m: re.Match) -> bool:
    """"answer is" / "Answer:" anywhere; a bare "Answer $9$" only at the start of a line (not "the answer $x$
    satisfies ...")."""
    if re.search(r"(?:is|are)\b|[:：]", m.group(0), re.IGNORECASE):
        return True
    line_start = text.rfind("\n", 0, m.start()) + 1
    return not text[line_start : m.start()].strip(" \t*#>")


def truncate_runaway(response: str) -> str:
    """The response up to a runaway 'Question:' or a chat-template token (the model writing the next turn)."""
    m = _RUNAWAY.search(response)
    return response[: m.start()] if m else response


def extract_answer(response: str) -> str:
    """The final answer of a full model output or of a bare answer; "" when there is none.

    Handles `#### N`, `The answer is: X`, `Answer: X`, `Final Answer: <sentence>`, `The final answer is
    $\\boxed{X}$`, the last `\\boxed{...}` / `\\fbox{...}` (nested braces; a run of boxes joined by "and" is a
    list), a concluding sentence, and ignores text after a runaway "Question:". The marker that appears last
    wins. A string without any marker is returned stripped if it looks like a bare answer (one line, at most
    three prose words), else the value its concluding sentence states, else "".
    """
    if not response:
        return ""
    text = truncate_runaway(response.replace("</s>", ""))
    candidates: list[tuple[int, str]] = []  # (position, answer)
    m = None
    for m in _HASHES.finditer(text):
        pass
    if m is not None:
        candidates.append((m.start(), _clean_tail(m.group(1))))
    m = None
    for found in _ANSWER_MARK.finditer(text):  # the last marker, even when two share a line
        if _real_marker(text, found):
            m = found
    if m is not None:
        candidates.append((m.start(), _clean_tail(_marker_tail(text, m))))
    box = final_boxes(text)
    if box is not None:
        candidates.append(box)
    if candidates:
        # The last marker wins; an "answer is" line that contains the last box starts earlier but gives the
        # same content, because _clean_tail prefers the box on that line.
        return max(candidates, key=lambda c: c[0])[1]
    bare = text.strip()
    if _is_bare_answer(bare):
        return _strip_delims(bare)
    return _concluding_statement(text) or (_strip_delims(bare) if "\n" not in bare and len(bare) <= 40
                                           and not _MATH.search(bare) and _prose_words(bare) <= 3 else "")
