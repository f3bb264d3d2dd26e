"""Prompt text reduced to features on arrival.

Prompt text is never stored: :func:`elicits_reasoning` turns it into one bit
and the text is dropped with the event. Only a bounded prefix and suffix of a
prompt are examined (:data:`SCAN_CHARS` each), so the cost per event is bounded
whatever the prompt's size.

>>> elicits_reasoning("Explain, step by step, how a B-tree stays balanced.")
True
>>> elicits_reasoning("请一步一步地写出你的推理过程：为什么天空是蓝色的？")
True
>>> elicits_reasoning("Translate 'good morning' into French.")
False
"""

from __future__ import annotations

import re

import re2

__all__ = ["ELICITATION_PATTERNS", "SCAN_CHARS", "elicits_reasoning"]

#: Characters examined at each end of a prompt.
SCAN_CHARS = 2048

#: Phrasings that ask a model to write out its reasoning, by language.
#: Matched case-insensitively against casefolded text. Legitimate prompts use
#: them too (a tutoring app, a CoT benchmark); the signal is their *share* in
#: an account's traffic, combined with other signals, never one prompt.
ELICITATION_PATTERNS: dict[str, tuple[str, ...]] = {
    "en": (
        r"step[\s-]*by[\s-]*step",
        r"chain[\s-]*of[\s-]*thoughts?",
        r"show (?:all |me )?(?:your |the )?(?:work|working|reasoning|thinking|thought process|steps)",
        r"(?:explain|describe|write out|lay out|spell out|detail|narrate) (?:all |in detail )?(?:your|the|each|every) (?:internal |full |complete |detailed |underlying )?(?:reasoning|thinking|thought|steps|logic|derivation)",
        r"internal (?:reasoning|monologue|thought)",
        r"(?:full|complete|detailed|explicit|verbose|exhaustive) (?:reasoning|derivation|rationale|thought process)",
        r"reasoning (?:process|trace|chain|steps)",
        r"think(?:ing)? (?:it )?(?:through|aloud|out loud|carefully)",
        r"let'?s think",
        r"walk (?:me |us )?through",
        r"(?:explain|show) how you (?:arrived|got|reached|derived)",
        r"justify (?:each|every|all) (?:step|claim|decision)",
        r"intermediate (?:steps|reasoning|results)",
        r"(?:explanation|explain|justification|justify|rationale|reasoning) (?:of|for|behind|at) (?:each|every|all(?: of)?(?: the)?) (?:single )?steps?",
        r"(?:detailed|thorough|full|complete) explanation",
        r"scratch ?pad",
        r"(?:grade|score|evaluate|assess) (?:this|the|each) (?:answer|response|solution|essay|output)s? (?:against|using|with|according to) (?:the |a |this )?rubric",
        r"each (?:rubric )?criterion",
        r"before (?:giving|stating|writing) (?:your|the) (?:final )?answer,? (?:explain|reason|think|show)",
    ),
    "es": (r"paso a paso", r"razonamiento", r"cadena de pensamiento", r"muestra (?:tu|todo el) (?:trabajo|proceso)"),
    "pt": (r"passo a passo", r"racioc[ií]nio", r"cadeia de pensamento"),
    "fr": (r"[ée]tape par [ée]tape", r"raisonnement", r"cha[iî]ne de pens[ée]e", r"d[ée]marche compl[eè]te"),
    "de": (r"schritt f[üu]r schritt", r"gedankengang", r"denkprozess", r"begr[üu]nd\w* (?:jeden|jede|alle)", r"l[öo]sungsweg"),
    "it": (r"passo (?:dopo|per) passo", r"ragionamento", r"catena di pensiero"),
    "nl": (r"stap voor stap", r"redenering"),
    "pl": (r"krok po kroku", r"tok rozumowania"),
    "tr": (r"ad[ıi]m ad[ıi]m", r"akıl yürütme"),
    "ru": (r"шаг за шагом", r"пошагов", r"ход (?:рассуждени|мысл)", r"рассуждени", r"цепочк\w* (?:рассуждений|мыслей)"),
    "uk": (r"крок за кроком", r"хід міркувань", r"міркуванн"),
    "zh": (r"一步一步", r"一步步", r"逐步", r"推理过程", r"推理過程", r"思维链", r"思維鏈", r"思考过程", r"思考過程", r"解题过程", r"详细推理", r"详细步骤", r"推导过程"),
    "ja": (r"ステップバイステップ", r"段階的に", r"順を追って", r"推論", r"思考過程", r"考え方を説明"),
    "ko": (r"단계별", r"단계적으로", r"추론 과정", r"사고 과정", r"풀이 과정"),
    "ar": (r"خطوة بخطوة", r"سلسلة التفكير", r"طريقة التفكير"),
    "hi": (r"चरण दर चरण", r"कदम दर कदम", r"तर्क प्रक्रिया"),
    "vi": (r"từng bước", r"quá trình suy luận"),
    "id": (r"langkah demi langkah", r"proses penalaran"),
}

_ELICITATION_RE = re.compile(
    "|".join(f"(?:{p})" for pats in ELICITATION_PATTERNS.values() for p in pats)
)

_META = re.compile(r"[\\\[\](){}|?*+.^$]")


def needs_non_ascii(pattern: str) -> bool:
    """True when every match of ``pattern`` holds a non-ASCII character: its leading literal run (up
    to the first metacharacter, less a character a quantifier makes optional) has one, and it has no
    top-level alternative that could do without it.

    >>> needs_non_ascii("шаг за шагом"), needs_non_ascii("ход (?:рассуждени|мысл)")
    (True, True)
    >>> needs_non_ascii("[ée]tape par [ée]tape"), needs_non_ascii("aü?b"), needs_non_ascii("ü|u")
    (False, False, False)
    """
    depth = 0
    for c in pattern:  # a top-level | (no pattern here has one, but then the run is not required)
        depth += c == "("
        depth -= c == ")"
        if c == "|" and depth == 0:
            return False
    m = _META.search(pattern)
    head = pattern if m is None else pattern[: m.start()]
    if m is not None and pattern[m.start()] in "?*{":
        head = head[:-1]
    return not head.isascii()


#: The patterns an ASCII prompt can match: the others need a non-ASCII character
#: (:func:`needs_non_ascii`), so for ASCII text this smaller alternation finds a
#: match exactly when the whole one does.
_ASCII_RE = re.compile(
    "|".join(f"(?:{p})" for pats in ELICITATION_PATTERNS.values() for p in pats if not needs_non_ascii(p))
)


def re2_ascii(pattern: str) -> str:
    r"""``pattern`` for RE2, with the meaning Python's ``re`` gives it on ASCII text.

    The patterns use ``\s``, ``\w``, literals, classes, groups and repeats. On ASCII text Python's ``\w``
    and RE2's are the same ``[0-9A-Za-z_]``, but Python's ``\s`` also holds ``\v`` and ``\x1c``-``\x1f``,
    which RE2's lacks: they are added, inside a class or as one.

    >>> print(re2_ascii(r"step[\s-]*by\s+step"))
    step[\s\v\x1c-\x1f-]*by[\s\v\x1c-\x1f]+step
    """
    out = []
    in_class = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            pair = pattern[i : i + 2]
            if pair == "\\s":
                out.append(r"\s\v\x1c-\x1f" if in_class else r"[\s\v\x1c-\x1f]")
            else:
                out.append(pair)
            i += 2
            continue
        if c == "[" and not in_class:
            in_class = True
        elif c == "]" and in_class:
            in_class = False
        out.append(c)
        i += 1
    return "".join(out)


#: Escapes of classes that are Unicode in Python's ``re`` on str and ASCII in RE2: \s, \w, \d and their negations.
_UNICODE_CLASSES = ("s", "S", "w", "W", "d", "D")


def re2_superset(pattern: str) -> str:
    r"""A pattern for RE2 that matches, in the UTF-8 of a text, wherever ``pattern`` matches in the text under
    Python's ``re``, and maybe elsewhere too: the character classes whose meanings beyond ASCII differ between
    the two engines (``\s``, ``\w``, ``\d`` and their negations) become any character, and so does a class
    that holds one of them; the word boundaries ``\b`` and ``\B``, which differ too, are dropped. The rest
    (literals, other classes, groups, repeats) means the same in both. A repeat of any character is made
    lazy, which changes where a match ends, not whether there is one: RE2 then stops at the first (a greedy
    one would read on to the end of the text to find where its match ends).

    >>> print(re2_superset(r"step[\s-]*by\s+step"))
    step(?s:.)*?by(?s:.)+?step
    >>> print(re2_superset(r"begr[üu]nd\w* (?:jeden|jede)"))
    begr[üu]nd(?s:.)*? (?:jeden|jede)
    >>> print(re2_superset(r"\bstep\d+[^\W]\B"))
    step(?s:.)+?(?s:.)
    """
    out = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        j = i + 1  # where the token starting at i ends
        if c == "\\":
            j = i + 2
            escape = pattern[i + 1 : j]
            token = "(?s:.)" if escape in _UNICODE_CLASSES else "" if escape in ("b", "B") else pattern[i:j]
        elif c == "[":
            while pattern[j] != "]":  # the patterns' classes hold no "]"
                j += 2 if pattern[j] == "\\" else 1
            j += 1
            body = pattern[i + 1 : j - 1]
            loose = any("\\" + e in body for e in _UNICODE_CLASSES)
            token = "(?s:.)" if loose else pattern[i:j]
        else:
            token = c
        out.append(token)
        if token == "(?s:.)" and pattern[j : j + 1] in ("*", "+") and pattern[j + 1 : j + 2] != "?":
            out.append(pattern[j] + "?")
            j += 1
        i = j
    return "".join(out)


def _re2_program(pattern: str):
    """``pattern`` as a bare RE2 program that only says whether it matches (no capture groups).

    google-re2's ``re2.compile`` wraps the same program in Python that maps UTF-8 offsets back to string
    positions and builds a match object on every search; a yes/no on ASCII bytes needs none of that
    (1.0 µs per prompt instead of 2.3).
    """
    options = re2.Options()
    options.never_capture = True
    program = re2._re2.RE2(pattern.encode(), options)
    if not program.ok():
        raise ValueError(f"RE2 rejects the pattern: {program.error()}")
    return program


#: :data:`_ASCII_RE` compiled by RE2 (google-re2), for ASCII text: an automaton that reads the text once,
#: ten times faster than ``re`` trying 45 alternatives at every position. tests/test_detectors.py checks
#: that it finds what ``re`` finds, on generated matches and on random text.
_ASCII_RE2 = _re2_program(re2_ascii(_ASCII_RE.pattern))
_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED
#: The whole alternation loosened for RE2 (:func:`re2_superset`): on text that is not ASCII, a text it does
#: not find in is decided without Python's ``re``, which tries every alternative at every position (about
#: 80,000 instructions for a prompt of a few hundred characters, against a few thousand).
_ANY_RE2 = _re2_program(re2_superset(_ELICITATION_RE.pattern))


def re2_finds(text: str) -> bool:
    """True when :data:`_ASCII_RE2` matches somewhere in ``text``, which must be ASCII."""
    data = text.encode("ascii")
    return _ASCII_RE2.Match(_UNANCHORED, data, 0, len(data))[0][0] >= 0


def elicits_reasoning(text: str | None) -> bool:
    """True when ``text`` asks the model to write out its reasoning.

    Examines at most :data:`SCAN_CHARS` characters at each end of the text.
    """
    if not text:
        return False
    if len(text) > 2 * SCAN_CHARS:
        text = text[:SCAN_CHARS] + "\n" + text[-SCAN_CHARS:]
    low = text.casefold()
    if low.isascii():
        return re2_finds(low)
    try:
        data = low.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: not UTF-8
        return _ELICITATION_RE.search(low) is not None
    if _ANY_RE2.Match(_UNANCHORED, data, 0, len(data))[0][0] < 0:
        return False  # the looser pattern finds nothing, so the exact one cannot
    return _ELICITATION_RE.search(low) is not None
